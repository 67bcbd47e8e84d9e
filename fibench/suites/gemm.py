"""GEMM suite: the dense projections of a transformer layer, ``out = a @ b^T``; sizes = M (tokens).

Shapes: a [M, K] activations, b [N, K] weights (nn.Linear layout), out [M, N] in the case
dtype (bf16). N and K come from the preset's projection (``--proj``, swept):
qkv (N = (q_heads + 2 kv_heads) head_dim, K = hidden), o (N = hidden, K = q_heads head_dim),
gate_up (N = 2 ffn_intermediate, K = hidden), down (N = hidden, K = ffn_intermediate); or
``--proj custom --n N --k K``.

Ops (operand formats):
- bf16: bf16 a and b.
- fp8: fp8 e4m3 a and b with one float32 scale each (per-tensor; a is quantized before the
  call, as engines fuse it into the previous op).
- fp8-block: DeepSeek-V3's format: bf16 a (the kernel quantizes it per token x 128
  columns), fp8 b with one float32 scale per 128x128 block (K a multiple of 128).

The ``torch`` reference multiplies the very same (dequantized) operands in fp32 (TF32 off)
and rounds once; for the fp8 ops it also returns the product of the original bf16 operands,
so rows show the quantization error beside the kernel's parity (``quant_err_*``).
SOL %: FLOP against the measured GEMM ceiling of the row's math: bf16 rows against the bf16
ceiling, fp8 and fp8-block rows against the fp8 e4m3 one (:mod:`fibench.measure.ceilings`).

Accumulation differs between the fp8 kernels, and parity shows it: FlashInfer's ``bmm_fp8``
sets cuBLASLt's ``CUBLASLT_MATMUL_DESC_FAST_ACCUM`` (flashinfer/gemm/bmm_fp8.cuh, v0.6.13),
torch's ``_scaled_mm`` leaves fast accumulation off by default (``use_fast_accum=False``);
the SM90 block-scale GEMM promotes its partial sums to fp32 every 128 K elements (DeepSeek-V3
technical report, arXiv:2412.19437, section 3.3.2).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F

from fibench.errors import UsageError
from fibench.suites import quant
from fibench.suites.base import (Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Suite, Work, fp32_matmul,
                                 op_only_reason)
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

OPS = ("bf16", "fp8", "fp8-block")
PROJECTIONS = ("qkv", "o", "gate_up", "down")
FP8_TOLERANCE = {"fp8": (8e-3, 1e-2, "allclose"), "fp8-block": (8e-3, 1e-2, "allclose")}
"""Kernel parity of the fp8 ops (bf16 output, no re-quantized intermediate): DESIGN.md's bf16 row."""
QUANT_ERROR_TOLERANCE = (1e-1, 2e-1, "hit-ratio")
"""Quantization error (vs the bf16 product): DESIGN.md's fp8 row."""


def projection_shapes(preset: Any) -> dict[str, list[int] | None]:
    """(N, K) of each projection of ``preset`` (None where the preset lacks the sizes)."""
    h, qh, kvh, d, ffn = preset.hidden, preset.q_heads, preset.kv_heads, preset.head_dim, preset.ffn_intermediate
    attn = bool(qh and kvh and d)
    return {"qkv": [(qh + 2 * kvh) * d, h] if attn else None, "o": [h, qh * d] if attn else None,
            "gate_up": [2 * ffn, h] if ffn else None, "down": [h, ffn] if ffn else None}


def gemm_nk(params: Mapping[str, Any]) -> tuple[int, int]:
    """(N, K) of a case: ``--n/--k`` for proj custom, else the preset's projection."""
    if params["proj"] == "custom":
        return params["n"], params["k"]
    n, k = params["projections"][params["proj"]]
    return n, k


def gemm_work(op: str, m: int, n: int, k: int) -> Work:
    """FLOP/byte model: 2*M*N*K FLOP; a, b and their scales read once, out (bf16) written
    once. bf16: 2-byte a and b; fp8: 1-byte a and b + two float32 scalars; fp8-block: bf16 a
    (quantized inside the kernel), 1-byte b + a float32 per 128x128 block. The fp8 ops'
    products run on fp8 tensor cores (``flop_dtype="fp8"``: SOL against the fp8 ceiling)."""
    if op == "fp8":
        read = m * k + n * k + 8
    elif op == "fp8-block":
        read = 2 * m * k + n * k + (-(-n // quant.BLOCK)) * (k // quant.BLOCK) * 4
    else:
        read = 2 * (m * k + n * k)
    return Work(flop=2.0 * m * n * k, bytes_read=read, bytes_written=2 * m * n,
                flop_dtype="fp8" if op in ("fp8", "fp8-block") else "bf16")


def dequantized_operands(op: str, t: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 (a, b) exactly as the ``op`` kernel sees them: fp8 values times their
    scales; for fp8-block a is quantized per 1x128 group the kernel's way first."""
    if op == "fp8":
        return t["a_fp8"].float() * t["a_scale"], t["b_fp8"].float() * t["b_scale"]
    if op == "fp8-block":
        a = quant.fp8_group_dequantize(*quant.fp8_group_quantize(t["a"]))
        return a, quant.fp8_block_dequantize(t["b_fp8"], t["b_scale"])
    return t["a"].float(), t["b"].float()


_READS = {"bf16": ("a", "b"), "fp8": ("a_fp8", "a_scale", "b_fp8", "b_scale"), "fp8-block": ("a", "b_fp8", "b_scale")}


def _launch(case: Case, inputs: Inputs, fn, detail: str = "", **kw: Any) -> Launch:
    """A Launch reading the op's operands whose call returns ``{"out": fn(t)}``."""
    def bind(t: Mapping[str, torch.Tensor]):
        return lambda: {"out": fn(t)}
    return Launch({k: inputs.tensors[k] for k in _READS[case.op]}, bind, detail=detail, **kw)


def _shape_reason(case: Case, *, n_mult: int = 1, k_mult: int = 1, api: str) -> str | None:
    n, k = gemm_nk(case.params)
    if n % n_mult or k % k_mult:
        return f"{api} needs N % {n_mult} == 0 and K % {k_mult} == 0, got N={n} K={k}"
    return None


class TorchGemm(Backend):
    """Reference: fp32 matmul (TF32 off) of the dequantized operands, one rounding."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: fp32 matmul of the (dequantized) operands, one rounding"

    def unsupported_reason(self, case: Case) -> str | None:
        if case.op == "fp8-block":
            return _shape_reason(case, k_mult=quant.BLOCK, api="fp8-block (1x128 activation groups)")
        return super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        dtype = case.torch_dtype
        t = inputs.tensors
        with fp32_matmul():
            unquantized = (t["a"].float() @ t["b"].float().t()).to(dtype) if case.op != "bf16" else None

        def bind(r: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("gemm"), fp32_matmul():
                    a, b = dequantized_operands(case.op, r)
                    out = {"out": (a @ b.t()).to(dtype)}
                return out if unquantized is None else {**out, "out_unquantized": unquantized}
            return call
        return Launch({k: t[k] for k in _READS[case.op]}, bind)


class CublasGemm(Backend):
    """torch's cuBLAS paths: ``torch.matmul`` (bf16) and ``torch._scaled_mm`` (fp8
    per-tensor scales; b passed column-major as it requires)."""

    name: ClassVar[str] = "cublas"
    description: ClassVar[str] = "torch.matmul (bf16) / torch._scaled_mm (fp8 per-tensor) on cuBLAS(Lt)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), dtypes=("bf16",))

    def unsupported_reason(self, case: Case) -> str | None:
        if case.op == "fp8-block":
            return "fp8-block: no torch cuBLAS path benchmarked (FlashInfer's SM90 block-scale GEMM is the kernel here)"
        if case.op == "fp8":
            return _shape_reason(case, n_mult=16, k_mult=16, api="cuBLASLt fp8") or super().unsupported_reason(case)
        return super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        if case.op == "bf16":
            return _launch(case, inputs, lambda t: torch.matmul(t["a"], t["b"].t()), "torch.matmul (cuBLAS)")
        return _launch(case, inputs, lambda t: torch._scaled_mm(t["a_fp8"], t["b_fp8"].t(), scale_a=t["a_scale"],
                                                                scale_b=t["b_scale"], out_dtype=case.torch_dtype),
                       "torch._scaled_mm (cuBLASLt), per-tensor scales")


def _only(op: str, **shape: Any):
    """``unsupported_reason`` of a backend that runs one op, with its shape multiples
    (``n_mult``, ``k_mult``, ``api``)."""
    def reason(self: Backend, case: Case) -> str | None:
        return (op_only_reason(op, case) or (_shape_reason(case, **shape) if shape else None)
                or Backend.unsupported_reason(self, case))
    return reason


class FlashInferTinyGemm(Backend):
    """``flashinfer.mm_bf16(backend="tinygemm")``: FlashInfer's bf16 GEMM for SM90 (TensorRT-LLM's
    tinygemm2, latency-optimized for small M; its other SM90 bf16 backend, cuDNN, needs the
    cudnn frontend package)."""

    name: ClassVar[str] = "flashinfer-tinygemm"
    description: ClassVar[str] = "flashinfer.mm_bf16(backend='tinygemm') (op bf16)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(9, 0), modules=("flashinfer.gemm",), dtypes=("bf16",),
                                   jit=(JitNeed("tinygemm2", "flashinfer.jit.tinygemm2:gen_tinygemm2_module", 60),))
    unsupported_reason = _only("bf16", n_mult=16, k_mult=64, api="tinygemm")

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.gemm import mm_bf16

        return _launch(case, inputs, lambda t: mm_bf16(t["a"], t["b"].t(), backend="tinygemm"),
                       "flashinfer.mm_bf16 tinygemm")


class FlashInferBmmFp8(Backend):
    """``flashinfer.bmm_fp8(backend="cublas")`` with a batch of one: FlashInfer's cuBLASLt fp8
    GEMM, its algorithm picked by FlashInfer's autotuner on the first call, with cuBLASLt's
    fast (reduced-precision) fp8 accumulation on (flashinfer/gemm/bmm_fp8.cuh)."""

    name: ClassVar[str] = "flashinfer-bmm-fp8"
    description: ClassVar[str] = "flashinfer.bmm_fp8(backend='cublas'), autotuned (op fp8)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 9), modules=("flashinfer.gemm",), dtypes=("bf16",),
                                   jit=(JitNeed("gemm", "flashinfer.jit.gemm:gen_gemm_module", 60),))
    unsupported_reason = _only("fp8", n_mult=16, k_mult=16, api="cuBLASLt fp8")

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.autotuner import autotune
        from flashinfer.gemm import bmm_fp8

        def fn(t: Mapping[str, torch.Tensor]) -> torch.Tensor:
            return bmm_fp8(t["a_fp8"][None], t["b_fp8"].t()[None], t["a_scale"], t["b_scale"], case.torch_dtype,
                           backend="cublas")[0]
        return _launch(case, inputs, fn, "flashinfer.bmm_fp8 cublas, autotuned first call",
                       first_call_context=lambda: autotune(True))


class FlashInferBlockScaleGemm(Backend):
    """``flashinfer.gemm.fp8_blockscale_gemm_sm90``: bf16 a quantized per 1x128 group inside,
    fp8 b with 128x128 block scales (TensorRT-LLM's block-scale GEMM; DeepGEMM kernels
    JIT-compiled at first use, inside the first-call time)."""

    name: ClassVar[str] = "flashinfer-blockscale"
    description: ClassVar[str] = "flashinfer.gemm.fp8_blockscale_gemm_sm90 (op fp8-block, SM90)"
    needs: ClassVar[Needs] = Needs(
        cuda=True, min_cc=(9, 0), modules=("flashinfer.gemm",), dtypes=("bf16",),
        jit=(JitNeed("fp8_blockscale_gemm_90", "flashinfer.jit.gemm:gen_fp8_blockscale_gemm_sm90_module", 180),))

    def unsupported_reason(self, case: Case) -> str | None:
        reason = _only("fp8-block", n_mult=64, k_mult=quant.BLOCK, api="fp8_blockscale_gemm_sm90")(self, case)
        if reason is None and torch.cuda.is_available() and torch.cuda.get_device_capability() != (9, 0):
            reason = "fp8_blockscale_gemm_sm90 runs on SM 9.0 only"
        return reason

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.gemm import fp8_blockscale_gemm_sm90

        return _launch(case, inputs, lambda t: fp8_blockscale_gemm_sm90(t["a"], t["b_fp8"], None, t["b_scale"],
                                                                        out_dtype=case.torch_dtype),
                       "flashinfer.gemm.fp8_blockscale_gemm_sm90, bf16 input quantized inside")


class GemmSuite(Suite):
    """Dense projection GEMMs in bf16, fp8 per-tensor and fp8 block-scale."""

    name: ClassVar[str] = "gemm"
    description: ClassVar[str] = "dense projections a @ b^T: bf16, fp8 per-tensor, fp8 128x128 block-scale"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("proj", str, "projection giving N and K", default=list(PROJECTIONS), swept=True,
             choices=PROJECTIONS + ("custom",)),
        Axis("n", int, "output features N for --proj custom (0: from the projection)", default=0, minimum=0),
        Axis("k", int, "input features K for --proj custom (0: from the projection)", default=0, minimum=0),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (
        TorchGemm, CublasGemm, FlashInferTinyGemm, FlashInferBmmFp8, FlashInferBlockScaleGemm)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"
    cpu_default_model: ClassVar[str | None] = "small"

    def preset_params(self, preset: Any) -> dict[str, Any]:
        return {"projections": projection_shapes(preset)}

    def check_point(self, params: dict[str, Any]) -> None:
        custom, given = params["proj"] == "custom", bool(params["n"] or params["k"])
        if custom and not (params["n"] and params["k"]):
            raise UsageError("--proj custom needs --n and --k")
        if given and not custom:
            raise UsageError(f"--n/--k set the shape of --proj custom, not of --proj {params['proj']}")
        if not custom and params["projections"][params["proj"]] is None:
            raise UsageError(f"preset '{params['model']}' has no {params['proj']} shape "
                             "(attention heads or dense MLP size missing): use --proj custom --n N --k K")

    def check_parity(self, case: Case, candidate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> Any:
        """bf16: element-wise. fp8 ops: kernel parity plus the quantization error against
        the bf16 product (:func:`fibench.suites.quant.quant_parity`)."""
        if case.op == "bf16":
            return super().check_parity(case, candidate, reference)
        return quant.quant_parity(candidate, reference, kernel_tolerance=FP8_TOLERANCE[case.op],
                                  error_tolerance=QUANT_ERROR_TOLERANCE)

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        m, (n, k) = case.size, gemm_nk(case.params)
        gen = torch.Generator(device=device).manual_seed(case.seed)
        t = {"a": torch.randn(m, k, generator=gen, device=device).to(case.torch_dtype),
             "b": (torch.randn(n, k, generator=gen, device=device) * k ** -0.5).to(case.torch_dtype)}
        if case.op == "fp8":
            t["a_fp8"], t["a_scale"] = quant.fp8_per_tensor(t["a"])
            t["b_fp8"], t["b_scale"] = quant.fp8_per_tensor(t["b"])
        elif case.op == "fp8-block":  # scales for ceil(N/128) x ceil(K/128) blocks (zero-padded)
            q, t["b_scale"] = quant.fp8_block_quantize(F.pad(t["b"], (0, -k % quant.BLOCK, 0, -n % quant.BLOCK)))
            t["b_fp8"] = q[:n, :k].contiguous()
        return Inputs(t, gemm_work(case.op, m, n, k), {"m": m, "n": n, "k": k})
