"""MoE backends. Each maps the suite's shared inputs (see fibench/suites/moe.py) to one
implementation; all return ``{"out": [tokens, hidden]}`` in the case dtype."""

from __future__ import annotations

from typing import ClassVar, Mapping

import torch
import torch.nn.functional as F

from fibench.trace.markers import op_range
from fibench.suites.base import (Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs,
                                 fp32_matmul)
from fibench.suites.moe_quant import (REFERENCE_READS, ExpertFn, cutlass_quant_launch, dense_expert,
                                      dequantized_weights, reference_expert)
from fibench.suites.trtllm_backends import TrtllmMoe

_READS = ("x", "topk_ids", "topk_weights", "w1", "w2")


def _reads(inputs: Inputs) -> dict[str, torch.Tensor]:
    return {k: inputs.tensors[k] for k in _READS}


def _quant(case: Case) -> str:
    return case.params.get("quant", "bf16")


def _expert_loop(t: Mapping[str, torch.Tensor], case: Case, expert: ExpertFn) -> torch.Tensor:
    """sum over the local experts of routing weight x ``expert`` rows, in fp32 ([T, H])."""
    ids, wts = t["topk_ids"], t["topk_weights"]
    with op_range("finalize"):
        out = torch.zeros(ids.shape[0], case.params["hidden"], dtype=torch.float32, device=ids.device)
    with fp32_matmul():
        for e in range(case.params["experts"] // case.params["ep"]):
            with op_range("dispatch"):
                tok, slot = torch.where(ids == e)
            if tok.numel() == 0:
                continue
            y = expert(t, e, tok)
            with op_range("finalize"):
                out.index_add_(0, tok, y * wts[tok, slot].unsqueeze(1))
    return out


class TorchMoe(Backend):
    """Reference: a loop over local experts with fp32 math.

    For each expert: GEMM1 of its tokens in fp32, rounded to the case dtype (every bf16
    MoE kernel stores the GEMM1 result in the activation dtype), SwiGLU in fp32 rounded
    once (GEMM2's operand dtype), GEMM2 in fp32, weighted accumulation over experts in
    fp32, one final rounding. Accumulation is exact fp32 throughout (TF32 off); only the
    storage points every kernel shares are rounded. Uses ``torch.where`` on the routing (a
    host sync), so it is timed with per-call events, not a graph. With ``--quant`` it
    dequantizes the quantized tensors instead and also returns the unquantized model's
    output (see :mod:`fibench.suites.moe_quant`).
    """

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: per-expert loop, fp32 accumulation (dequantizing with --quant)"
    needs: ClassVar[Needs] = Needs()

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        inter, dtype, mode = case.params["intermediate"], case.torch_dtype, _quant(case)
        bf16 = dense_expert(inter, dtype)
        if mode == "bf16":
            def bind(t: Mapping[str, torch.Tensor]):
                def call() -> Outputs:
                    out = _expert_loop(t, case, bf16)
                    with op_range("finalize"):
                        return {"out": out.to(dtype)}
                return call
            return Launch(_reads(inputs), bind, capturable=False, detail="fp32 per-expert loop")

        unquantized = _expert_loop(inputs.tensors, case, bf16).to(dtype)  # untimed, once
        expert = reference_expert(mode, inter, dtype)
        t = {**inputs.tensors, **dequantized_weights(mode, inputs.tensors)}

        def bind_quant(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                out = _expert_loop(t, case, expert)
                with op_range("finalize"):
                    return {"out": out.to(dtype), "out_unquantized": unquantized}
            return call
        return Launch({k: t[k] for k in REFERENCE_READS[mode]}, bind_quant, capturable=False,
                      detail=f"fp32 per-expert loop dequantizing the {mode} tensors; out_unquantized: bf16 weights")


class TorchGroupedMoe(Backend):
    """A fast pure-torch pipeline: permute by expert (stable sort), grouped GEMM1
    (torch._grouped_mm), SwiGLU, grouped GEMM2, weighted un-permute.

    SwiGLU is computed in fp32 and rounded once (as fused kernels do in registers).
    No host synchronisation (graph-capturable); the un-permute scatters rows back to their
    (token, slot) position and sums over slots, so it is deterministic (no atomics).
    """

    name: ClassVar[str] = "torch-grouped"
    description: ClassVar[str] = "torch._grouped_mm pipeline: permute, grouped GEMM1, SwiGLU, grouped GEMM2, un-permute"
    needs: ClassVar[Needs] = Needs(dtypes=("bf16",))

    def unsupported_reason(self, case: Case) -> str | None:
        reason = super().unsupported_reason(case)
        if reason:
            return reason
        if _quant(case) != "bf16":
            return f"--quant {_quant(case)}: torch-grouped runs bf16 weights only (the torch reference dequantizes)"
        if not hasattr(torch, "_grouped_mm"):
            return f"torch {torch.__version__} has no torch._grouped_mm"
        h, inter = case.params["hidden"], case.params["intermediate"]
        if h % 8 or inter % 8:
            return f"torch._grouped_mm needs hidden and intermediate divisible by 8 (16-byte rows), got {h}, {inter}"
        return None

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        inter, local = case.params["intermediate"], case.params["experts"] // case.params["ep"]
        top_k = case.params["top_k"]
        dtype = case.torch_dtype

        def bind(t: Mapping[str, torch.Tensor]):
            w1_t = t["w1"].transpose(-2, -1)  # [E, H, 2I] views: K-major B operands
            w2_t = t["w2"].transpose(-2, -1)  # [E, I, H]

            def call() -> Outputs:
                x, ids, wts = t["x"], t["topk_ids"], t["topk_weights"]
                tokens = x.shape[0]
                with op_range("permute"):
                    flat = ids.reshape(-1).long()
                    is_local = flat < local
                    key = torch.where(is_local, flat, local)  # other ranks' experts sort last
                    order = torch.argsort(key, stable=True)
                    counts = torch.zeros(local + 1, dtype=torch.int32, device=x.device)
                    counts.scatter_add_(0, key, torch.ones_like(key, dtype=torch.int32))
                    offs = torch.cumsum(counts[:local], 0, dtype=torch.int32)
                    rows = x.index_select(0, order // top_k)
                with op_range("gemm1"):
                    h = torch._grouped_mm(rows, w1_t, offs=offs)
                with op_range("activation"):  # fp32, one rounding, as fused kernels
                    act = (F.silu(h[:, inter:].float()) * h[:, :inter].float()).to(dtype)
                with op_range("gemm2"):
                    y = torch._grouped_mm(act, w2_t, offs=offs)
                with op_range("finalize"):
                    unsorted = torch.empty_like(y)
                    unsorted[order] = y  # rows back to (token, slot) order; order is a permutation
                    scale = torch.where(is_local, wts.reshape(-1), 0.0).view(tokens, top_k, 1)
                    y3 = unsorted.view(tokens, top_k, -1).float()
                    y3 = torch.where(is_local.view(tokens, top_k, 1), y3, 0.0)  # rows past offs[-1] are undefined
                    return {"out": (y3 * scale).sum(dim=1).to(dtype)}
            return call

        return Launch(_reads(inputs), bind, detail="torch._grouped_mm x2, stable argsort permute")


class FlashInferCutlassMoe(Backend):
    """flashinfer.fused_moe.cutlass_fused_moe (TensorRT-LLM's CUTLASS MoE): bf16, or the
    ``--quant`` mode (fp8 per-tensor, fp8 128x128 block scales, MXFP4 weights x bf16).

    The first call runs under ``flashinfer.autotune(True)`` so GEMM tactics are chosen for
    this shape before timing (as serving engines do at start-up); its time is the
    first-call column.
    """

    name: ClassVar[str] = "flashinfer-cutlass"
    description: ClassVar[str] = "flashinfer.fused_moe.cutlass_fused_moe (TensorRT-LLM CUTLASS MoE)"
    needs: ClassVar[Needs] = Needs(
        cuda=True, min_cc=(8, 9), modules=("flashinfer.fused_moe",), dtypes=("bf16", "fp16"),
        jit=(
            JitNeed("fused_moe_90", "flashinfer.jit.fused_moe:gen_cutlass_fused_moe_sm90_module", 1500, (9, 0)),
            JitNeed("fused_moe_100", "flashinfer.jit.fused_moe:gen_cutlass_fused_moe_sm100_module", 1500, (10, 0)),
            JitNeed("fused_moe_89", "flashinfer.jit.fused_moe:gen_cutlass_fused_moe_sm89_module", 900, (8, 9)),
        ),
    )

    def unsupported_reason(self, case: Case) -> str | None:
        reason = super().unsupported_reason(case)
        if reason or _quant(case) not in ("fp8-block", "mxfp4"):
            return reason
        if _quant(case) == "fp8-block" and case.dtype != "bf16":
            return "--quant fp8-block takes bf16 activations (the block-scale GEMM quantizes bf16 input)"
        if not torch.cuda.is_available():
            return None
        cc = torch.cuda.get_device_capability()
        if cc != (9, 0):  # fused_moe/core.py: block scale raises NotImplementedError off SM90
            return f"--quant {_quant(case)} runs on SM 9.0 only (CUTLASS SM90 kernels), this GPU is {cc[0]}.{cc[1]}"
        return None

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.autotuner import autotune
        from flashinfer.fused_moe import cutlass_fused_moe

        if _quant(case) != "bf16":
            return cutlass_quant_launch(case, inputs)
        ep, dtype = case.params["ep"], case.torch_dtype

        def bind(t: Mapping[str, torch.Tensor]):
            out = torch.empty_like(t["x"])

            def call() -> Outputs:
                cutlass_fused_moe(t["x"], t["topk_ids"], t["topk_weights"], t["w1"], t["w2"], dtype,
                                  quant_scales=None, ep_size=ep, ep_rank=0, output=out)
                return {"out": out}
            return call

        return Launch(_reads(inputs), bind, first_call_context=lambda: autotune(True),
                      detail=f"cutlass_fused_moe Swiglu, ep_size={ep} ep_rank=0, autotuned first call")


BACKENDS: dict[str, type[Backend]] = {
    b.name: b for b in (TorchMoe, TorchGroupedMoe, FlashInferCutlassMoe, TrtllmMoe)
}
