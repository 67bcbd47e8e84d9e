"""MoE suite: routed experts of one layer (SwiGLU FFN per expert), sizes = tokens.

Inputs (shared by all backends; the weight layout is FlashInfer/TensorRT-LLM's):
    x            [tokens, hidden]              dtype
    topk_ids     [tokens, top_k]               int32, global expert ids
    topk_weights [tokens, top_k]               float32
    w1           [local_experts, 2*inter, hidden] dtype; rows [0, inter) are the up
                 projection (w3), rows [inter, 2*inter) the gate (w1): FlashInfer's
                 tests/moe/test_trtllm_cutlass_fused_moe.py splits ``w3, w1 = chunk(w31)``
    w2           [local_experts, hidden, inter] dtype
Output: out [tokens, hidden] dtype = sum_k weight_k * W2_e(silu(gate_e(x)) * up_e(x)) over
the top-k experts held locally. With ``--ep N`` the case is what rank 0 of N holds:
experts [0, E/N); assignments to other ranks' experts contribute nothing.
``--quant fp8|fp8-block|mxfp4`` adds the quantized tensors of the same weights (see
:mod:`fibench.suites.moe_quant`); parity then has two parts (kernel math, quantization error).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from fibench.errors import UsageError
from fibench.suites.base import Backend, Case, Inputs, Suite, Work
from fibench.suites.moe_backends import BACKENDS
from fibench.suites.moe_quant import (QUANT_MODES, check_quant_point, input_bytes, moe_quant_parity, quantize_moe,
                                      weight_bytes_per_expert)
from fibench.suites.routing import deepseek_grouped, softmax_topk
from fibench.sweep.axes import Axis


def moe_work(case: Case, topk_ids: torch.Tensor) -> tuple[Work, dict[str, Any]]:
    """FLOP/byte model of one MoE call on the local expert slice.

    Counts what a perfect kernel must do: the two GEMMs for each local (token, expert)
    assignment A (2*A*H*2I + 2*A*I*H = 6*A*H*I FLOP; the SwiGLU's few FLOP per element are
    not counted), reading the weights of the experts actually hit once, reading each
    token with a local assignment once plus the routing tensors, writing the full output.
    Quantized modes count the weight bytes the kernel reads, scales included
    (:func:`fibench.suites.moe_quant.weight_bytes_per_expert`), and an fp8 input as 1 byte.

    Returns:
        (Work, info with experts_hit, local_assignments, local_tokens).
    """
    p = case.params
    h, inter, ep = p["hidden"], p["intermediate"], p["ep"]
    local = p["experts"] // ep
    e = torch.empty((), dtype=case.torch_dtype).element_size()
    local_mask = topk_ids < local  # rank 0 holds experts [0, local)
    assignments = int(local_mask.sum())
    experts_hit = int(torch.unique(topk_ids[local_mask]).numel()) if assignments else 0
    tokens_local = int(local_mask.any(dim=1).sum())
    tokens, top_k = topk_ids.shape
    mode = p.get("quant", "bf16")
    x_elem, scalars = input_bytes(mode, e)
    work = Work(
        flop=6.0 * assignments * h * inter,
        bytes_read=(experts_hit * weight_bytes_per_expert(mode, h, inter, e) + tokens_local * h * x_elem
                    + tokens * top_k * 8 + scalars),
        bytes_written=tokens * h * e,
        flop_dtype="fp8" if mode in ("fp8", "fp8-block") else "bf16",  # mxfp4 x bf16 dequantizes to bf16
    )
    info = {"experts_hit": experts_hit, "local_experts": local, "local_assignments": assignments,
            "local_tokens": tokens_local}
    return work, info


class MoeSuite(Suite):
    """Routed-expert MoE layer (bf16 weights and activations)."""

    name: ClassVar[str] = "moe"
    description: ClassVar[str] = "routed MoE experts: permute, GEMM1, SwiGLU, GEMM2, weighted un-permute"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = ("moe",)
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("hidden", int, "hidden size", preset="hidden", minimum=1),
        Axis("intermediate", int, "per-expert intermediate size", preset="intermediate", minimum=1),
        Axis("experts", int, "routed experts", preset="experts", minimum=1),
        Axis("top_k", int, "experts per token", preset="top_k", minimum=1),
        Axis("ep", int, "benchmark the expert slice rank 0 of N holds (expert parallelism)", default=1, minimum=1),
        Axis("quant", str, "weight format: bf16, fp8 (per-tensor), fp8-block (128x128 scales), mxfp4 (x bf16)",
             default="bf16", swept=True, choices=QUANT_MODES),
    )
    backends: ClassVar[dict[str, type[Backend]]] = BACKENDS
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "qwen3-30b-a3b"
    cpu_default_model: ClassVar[str | None] = "small"

    def check_preset(self, preset: Any) -> None:
        if not preset.is_moe:
            raise UsageError(f"preset '{preset.name}' is a dense model; the moe suite needs an MoE preset")

    def preset_params(self, preset: Any) -> dict[str, Any]:
        return {"routing": preset.routing, "n_group": preset.n_group, "topk_group": preset.topk_group,
                "routed_scaling": preset.routed_scaling}

    def check_parity(self, case: Case, candidate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> Any:
        """bf16: element-wise (the default). Quantized: kernel math against the dequantizing
        reference plus the quantization error (:func:`fibench.suites.moe_quant.moe_quant_parity`)."""
        mode = case.params.get("quant", "bf16")
        if mode == "bf16":
            return super().check_parity(case, candidate, reference)
        return moe_quant_parity(mode, candidate, reference)

    def check_point(self, params: dict[str, Any]) -> None:
        check_quant_point(params)
        if params["top_k"] > params["experts"]:
            raise UsageError(f"--top-k {params['top_k']} exceeds --experts {params['experts']}")
        if params["experts"] % params["ep"]:
            raise UsageError(f"--ep {params['ep']} does not divide {params['experts']} experts")
        if params["routing"] == "deepseek-grouped":
            per_group, rem = divmod(params["experts"], params["n_group"])
            if rem or params["top_k"] > params["topk_group"] * per_group:
                raise UsageError(f"grouped routing needs experts divisible by {params['n_group']} groups "
                                 f"and top_k <= experts in the {params['topk_group']} kept groups")

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        p = case.params
        tokens, h, inter, experts = case.size, p["hidden"], p["intermediate"], p["experts"]
        local = experts // p["ep"]
        gen = torch.Generator(device=device).manual_seed(case.seed)
        dtype = case.torch_dtype

        def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
            return (torch.randn(*shape, generator=gen, device=device, dtype=torch.float32) * scale).to(dtype)

        logits = torch.randn(tokens, experts, generator=gen, device=device)
        if p["routing"] == "deepseek-grouped":
            bias = torch.randn(experts, generator=gen, device=device) * 0.1
            ids, weights = deepseek_grouped(logits, bias, p["top_k"], p["n_group"], p["topk_group"],
                                            p["routed_scaling"])
        else:
            ids, weights = softmax_topk(logits, p["top_k"])
        # Weights scaled by 1/sqrt(fan_in) keep activations O(1), so relative error is meaningful.
        tensors = {
            "x": randn(tokens, h),
            "topk_ids": ids,
            "topk_weights": weights,
            "w1": randn(local, 2 * inter, h, scale=h ** -0.5),
            "w2": randn(local, h, inter, scale=inter ** -0.5),
        }
        if p.get("quant", "bf16") != "bf16":
            tensors.update(quantize_moe(p["quant"], tensors, inter, dtype))
        work, info = moe_work(case, ids)
        return Inputs(tensors, work, info)
