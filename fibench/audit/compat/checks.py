"""Output checks the probes run after a kernel call: finiteness, closeness to a tiny
fp32 torch reference, and the attention reference shared by the attention probes.

Imported only inside probe subprocesses (it imports torch).
"""

from __future__ import annotations

import math

import torch


class CheckFailed(Exception):
    """The kernel ran but its output is wrong (non-finite or far from the reference)."""


def require_finite(name: str, out: torch.Tensor) -> None:
    """Raise :class:`CheckFailed` when ``out`` holds NaN or Inf."""
    bad = (~torch.isfinite(out.float())).sum().item()
    if bad:
        raise CheckFailed(f"{name}: {bad} of {out.numel()} output values are NaN/Inf")


def close_to(name: str, out: torch.Tensor, ref: torch.Tensor, atol: float, rtol: float) -> str:
    """Check ``|out - ref| <= atol + rtol * |ref|`` element-wise (fp32 compare).

    Returns:
        One line saying what was verified, with the max absolute error.

    Raises:
        CheckFailed: shape mismatch, non-finite output, or a tolerance violation.
    """
    if tuple(out.shape) != tuple(ref.shape):
        raise CheckFailed(f"{name}: output shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
    require_finite(name, out)
    o, r = out.float(), ref.float()
    err = (o - r).abs()
    bad = (err > atol + rtol * r.abs()).sum().item()
    max_err = err.max().item() if err.numel() else 0.0
    if bad:
        raise CheckFailed(
            f"{name}: {bad} of {o.numel()} values outside atol={atol:g} rtol={rtol:g} "
            f"of the torch reference (max abs err {max_err:.3g})"
        )
    return f"matches torch fp32 reference (max abs err {max_err:.2g}, atol {atol:g}, rtol {rtol:g})"


def rel_l2_close(name: str, out: torch.Tensor, ref: torch.Tensor, tol: float) -> str:
    """Check ``||out - ref|| / ||ref|| <= tol`` (for quantized paths where element-wise
    tolerances are too noisy). Returns a one-line description; raises CheckFailed."""
    if tuple(out.shape) != tuple(ref.shape):
        raise CheckFailed(f"{name}: output shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
    require_finite(name, out)
    o, r = out.float(), ref.float()
    denom = r.norm().item()
    rel = (o - r).norm().item() / denom if denom > 0 else (o - r).norm().item()
    if not rel <= tol:
        raise CheckFailed(f"{name}: relative L2 error {rel:.3g} vs torch reference exceeds {tol:g}")
    return f"matches torch fp32 reference (relative L2 error {rel:.2g} <= {tol:g})"


def attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool,
    sinks: torch.Tensor | None = None,
    sm_scale: float | None = None,
) -> torch.Tensor:
    """Softmax attention for ONE request in fp32.

    Args:
        q: (qo_len, num_qo_heads, head_dim).
        k, v: (kv_len, num_kv_heads, head_dim); GQA by repeating kv heads.
        causal: query i sees keys j <= i + kv_len - qo_len (FlashInfer's bottom-right
            alignment).
        sinks: optional (num_qo_heads,) logits added to the softmax denominator as
            ``exp(sink)`` (the AttentionSink variant in flashinfer/jit/attention/variants.py).
        sm_scale: defaults to 1/sqrt(head_dim).

    Returns:
        (qo_len, num_qo_heads, head_dim) fp32.
    """
    qo_len, hq, d = q.shape
    kv_len, hkv, _ = k.shape
    scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(d)
    group = hq // hkv
    kf = k.float().repeat_interleave(group, dim=1)
    vf = v.float().repeat_interleave(group, dim=1)
    scores = torch.einsum("qhd,khd->hqk", q.float(), kf) * scale
    if causal:
        i = torch.arange(qo_len, device=q.device)[:, None]
        j = torch.arange(kv_len, device=q.device)[None, :]
        scores = scores.masked_fill((j > i + kv_len - qo_len)[None], float("-inf"))
    m = scores.amax(dim=-1, keepdim=True)
    if sinks is not None:
        m = torch.maximum(m, sinks.float().view(hq, 1, 1))
    p = torch.exp(scores - m)
    denom = p.sum(dim=-1, keepdim=True)
    if sinks is not None:
        denom = denom + torch.exp(sinks.float().view(hq, 1, 1) - m)
    out = torch.einsum("hqk,khd->qhd", p / denom, vf)
    return out
