"""TensorRT-LLM backends: TensorRT-LLM's own PyTorch ops on the suites' shared inputs, so a
FlashInfer port can be compared with its original (``--parity-against trtllm-moe``, or
``fibench parity`` between a run here and one on a machine that has TensorRT-LLM).

Written against TensorRT-LLM's public source, release line 1.2 (PyPI's newest release is
1.2.1; the GitHub sources read were those whose ``tensorrt_llm/version.py`` says 1.2.0rc2 and
later). The release tag itself could not be checked out here (the repository snapshot is
larger than this workplace's fetch limit), so the ops' argument names are read from their
registered schemas at run time and a TensorRT-LLM whose schema lacks one is an error row
naming it, never a silent mismatch. Ops used:

- ``torch.ops.trtllm.fused_moe`` (``fused_moe`` in
  tensorrt_llm/_torch/custom_ops/torch_custom_ops.py, the CUTLASS MoE the ``CutlassFusedMoE``
  module calls; tactics chosen under ``tensorrt_llm._torch.autotuner.autotune()``).
- ``torch.ops.trtllm.group_rms_norm_base`` (``groupRMSNormBase`` in
  cpp/tensorrt_llm/thop/groupRmsNormOp.cpp: TensorRT-LLM's own RMSNorm kernel; its
  ``RMSNorm`` module in tensorrt_llm/_torch/modules/rms_norm.py calls FlashInfer's kernel
  when FlashInfer is installed, which would compare FlashInfer with itself).

The argument mapping is pure functions (:func:`fused_moe_kwargs`,
:func:`group_rmsnorm_args`) covered by CPU tests; the backends are thin. Without
TensorRT-LLM they are ``unsupported`` rows with the reason (TensorRT-LLM is not installed on
this workplace's GPU hosts, so neither backend has run on real hardware and
``fibench/suites/verified.toml`` lists neither).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import torch

from fibench.suites.base import Backend, Case, Inputs, Launch, Needs, Outputs

TRTLLM_MODULE = "tensorrt_llm._torch.custom_ops"
"""Importing it loads TensorRT-LLM's op library and registers the ``torch.ops.trtllm`` ops."""

OUTPUT_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""Case dtype -> ``output_dtype`` of ``trtllm::fused_moe`` (unquantized MoE: activations,
weights and output share the dtype)."""

FUSED_MOE_REQUIRED = ("input", "token_selected_experts", "token_final_scales", "fc1_expert_weights",
                      "fc2_expert_weights", "output_dtype", "quant_scales", "tp_size", "tp_rank", "ep_size", "ep_rank")
"""Arguments of ``trtllm::fused_moe`` this backend passes (1.2: also the optional biases)."""


def schema_arguments(op: Any) -> tuple[str, ...]:
    """Argument names of a ``torch.ops`` op (its default overload's schema)."""
    return tuple(a.name for a in op.default._schema.arguments)


def fused_moe_kwargs(t: Mapping[str, torch.Tensor], *, output_dtype: torch.dtype, ep_size: int,
                     schema: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments of ``torch.ops.trtllm.fused_moe`` for the moe suite's inputs.

    The suite's layout is TensorRT-LLM's: ``w1`` [E_local, 2*I, H] is ``w3_w1`` (rows
    [0, I) the up projection w3, rows [I, 2I) the gate w1: ``UnquantizedFusedMoEMethod``
    creates ``w3_w1_weight`` of shape (experts, 2*intermediate, hidden)), ``w2`` [E_local, H,
    I]; token_selected_experts are global expert ids (int32), token_final_scales float32.
    Rank 0 of ``ep_size`` holds experts [0, E/ep_size), as in the suite. No quantisation
    (``quant_scales=[]``), no tensor parallelism, no biases.

    Args:
        t: x [T, H], topk_ids [T, K] int32, topk_weights [T, K] float32, w1, w2 (the
            case dtype); output_dtype: :data:`OUTPUT_DTYPES` of the case; schema: the op's
            argument names (:func:`schema_arguments`).

    Raises:
        ValueError: a shape or dtype the op does not take, or a schema without one of
            :data:`FUSED_MOE_REQUIRED` (another TensorRT-LLM version).
    """
    missing = [a for a in FUSED_MOE_REQUIRED if a not in schema]
    if missing:
        raise ValueError(f"this TensorRT-LLM's trtllm::fused_moe has no argument {', '.join(missing)} "
                         "(fibench maps the 1.2 schema)")
    x, ids, wts, w1, w2 = (t[k] for k in ("x", "topk_ids", "topk_weights", "w1", "w2"))
    if x.dim() != 2 or ids.shape != wts.shape or ids.dim() != 2 or ids.shape[0] != x.shape[0]:
        raise ValueError(f"fused_moe needs x [T, H] and routing [T, K], got {tuple(x.shape)}, {tuple(ids.shape)}, "
                         f"{tuple(wts.shape)}")
    experts, two_inter, hidden = w1.shape
    if hidden != x.shape[1] or two_inter % 2 or tuple(w2.shape) != (experts, hidden, two_inter // 2):
        raise ValueError(f"fused_moe needs w3_w1 [E, 2I, H] and w2 [E, H, I], got {tuple(w1.shape)}, {tuple(w2.shape)}")
    if ids.dtype != torch.int32 or wts.dtype != torch.float32 or not x.dtype == w1.dtype == w2.dtype == output_dtype:
        raise ValueError(f"fused_moe needs int32 expert ids, float32 scales and {output_dtype} activations/weights, got "
                         f"{ids.dtype}, {wts.dtype}, {x.dtype}/{w1.dtype}/{w2.dtype}")
    kwargs: dict[str, Any] = dict(input=x, token_selected_experts=ids, token_final_scales=wts, fc1_expert_weights=w1,
                                  fc2_expert_weights=w2, output_dtype=output_dtype, quant_scales=[], tp_size=1,
                                  tp_rank=0, ep_size=ep_size, ep_rank=0)
    for bias in ("fc1_expert_biases", "fc2_expert_biases"):
        if bias in schema:
            kwargs[bias] = None
    return kwargs


def rmsnorm_unsupported(hidden: int, dtype: torch.dtype) -> str | None:
    """Why ``group_rms_norm_base`` cannot take rows of ``hidden`` elements, or None: it
    loads rows as 16-byte float4 vectors (groupRmsNormKernels.cu reinterprets row pointers
    as float4), so a row must be a whole number of 16-byte vectors."""
    elem = torch.empty((), dtype=dtype).element_size()
    if (hidden * elem) % 16:
        return f"trtllm group_rms_norm loads 16-byte vectors: hidden * {elem} bytes must be a multiple of 16, got {hidden}"
    return None


def group_rmsnorm_args(x: torch.Tensor, weight: torch.Tensor, out: torch.Tensor, eps: float) -> tuple:
    """Positional arguments of ``torch.ops.trtllm.group_rms_norm_base(inputs, outputs,
    weights, eps, weight_bias)`` for one input: ``out = x * rsqrt(mean(x^2) + eps) *
    (weight + weight_bias)`` per row, fp32 math and one rounding, with weight_bias 0.

    Args:
        x, out: [rows, hidden], same dtype and row stride, contiguous rows; weight [hidden],
        same dtype (the kernel reads it as that dtype).

    Raises:
        ValueError: what the op's TORCH_CHECKs (groupRmsNormOp.cpp) would refuse.
    """
    if x.dim() != 2 or out.shape != x.shape or weight.shape != (x.shape[1],):
        raise ValueError(f"group_rms_norm needs x, out [rows, hidden] and weight [hidden], got {tuple(x.shape)}, "
                         f"{tuple(out.shape)}, {tuple(weight.shape)}")
    if not x.dtype == out.dtype == weight.dtype or x.stride() != out.stride() or x.stride(1) != 1:
        raise ValueError("group_rms_norm needs one dtype for x, out and weight and equal, contiguous row strides")
    return [x], [out], [weight], float(eps), 0.0


class TrtllmMoe(Backend):
    """TensorRT-LLM's CUTLASS MoE: ``torch.ops.trtllm.fused_moe`` (bf16/fp16, unquantized,
    SwiGLU), first call under TensorRT-LLM's autotuner. FlashInfer's
    ``cutlass_fused_moe`` (backend ``flashinfer-cutlass``) is its port."""

    name: ClassVar[str] = "trtllm-moe"
    description: ClassVar[str] = "TensorRT-LLM torch.ops.trtllm.fused_moe (CUTLASS MoE), autotuned"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=(TRTLLM_MODULE,), dtypes=tuple(OUTPUT_DTYPES))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import tensorrt_llm._torch.custom_ops  # noqa: F401  (registers torch.ops.trtllm.fused_moe)
        from tensorrt_llm._torch.autotuner import autotune

        op = torch.ops.trtllm.fused_moe
        schema = schema_arguments(op)
        ep, dtype = case.params["ep"], OUTPUT_DTYPES[case.dtype]
        reads = {k: inputs.tensors[k] for k in ("x", "topk_ids", "topk_weights", "w1", "w2")}
        fused_moe_kwargs(reads, output_dtype=dtype, ep_size=ep, schema=schema)  # fail in prepare, not in a timer

        def bind(t: Mapping[str, torch.Tensor]):
            kwargs = fused_moe_kwargs(t, output_dtype=dtype, ep_size=ep, schema=schema)

            def call() -> Outputs:
                return {"out": op(**kwargs)[0]}
            return call

        return Launch(reads, bind, first_call_context=lambda: autotune(True),
                      detail=f"torch.ops.trtllm.fused_moe, ep_size={ep} ep_rank=0, autotuned first call")


class TrtllmRmsNorm(Backend):
    """TensorRT-LLM's own RMSNorm kernel: ``torch.ops.trtllm.group_rms_norm_base`` with one
    input (rmsnorm only)."""

    name: ClassVar[str] = "trtllm-rmsnorm"
    description: ClassVar[str] = "TensorRT-LLM torch.ops.trtllm.group_rms_norm_base (rmsnorm only)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=(TRTLLM_MODULE,))

    def unsupported_reason(self, case: Case) -> str | None:
        reason = super().unsupported_reason(case)
        if reason:
            return reason
        if case.op != "rmsnorm":
            return ("TensorRT-LLM has no bf16 fused add + RMSNorm op of its own: its RMSNorm module calls "
                    "FlashInfer's fused_add_rmsnorm (tensorrt_llm/_torch/modules/rms_norm.py)")
        return rmsnorm_unsupported(case.params["hidden"], case.torch_dtype)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import tensorrt_llm._torch.custom_ops  # noqa: F401  (loads the op library)

        from fibench.suites.norm import EPS

        op = torch.ops.trtllm.group_rms_norm_base

        def bind(t: Mapping[str, torch.Tensor]):
            out = torch.empty_like(t["x"])
            args = group_rmsnorm_args(t["x"], t["weight"], out, EPS)

            def call() -> Outputs:
                op(*args)
                return {"out": out}
            return call

        return Launch({k: inputs.tensors[k] for k in ("x", "weight")}, bind,
                      detail="torch.ops.trtllm.group_rms_norm_base, one input, weight_bias 0")
