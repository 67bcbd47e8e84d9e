"""Small-op probes (run inside a probe subprocess): RMSNorm, fused add + RMSNorm, gated
activations, RoPE, top-k/top-p sampling, NVFP4 quantize. Each runs FlashInfer on tiny
inputs and checks the output against an fp32 torch reference or, for sampling, against
invariants that hold for any random draw.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from fibench.audit.compat.checks import CheckFailed, close_to, rel_l2_close, require_finite
from fibench.suites.quant import unpack_e2m1

ROWS, HIDDEN = 5, 1024
ATOL, RTOL = 2e-2, 2e-2
EPS = 1e-6


def _norm_path() -> str:
    """Which RMSNorm implementation flashinfer.norm dispatches to (flashinfer/norm/__init__.py:
    CuTe DSL kernels unless nvidia-cutlass-dsl is missing or FLASHINFER_USE_CUDA_NORM=1)."""
    import flashinfer.norm as norm  # type: ignore

    return "cuda-jit" if getattr(norm, "_USE_CUDA_NORM", True) else "cute-dsl"


def norm_modules(**_: Any) -> list[str]:
    """``norm`` (gen_norm_module) when the CUDA JIT path is used; none for CuTe DSL."""
    return ["norm"] if _norm_path() == "cuda-jit" else []


def _rms_ref(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    xf = x.float()
    return xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + EPS) * w.float()


def rmsnorm(ctx: Any) -> str:
    """norm.rmsnorm on (5, 1024) bf16."""
    import flashinfer  # type: ignore

    torch.manual_seed(0)
    x = torch.randn(ROWS, HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    w = torch.randn(HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    out = flashinfer.norm.rmsnorm(x, w, eps=EPS)
    torch.cuda.synchronize(ctx.device)
    return f"{_norm_path()} path; " + close_to("rmsnorm", out, _rms_ref(x, w), ATOL, RTOL)


def fused_add_rmsnorm(ctx: Any) -> str:
    """norm.fused_add_rmsnorm (in place: residual += x; x = rmsnorm(residual))."""
    import flashinfer  # type: ignore

    torch.manual_seed(0)
    x = torch.randn(ROWS, HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    res = torch.randn(ROWS, HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    w = torch.randn(HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    summed = x.float() + res.float()
    flashinfer.norm.fused_add_rmsnorm(x, res, w, eps=EPS)
    torch.cuda.synchronize(ctx.device)
    close_to("fused_add_rmsnorm residual", res, summed, ATOL, RTOL)
    detail = close_to("fused_add_rmsnorm", x, _rms_ref(summed, w), ATOL, RTOL)
    return f"{_norm_path()} path; residual and output " + detail


_ACT_REF = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
}


def act_modules(act: str, **_: Any) -> list[str]:
    """``<act>_and_mul`` (gen_act_and_mul_module, flashinfer/jit/activation.py)."""
    return [f"{act}_and_mul"]


def act_and_mul(ctx: Any, act: str) -> str:
    """activation.<act>_and_mul on (5, 2 * 1024) bf16: act(x[:, :H]) * x[:, H:]."""
    import flashinfer  # type: ignore

    torch.manual_seed(0)
    x = torch.randn(ROWS, 2 * HIDDEN, dtype=torch.bfloat16, device=ctx.device)
    out = getattr(flashinfer.activation, f"{act}_and_mul")(x)
    torch.cuda.synchronize(ctx.device)
    xf = x.float()
    ref = _ACT_REF[act](xf[:, :HIDDEN]) * xf[:, HIDDEN:]
    return close_to(f"{act}_and_mul", out, ref, ATOL, RTOL)


def rope_modules(**_: Any) -> list[str]:
    """``rope`` (gen_rope_module, flashinfer/jit/rope.py)."""
    return ["rope"]


def _rope_ref(x: torch.Tensor, pos: torch.Tensor, theta: float) -> torch.Tensor:
    """Non-interleaved ("rotate half") RoPE in fp32; x: (nnz, heads, d)."""
    d = x.shape[-1]
    half = d // 2
    inv_freq = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) * 2 / d)
    ang = pos.float()[:, None] * inv_freq[None, :]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def rope(ctx: Any) -> str:
    """rope.apply_rope_pos_ids on q (6, 4, 128), k (6, 2, 128) fp16, positions 0..45."""
    import flashinfer  # type: ignore

    torch.manual_seed(0)
    q = torch.randn(6, 4, 128, dtype=torch.float16, device=ctx.device)
    k = torch.randn(6, 2, 128, dtype=torch.float16, device=ctx.device)
    pos = torch.tensor([0, 1, 2, 7, 20, 45], dtype=torch.int32, device=ctx.device)
    q_rot, k_rot = flashinfer.rope.apply_rope_pos_ids(q, k, pos, rope_theta=1e4)
    torch.cuda.synchronize(ctx.device)
    close_to("rope q", q_rot, _rope_ref(q, pos, 1e4), ATOL, RTOL)
    return "q and k " + close_to("rope k", k_rot, _rope_ref(k, pos, 1e4), ATOL, RTOL)


def sampling_modules(**_: Any) -> list[str]:
    """``sampling`` (gen_sampling_module, flashinfer/jit/sampling.py)."""
    return ["sampling"]


def sampling(ctx: Any) -> str:
    """top_k_top_p_sampling_from_probs, both filter orders; invariants checked:
    every sample lies in its row's top-k set; with a 0.95-mass token and top_p=0.5 the
    sample is that token; dtype int32 and shape (batch,)."""
    import flashinfer  # type: ignore

    dev = ctx.device
    gen = torch.Generator(device=dev).manual_seed(0)
    batch, vocab, top_k, draws = 4, 128, 5, 16
    probs = torch.rand(batch, vocab, device=dev, generator=gen) + 1e-3
    probs = probs / probs.sum(dim=-1, keepdim=True)
    allowed = torch.zeros_like(probs, dtype=torch.bool)
    allowed.scatter_(1, probs.topk(top_k, dim=-1).indices, True)
    for order in ("top_k_first", "joint"):
        for _ in range(draws):
            s = flashinfer.sampling.top_k_top_p_sampling_from_probs(
                probs, top_k, 0.9, filter_apply_order=order, generator=gen)
            if s.dtype not in (torch.int32, torch.int64) or tuple(s.shape) != (batch,):
                raise CheckFailed(f"sampling ({order}): got {s.dtype} {tuple(s.shape)}, want int32 ({batch},)")
            if not allowed.gather(1, s.long()[:, None]).all():
                raise CheckFailed(f"sampling ({order}): a sample fell outside the top-{top_k} set")
    peaked = torch.full((batch, vocab), 0.05 / (vocab - 1), device=dev)
    hot = torch.arange(batch, device=dev) * 7
    peaked[torch.arange(batch, device=dev), hot] = 0.95
    s = flashinfer.sampling.top_k_top_p_sampling_from_probs(peaked, vocab // 2, 0.5, generator=gen)
    torch.cuda.synchronize(dev)
    if not torch.equal(s.long(), hot):
        raise CheckFailed("sampling: top_p=0.5 with one 0.95-mass token did not return that token")
    return (f"{2 * draws} draws x {batch} rows stayed in the top-{top_k} set (top_k_first and joint); "
            "top_p=0.5 picked the 0.95-mass token")


def _fp4_arch() -> str:
    """Module suffix get_fp4_quantization_module picks (quantization/fp4_quantization.py)."""
    major, minor = torch.cuda.get_device_capability()
    if major == 12 and torch.version.cuda and tuple(int(p) for p in torch.version.cuda.split(".")[:2]) >= (12, 9):
        return "120f"
    return f"{major}{minor}"


def fp4_modules(**_: Any) -> list[str]:
    """``fp4_quantization_<sm>`` for this GPU."""
    return [f"fp4_quantization_{_fp4_arch()}"]


def _dequant_nvfp4(packed: torch.Tensor, sf: torch.Tensor, global_scale: float, block: int) -> torch.Tensor:
    """Unpack e2m1 nibbles (low nibble = even element) times the e4m3 block scale."""
    b = packed.view(torch.uint8)
    vals = unpack_e2m1(b)
    scales = sf.view(torch.float8_e4m3fn).float().reshape(b.shape[0], -1)
    return (vals.view(b.shape[0], -1, block) * scales[..., None]).reshape(b.shape[0], -1) / global_scale


def fp4_quantize(ctx: Any) -> str:
    """fp4_quantize (NVFP4, 16-element blocks, linear scale layout) on (128, 64) bf16,
    dequantized on the GPU with torch and compared by relative L2 error."""
    import flashinfer  # type: ignore

    torch.manual_seed(0)
    x = torch.randn(128, 64, dtype=torch.bfloat16, device=ctx.device)
    gs = (448.0 * 6.0) / x.float().abs().max()
    x_q, sf = flashinfer.fp4_quantize(x, gs.reshape(1), 16, False, False)
    torch.cuda.synchronize(ctx.device)
    if tuple(x_q.shape) != (128, 32):
        raise CheckFailed(f"fp4_quantize: packed shape {tuple(x_q.shape)}, want (128, 32)")
    deq = _dequant_nvfp4(x_q, sf, gs.item(), 16)
    require_finite("fp4 dequant", deq)
    return "quantize -> torch dequantize " + rel_l2_close("fp4_quantize", deq, x.float(), 0.2)
