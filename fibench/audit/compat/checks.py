"""Output checks the probes run after a kernel call: finiteness, closeness to a tiny
fp32 torch reference, and the attention reference shared by the attention probes.

Imported only inside probe subprocesses (it imports torch).
"""

from __future__ import annotations

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
    """Softmax attention for ONE request in fp32 (the attention suites' reference,
    :func:`fibench.suites.attention.reference.attention_fp32`, without its LSE).

    Args:
        q: (qo_len, num_qo_heads, head_dim).
        k, v: (kv_len, num_kv_heads, head_dim); GQA: query head h reads kv head h // group.
        causal: query i sees keys j <= i + kv_len - qo_len (FlashInfer's bottom-right
            alignment).
        sinks: optional (num_qo_heads,) logits added to the softmax denominator as
            ``exp(sink)`` (the AttentionSink variant in flashinfer/jit/attention/variants.py).
        sm_scale: defaults to 1/sqrt(head_dim).

    Returns:
        (qo_len, num_qo_heads, head_dim) fp32.
    """
    from fibench.suites.attention.reference import attention_fp32

    return attention_fp32(q, k, v, causal=causal, sinks=sinks, sm_scale=sm_scale)[0]
