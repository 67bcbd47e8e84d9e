"""Fused-MoE and allreduce-fusion probes (run inside a probe subprocess).

MoE: ``fused_moe.cutlass_fused_moe`` with bf16, fp8 per-tensor, DeepSeek fp8 block-scale
and MXFP4 (SM90 W4A16) weights, 2 experts, top-2 routing, hidden = intermediate = 128,
4 tokens, compared with an fp32 torch SwiGLU MoE. Weight layout and scale lists follow
FlashInfer's own MoE tests: ``w31`` stacks [up (w3); gate (w1)] along rows, ``w2`` is
(hidden, intermediate). All four need the ``fused_moe_<sm>`` module (~20+ minutes to
compile for SM90 on 16 cores).

Allreduce fusion: the ``trtllm_comm`` module is loaded (compiled with --build) and one
single-GPU kernel from it (Lamport buffer init to -0.0) is run; no collective.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from fibench.audit.compat.checks import CheckFailed, rel_l2_close
from fibench.suites.quant import fp8_block_dequantize, fp8_block_quantize, fp8_per_tensor, mxfp4_dequantize

EXPERTS, HIDDEN, INTER, TOKENS, TOP_K = 2, 128, 128, 4, 2


def cutlass_moe_modules(**_: Any) -> list[str]:
    """``fused_moe_<sm>`` as fused_moe/core.py get_cutlass_fused_moe_module maps the GPU."""
    major, minor = torch.cuda.get_device_capability()
    sm = f"{major * 10 + minor}"
    mapped = {"121": "120", "110": "100"}.get(sm, sm)
    return [f"fused_moe_{mapped}"]


def _routing(dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.randn(TOKENS, EXPERTS, device=dev)
    weights, ids = torch.topk(torch.softmax(logits, dim=-1), TOP_K, dim=-1)
    return (weights / weights.sum(dim=-1, keepdim=True)).float(), ids.to(torch.int32)


def _moe_ref(x: torch.Tensor, w31: torch.Tensor, w2: torch.Tensor, weights, ids) -> torch.Tensor:
    """fp32 SwiGLU MoE; w31[e] = [w3 (up); w1 (gate)] (FlashInfer test convention)."""
    out = torch.zeros(x.shape[0], w2.shape[1], device=x.device)
    xf = x.float()
    for e in range(w31.shape[0]):
        rows, slot = torch.where(ids == e)
        if rows.numel() == 0:
            continue
        w3, w1 = torch.chunk(w31[e].float(), 2, dim=0)
        inter = F.silu(xf[rows] @ w1.T) * (xf[rows] @ w3.T)
        out[rows] += weights[rows, slot, None] * (inter @ w2[e].float().T)
    return out


def moe_bf16(ctx: Any) -> str:
    """cutlass_fused_moe with bf16 activations and weights."""
    from flashinfer.fused_moe import cutlass_fused_moe  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    x = torch.randn(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev) / 5
    w31 = torch.randn(EXPERTS, 2 * INTER, HIDDEN, dtype=torch.bfloat16, device=dev) / 5
    w2 = torch.randn(EXPERTS, HIDDEN, INTER, dtype=torch.bfloat16, device=dev) / 5
    weights, ids = _routing(dev)
    out = torch.zeros(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev)
    cutlass_fused_moe(x, ids, weights, w31, w2, torch.bfloat16, quant_scales=None, output=out)
    torch.cuda.synchronize(dev)
    return rel_l2_close("moe bf16", out, _moe_ref(x, w31, w2, weights, ids), 0.05)


def moe_fp8(ctx: Any) -> str:
    """cutlass_fused_moe with fp8 e4m3 activations/weights and per-tensor scales; the
    four quant scales are [gemm1 dequant, gemm2 act quant, gemm2 dequant, gemm1 input
    dequant] (fused_moe/core.py docstring, FP8 case)."""
    from flashinfer.fused_moe import cutlass_fused_moe  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    x = torch.randn(TOKENS, HIDDEN, dtype=torch.float16, device=dev)
    x_q, x_s = fp8_per_tensor(x)
    gemm1 = [fp8_per_tensor(torch.randn(2 * INTER, HIDDEN, device=dev) * 0.1) for _ in range(EXPERTS)]
    gemm2 = [fp8_per_tensor(torch.randn(HIDDEN, INTER, device=dev) * 0.09) for _ in range(EXPERTS)]
    s31 = torch.stack([s for _, s in gemm1]).float()
    s2 = torch.stack([s for _, s in gemm2]).float()
    scales = [s31 * x_s, torch.tensor(1.0, device=dev), s2, x_s.reshape(())]
    weights, ids = _routing(dev)
    out = torch.zeros(TOKENS, HIDDEN, dtype=torch.float16, device=dev)
    cutlass_fused_moe(x_q, ids, weights, torch.stack([q for q, _ in gemm1]), torch.stack([q for q, _ in gemm2]),
                      torch.float16, quant_scales=scales, output=out)
    torch.cuda.synchronize(dev)
    w31_d = torch.stack([q.float() * s for q, s in gemm1])
    w2_d = torch.stack([q.float() * s for q, s in gemm2])
    ref = _moe_ref(x_q.float() * x_s, w31_d, w2_d, weights, ids)
    return rel_l2_close("moe fp8", out, ref, 0.15)


def _fp8_blocks(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """128x128 block fp8 quantization of a 2-D weight: (fp8, scales (rows/128, cols/128), dequant)."""
    q, scales = fp8_block_quantize(w)
    return q, scales, fp8_block_dequantize(q, scales)


def moe_fp8_block(ctx: Any) -> str:
    """cutlass_fused_moe(use_deepseek_fp8_block_scale=True): bf16 activations (quantized
    per 128-token-group inside), fp8 weights with 128x128 block scales (SM90 only;
    FlashInfer raises NotImplementedError when its nvcc is older than CUDA 12.8)."""
    from flashinfer.fused_moe import cutlass_fused_moe  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    x = torch.randn(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev)
    parts31 = [_fp8_blocks(torch.randn(2 * INTER, HIDDEN, device=dev) / 10) for _ in range(EXPERTS)]
    parts2 = [_fp8_blocks(torch.randn(HIDDEN, INTER, device=dev) / 10) for _ in range(EXPERTS)]
    weights, ids = _routing(dev)
    out = torch.zeros(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev)
    cutlass_fused_moe(
        x, ids, weights, torch.stack([p[0] for p in parts31]), torch.stack([p[0] for p in parts2]),
        torch.bfloat16, use_deepseek_fp8_block_scale=True, output=out,
        quant_scales=[torch.stack([p[1] for p in parts31]).contiguous(),
                      torch.stack([p[1] for p in parts2]).contiguous()],
    )
    torch.cuda.synchronize(dev)
    ref = _moe_ref(x, torch.stack([p[2] for p in parts31]), torch.stack([p[2] for p in parts2]), weights, ids)
    return rel_l2_close("moe fp8 block", out, ref, 0.15)


def moe_mxfp4_w4a16(ctx: Any) -> str:
    """SM90 mixed-input MoE: bf16 activations x MXFP4 weights (use_w4_group_scaling=True)
    after interleave_moe_{weights,scales}_for_sm90_mixed_gemm, as FlashInfer's
    test_moe_bf16_mxfp4 prepares them."""
    from flashinfer import fused_moe  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    x = torch.randn(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev)
    w1 = torch.randint(0, 256, (EXPERTS, 2 * INTER, HIDDEN // 2), dtype=torch.uint8, device=dev)
    w2 = torch.randint(0, 256, (EXPERTS, HIDDEN, INTER // 2), dtype=torch.uint8, device=dev)
    s1 = torch.randint(118, 123, (EXPERTS, 2 * INTER, HIDDEN // 32), dtype=torch.uint8, device=dev)
    s2 = torch.randint(118, 123, (EXPERTS, HIDDEN, INTER // 32), dtype=torch.uint8, device=dev)
    weights, ids = _routing(dev)
    out = torch.zeros(TOKENS, HIDDEN, dtype=torch.bfloat16, device=dev)
    fused_moe.cutlass_fused_moe(
        x, ids, weights,
        fused_moe.interleave_moe_weights_for_sm90_mixed_gemm(w1, "fp4"),
        fused_moe.interleave_moe_weights_for_sm90_mixed_gemm(w2, "fp4"),
        torch.bfloat16, use_w4_group_scaling=True, output=out,
        quant_scales=[fused_moe.interleave_moe_scales_for_sm90_mixed_gemm(s1, group_size=32).view(torch.int32),
                      fused_moe.interleave_moe_scales_for_sm90_mixed_gemm(s2, group_size=32).view(torch.int32)],
    )
    torch.cuda.synchronize(dev)
    ref = _moe_ref(x, mxfp4_dequantize(w1, s1), mxfp4_dequantize(w2, s2), weights, ids)
    return rel_l2_close("moe mxfp4 w4a16", out, ref, 0.2)


def allreduce_modules(**_: Any) -> list[str]:
    """``trtllm_comm`` (gen_trtllm_comm_module, flashinfer/jit/comm.py)."""
    return ["trtllm_comm"]


def allreduce_fusion(ctx: Any) -> str:
    """Load the allreduce-fusion module and run its single-GPU Lamport init kernel."""
    from flashinfer.comm import trtllm_ar  # type: ignore

    dev = ctx.device
    trtllm_ar.get_trtllm_comm_module()
    buf = torch.ones(4096, dtype=torch.bfloat16, device=dev)
    trtllm_ar.trtllm_lamport_initialize(buf.data_ptr(), buf.numel(), torch.bfloat16)
    torch.cuda.synchronize(dev)
    if not (torch.all(buf == 0) and torch.all(torch.signbit(buf))):
        raise CheckFailed("trtllm_lamport_initialize did not set the buffer to -0.0")
    return ("module loads; its single-GPU Lamport init kernel set 4096 bf16 values to -0.0 "
            "(no collective run: one GPU)")
