"""Quantized MoE (``fibench run moe --quant fp8|fp8-block|mxfp4``): quantized inputs, the
FLOP/byte model's weight bytes, the dequantizing reference and its parity.

The three modes are those of ``flashinfer.fused_moe.cutlass_fused_moe`` on SM90 (FlashInfer
0.6.13 fused_moe/core.py; kernel math read in csrc/fused_moe/cutlass_backend/
cutlass_fused_moe_kernels.cuh, ``doActivationKernel``, ``BlockScaleFC1/FC2``):

- ``fp8``: fp8 e4m3 activations and weights, one scale per expert weight and static
  per-tensor activation scales. The input is quantized before the call (serving engines fuse
  that into the previous RMSNorm). GEMM1 = fp32 accumulation x ``fc1_dequant[e]`` (= input
  scale x weight scale) stored in bf16; SwiGLU in fp32; times ``fc2_quant`` (1 / GEMM2
  input scale), rounded to fp8 (saturating); GEMM2 x ``fc2_dequant[e]``. The GEMM2 input
  scale is calibrated on the case's own tokens (amax of the intermediate / 448), as a
  static calibration would.
- ``fp8-block``: DeepSeek-V3's format (``use_deepseek_fp8_block_scale``): fp8 weights with
  one float32 scale per 128x128 block; the kernel quantizes its bf16 input and the bf16
  SwiGLU output per token and 128 columns (:func:`fibench.suites.quant.fp8_group_quantize`).
- ``mxfp4``: MXFP4 weights, bf16 activations (``use_w4_group_scaling``, the SM90 mixed-input
  GEMM; gpt-oss-120b). That GEMM needs hidden and intermediate to be multiples of 128; like
  vLLM's SM90 FlashInfer MXFP4 path, the backend zero-pads them (gpt-oss: 2880 -> 2944).
  The SwiGLU is the suite's plain one (gpt-oss's clamped variant with biases is not modelled).

The reference (the ``torch`` backend) dequantizes the very same quantized tensors and
quantizes activations where and as the kernel does, rounding to bf16 where the kernel
stores bf16; parity against it isolates the kernel's math. It also returns the output of the
same model with the original bf16 weights (``out_unquantized``, computed once, untimed), so
each row also shows the quantization error itself.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from fibench.errors import UsageError
from fibench.suites import quant
from fibench.suites.base import Case, Inputs, Launch
from fibench.trace.markers import op_range

QUANT_MODES = ("bf16", "fp8", "fp8-block", "mxfp4")
MXFP4_ALIGN = 128
"""Multiple of hidden and intermediate the SM90 mixed-input MoE GEMM needs (its scales are
interleaved four 32-element groups at a time: FlashInfer's
``interleave_moe_scales_for_sm90_mixed_gemm`` refuses K/32 not divisible by 4)."""
KERNEL_TOLERANCE: dict[str, tuple[float, float, str]] = {
    "fp8": (8e-3, 1e-2, "hit-ratio"),
    "fp8-block": (8e-3, 1e-2, "hit-ratio"),
    "mxfp4": (8e-3, 1e-2, "allclose"),
}
"""Kernel-math parity of ``out`` (bf16) against the dequantizing reference: the bf16 row of
DESIGN.md's table. Where the kernel re-quantizes its intermediate activations to fp8, an
accumulation-order difference can move a value across an fp8 rounding boundary (one fp8
step is 6-12% of the value), so those modes use the hit-ratio rule; MXFP4 x bf16 keeps
bf16 activations and exactly representable weights: allclose."""
QUANT_ERROR_TOLERANCE: dict[str, tuple[float, float, str]] = {
    "fp8": (1e-1, 2e-1, "hit-ratio"),
    "fp8-block": (1e-1, 2e-1, "hit-ratio"),
    "mxfp4": (1e-1, 2e-1, "hit-ratio"),
}
"""Quantization error (output vs the unquantized model): DESIGN.md's fp8 and mxfp4 rows."""


def padded(n: int, mode: str) -> int:
    """The size the kernel's weight layout uses for a hidden/intermediate size ``n``."""
    return -(-n // MXFP4_ALIGN) * MXFP4_ALIGN if mode == "mxfp4" else n


def check_quant_point(params: Mapping[str, Any]) -> None:
    """Shape limits of a quantized mode (hidden and intermediate).

    Raises:
        UsageError: fp8-block needs multiples of 128 (its blocks); mxfp4 multiples of 32
            (its scale blocks; padding to 128 is the backend's).
    """
    mode, h, inter = params.get("quant", "bf16"), params["hidden"], params["intermediate"]
    need = {"fp8-block": quant.BLOCK, "mxfp4": quant.MX_BLOCK}.get(mode)
    if need and (h % need or inter % need):
        raise UsageError(f"--quant {mode} needs hidden and intermediate divisible by {need}, got {h} and {inter}")


def weight_bytes_per_expert(mode: str, hidden: int, inter: int, elem: int) -> int:
    """Bytes of one expert's GEMM1 + GEMM2 weights as the kernel reads them, scales counted:
    bf16 ``3*H*I*elem``; fp8 ``3*H*I`` + two float32 per-expert scales; fp8-block ``3*H*I``
    + a float32 per 128x128 block; mxfp4 half a byte per element + one E8M0 byte per 32,
    on the padded layout."""
    if mode == "fp8":
        return 3 * hidden * inter + 2 * 4
    if mode == "fp8-block":
        return 3 * hidden * inter + 3 * (hidden // quant.BLOCK) * (inter // quant.BLOCK) * 4
    if mode == "mxfp4":
        hp, ip = padded(hidden, mode), padded(inter, mode)
        return 3 * hp * ip // 2 + 3 * hp * ip // quant.MX_BLOCK
    return 3 * hidden * inter * elem


def input_bytes(mode: str, elem: int) -> tuple[int, int]:
    """(bytes per input element, bytes of per-call scalar scales): fp8 reads a
    pre-quantized input and two float32 scalars (GEMM2 input scale, input scale)."""
    return (1, 8) if mode == "fp8" else (elem, 0)


def _per_expert(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], w: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn`` applied to each expert's weight (bounded temporaries: a whole gpt-oss or
    DeepSeek weight stack at once would need tens of GB of int64/fp32 scratch), stacked."""
    parts = [fn(w[e]) for e in range(w.shape[0])]
    return torch.stack([q for q, _ in parts]), torch.stack([s for _, s in parts])


def _fp8_gemm1(t: Mapping[str, torch.Tensor], e: int, tok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """fp8 GEMM1 of expert ``e`` for rows ``tok``: fp32 x fc1_dequant[e], stored in ``dtype``
    (weights from ``w1_deq`` when given, else the fp8 codes ``w1_q``)."""
    w1 = t["w1_deq"][e] if "w1_deq" in t else t["w1_q"][e].float()
    return ((t["x_fp8"][tok].float() @ w1.t()) * t["fc1_dequant"][e]).to(dtype).float()


def _swiglu(h: torch.Tensor, inter: int) -> torch.Tensor:
    """silu(gate) * up in fp32; gate = rows [inter, 2*inter) of GEMM1 (the kernel's
    ``gemm_result[elem + inter]``), up = rows [0, inter)."""
    return F.silu(h[:, inter:]) * h[:, :inter]


def quantize_moe(mode: str, tensors: Mapping[str, torch.Tensor], inter: int, dtype: torch.dtype
                 ) -> dict[str, torch.Tensor]:
    """The quantized tensors of a case, from its bf16 ``x``, ``w1``, ``w2`` (and routing).

    Returns (E = local experts, T tokens, H hidden, I intermediate):
        fp8: x_fp8 [T, H] e4m3, a1_scale [] f32, w1_q [E, 2I, H] / w2_q [E, H, I] e4m3,
            fc1_dequant [E] f32, fc2_quant [] f32, fc2_dequant [E] f32.
        fp8-block: w1_q, w2_q e4m3 and w1_scale [E, 2I/128, H/128], w2_scale
            [E, H/128, I/128] f32.
        mxfp4: w1_q [E, 2I, H/2] / w2_q [E, H, I/2] uint8 (E2M1 pairs), w1_scale
            [E, 2I, H/32] / w2_scale [E, H, I/32] uint8 (E8M0).
    """
    w1, w2 = tensors["w1"], tensors["w2"]
    if mode in ("fp8-block", "mxfp4"):
        fn = quant.fp8_block_quantize if mode == "fp8-block" else quant.mxfp4_quantize
        (w1q, w1s), (w2q, w2s) = _per_expert(fn, w1), _per_expert(fn, w2)
        return {"w1_q": w1q, "w1_scale": w1s, "w2_q": w2q, "w2_scale": w2s}
    x_fp8, a1 = quant.fp8_per_tensor(tensors["x"])
    (w1q, w1s), (w2q, w2s) = _per_expert(quant.fp8_per_tensor, w1), _per_expert(quant.fp8_per_tensor, w2)
    out = {"x_fp8": x_fp8, "a1_scale": a1.reshape(()), "w1_q": w1q, "w2_q": w2q, "fc1_dequant": a1 * w1s}
    amax = torch.zeros((), device=x_fp8.device)
    ids = tensors["topk_ids"]
    for e in range(w1.shape[0]):  # static GEMM2 input scale calibrated on this case's tokens
        tok = torch.where(ids == e)[0]
        if tok.numel():
            amax = torch.maximum(amax, _swiglu(_fp8_gemm1(out, e, tok, dtype), inter).abs().max())
    a2 = torch.where(amax > 0, amax / quant.FP8_MAX, torch.ones_like(amax)).float()
    out.update(fc2_quant=(1.0 / a2).reshape(()), fc2_dequant=a2 * w2s)
    return out


ExpertFn = Callable[[Mapping[str, torch.Tensor], int, torch.Tensor], torch.Tensor]


def dequantized_weights(mode: str, t: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 expert weights as the kernel's MMA consumes them, computed once (untimed) for
    the reference, one expert at a time: fp8 codes (the kernel applies the per-expert scales
    after each GEMM), block-dequantized fp8, dequantized MXFP4.

    Returns:
        {"w1_deq": [E, 2I, H], "w2_deq": [E, H, I]} float32.
    """
    def one(e: int, w: str) -> torch.Tensor:
        q = t[f"{w}_q"][e]
        if mode == "fp8":
            return q.float()
        if mode == "fp8-block":
            return quant.fp8_block_dequantize(q, t[f"{w}_scale"][e])
        return quant.mxfp4_dequantize(q, t[f"{w}_scale"][e])

    out = {}
    for w in ("w1", "w2"):
        first = one(0, w)
        full = torch.empty(t[f"{w}_q"].shape[0], *first.shape, dtype=torch.float32, device=first.device)
        for e in range(full.shape[0]):
            full[e] = first if e == 0 else one(e, w)
        out[f"{w}_deq"] = full
    return out


def reference_expert(mode: str, inter: int, dtype: torch.dtype) -> ExpertFn:
    """Expert ``e``'s output rows (fp32 [n, H], before the routing weight) for token rows
    ``tok`` under ``mode``, on :func:`dequantized_weights` (``w1_deq``, ``w2_deq``),
    quantizing activations where the kernel does and rounding where it stores (see the module
    docstring). Steps are marked gemm1 / activation / gemm2."""
    def fp8(t: Mapping[str, torch.Tensor], e: int, tok: torch.Tensor) -> torch.Tensor:
        with op_range("gemm1"):
            h = _fp8_gemm1(t, e, tok, dtype)
        with op_range("activation"):
            a = quant.fp8_scale_quantize(_swiglu(h, inter), t["fc2_quant"]).float()
        with op_range("gemm2"):
            return (a @ t["w2_deq"][e].t()) * t["fc2_dequant"][e]

    def fp8_block(t: Mapping[str, torch.Tensor], e: int, tok: torch.Tensor) -> torch.Tensor:
        with op_range("gemm1"):
            x = quant.fp8_group_dequantize(*quant.fp8_group_quantize(t["x"][tok]))
            h = (x @ t["w1_deq"][e].t()).to(dtype).float()
        with op_range("activation"):
            a = quant.fp8_group_dequantize(*quant.fp8_group_quantize(_swiglu(h, inter).to(dtype)))
        with op_range("gemm2"):
            return a @ t["w2_deq"][e].t()

    if mode == "mxfp4":  # bf16 activations against the dequantized weights
        return dense_expert(inter, dtype, w1="w1_deq", w2="w2_deq")
    return {"fp8": fp8, "fp8-block": fp8_block}[mode]


def dense_expert(inter: int, dtype: torch.dtype, *, w1: str = "w1", w2: str = "w2") -> ExpertFn:
    """Expert ``e``'s fp32 output rows for token rows ``tok`` with unquantized activations
    against the weights ``t[w1]`` [E, 2*inter, H] and ``t[w2]`` [E, H, inter] (the case
    dtype, or fp32 dequantized ones), rounding to ``dtype`` where the kernel stores: after
    GEMM1 and after the activation. Steps are marked gemm1 / activation / gemm2."""
    def fn(t: Mapping[str, torch.Tensor], e: int, tok: torch.Tensor) -> torch.Tensor:
        with op_range("gemm1"):
            h = (t["x"][tok].float() @ t[w1][e].float().t()).to(dtype).float()
        with op_range("activation"):
            a = _swiglu(h, inter).to(dtype).float()
        with op_range("gemm2"):
            return a @ t[w2][e].float().t()
    return fn


_ROUTING = ("topk_ids", "topk_weights")
REFERENCE_READS: dict[str, tuple[str, ...]] = {
    "fp8": ("x_fp8", *_ROUTING, "w1_deq", "w2_deq", "fc1_dequant", "fc2_quant", "fc2_dequant"),
    "fp8-block": ("x", *_ROUTING, "w1_deq", "w2_deq"),
    "mxfp4": ("x", *_ROUTING, "w1_deq", "w2_deq"),
}
"""What the reference reads (its dequantized weights included)."""
KERNEL_READS: dict[str, tuple[str, ...]] = {
    "fp8": ("x_fp8", *_ROUTING, "w1_q", "w2_q", "fc1_dequant", "fc2_quant", "fc2_dequant", "a1_scale"),
    "fp8-block": ("x", *_ROUTING, "w1_q", "w1_scale", "w2_q", "w2_scale"),
    "mxfp4": ("x", *_ROUTING, "w1_q", "w1_scale", "w2_q", "w2_scale"),
}
"""What each mode's kernel reads."""


def moe_quant_parity(mode: str, candidate: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]
                     ) -> quant.QuantParity:
    """Parity of a quantized MoE output: kernel math under :data:`KERNEL_TOLERANCE`,
    quantization error under :data:`QUANT_ERROR_TOLERANCE` (:func:`fibench.suites.quant.quant_parity`)."""
    return quant.quant_parity(candidate, reference, kernel_tolerance=KERNEL_TOLERANCE[mode],
                              error_tolerance=QUANT_ERROR_TOLERANCE[mode])


def pad_mxfp4(packed: torch.Tensor, scales: torch.Tensor, *, halves: int, rows: int, k: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad MXFP4 expert weights to ``rows`` rows per half and ``k`` columns.

    Args:
        packed: [E, halves*r, kk/2] uint8; scales: [E, halves*r, kk/32] uint8.
        halves: 2 for GEMM1's stacked [up; gate] rows (each half padded on its own), else 1.

    Returns:
        ([E, halves*rows, k/2], [E, halves*rows, k/32]); padded codes are 0 (+0.0), padded
        scales 127 (2^0), so the padding dequantizes to zeros.
    """
    e, r_all, kk2 = packed.shape
    r = r_all // halves
    p = packed.new_zeros(e, halves, rows, k // 2)
    p[:, :, :r, :kk2] = packed.reshape(e, halves, r, kk2)
    s = scales.new_full((e, halves, rows, k // quant.MX_BLOCK), quant.E8M0_BIAS)
    s[:, :, :r, :scales.shape[-1]] = scales.reshape(e, halves, r, -1)
    return p.reshape(e, halves * rows, k // 2), s.reshape(e, halves * rows, -1)


def cutlass_quant_launch(case: Case, inputs: Inputs) -> Launch:
    """A :class:`~fibench.suites.base.Launch` of ``cutlass_fused_moe`` in ``case``'s quant
    mode (SM90), autotuned on the first call. MXFP4 weights are padded and interleaved for
    the SM90 mixed-input GEMM here (weight layout, outside timing); the timed call then
    copies x into a zero-padded buffer when padding was needed (as vLLM pads per call)."""
    from flashinfer import fused_moe
    from flashinfer.autotuner import autotune

    mode, ep, dtype = case.params["quant"], case.params["ep"], case.torch_dtype
    t = inputs.tensors
    h, inter = case.params["hidden"], case.params["intermediate"]
    hp, ip = padded(h, mode), padded(inter, mode)
    flags: dict[str, bool] = {}
    reads = {k: t[k] for k in KERNEL_READS[mode]}
    if mode == "fp8-block":
        flags["use_deepseek_fp8_block_scale"] = True
    elif mode == "mxfp4":
        flags["use_w4_group_scaling"] = True
        w1, s1 = pad_mxfp4(t["w1_q"], t["w1_scale"], halves=2, rows=ip, k=hp)
        w2, s2 = pad_mxfp4(t["w2_q"], t["w2_scale"], halves=1, rows=hp, k=ip)
        reads.update(
            w1_q=fused_moe.interleave_moe_weights_for_sm90_mixed_gemm(w1, "fp4"),
            w2_q=fused_moe.interleave_moe_weights_for_sm90_mixed_gemm(w2, "fp4"),
            w1_scale=fused_moe.interleave_moe_scales_for_sm90_mixed_gemm(s1, group_size=quant.MX_BLOCK).view(torch.int32),
            w2_scale=fused_moe.interleave_moe_scales_for_sm90_mixed_gemm(s2, group_size=quant.MX_BLOCK).view(torch.int32))
    x_key = "x_fp8" if mode == "fp8" else "x"
    scale_keys = (("fc1_dequant", "fc2_quant", "fc2_dequant", "a1_scale") if mode == "fp8"
                  else ("w1_scale", "w2_scale"))

    def bind(r: Mapping[str, torch.Tensor]):
        tokens = r[x_key].shape[0]
        xp = torch.zeros(tokens, hp, dtype=dtype, device=r[x_key].device) if hp != h else None
        out = torch.empty(tokens, hp, dtype=dtype, device=r[x_key].device)

        def call() -> dict[str, torch.Tensor]:
            x = r[x_key]
            if xp is not None:
                with op_range("pad"):
                    xp[:, :h].copy_(x)
                x = xp
            fused_moe.cutlass_fused_moe(x, r["topk_ids"], r["topk_weights"], r["w1_q"], r["w2_q"], dtype,
                                        quant_scales=[r[k] for k in scale_keys], ep_size=ep, ep_rank=0,
                                        output=out, **flags)
            return {"out": out[:, :h] if hp != h else out}
        return call

    pad_note = f"; hidden/intermediate zero-padded to {hp}/{ip} (x copied per call)" if (hp, ip) != (h, inter) else ""
    return Launch(reads, bind, first_call_context=lambda: autotune(True),
                      detail=f"cutlass_fused_moe --quant {mode} ({', '.join(flags) or 'fp8 per-tensor scales'}), "
                             f"ep_size={ep} ep_rank=0, autotuned first call{pad_note}")
