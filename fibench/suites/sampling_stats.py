"""Statistical parity of a sampler: exact renormalised distributions and a total-variation
test of empirical draws against them.

A sampler passes when (1) every draw lies in its row's allowed set (top-k / nucleus / min-p,
with a small band of ambiguous tokens at the threshold where float32 summation order can
decide membership) and (2) for every tested row the total-variation distance between the
empirical distribution of N draws and the exact renormalised distribution is within

    eps = sqrt((ln(2^K - 2) + ln(R / delta)) / (2 N)),

the L1 concentration bound of Weissman, Ordentlich, Seroussi, Verdu and Weinberger,
"Inequalities for the L1 deviation of the empirical distribution" (HP Labs HPL-2003-97,
2003; a Bretagnolle-Huber-Carol type inequality): P(||P_N - P||_1 >= e) <= (2^K - 2)
exp(-N e^2 / 2) for K outcomes, i.e. P(TV >= eps) <= (2^K - 2) exp(-2 N eps^2), with a union
bound over the R rows: a correct sampler fails with probability at most ``delta``.
To keep K small whatever the nucleus size, the outcomes are binned: the K - 1 most likely
allowed tokens one by one and the rest of the allowed set as one bin (TV on a coarsening
never exceeds the full TV, so the test stays valid; it is blind only to errors inside the
merged tail). flashinfer-bench's sampling evaluator (flashinfer_bench/bench/evaluators/
sampling.py) applies a fixed TV threshold of 0.2 over 500000 draws and skips the test when
the nucleus is too large; here the bound is derived and the test never skips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from fibench.parity.metrics import ParityResult, WorstElement

DRAWS = 16384
"""Draws per tested row (N)."""
ROWS = 4
"""Rows of a case tested (the first ones): R."""
BINS = 32
"""Outcomes of the binned test: K."""
DELTA = 1e-6
"""Probability that a correct sampler fails the TV test."""
AMBIGUOUS_REL = 1e-5
"""Relative band around a threshold where float32 rounding may decide membership."""


def tv_bound(draws: int, bins: int, rows: int, delta: float = DELTA) -> float:
    """The TV bound ``eps`` above (0 when fewer than 2 outcomes: the draw is forced)."""
    if bins < 2:
        return 0.0
    return math.sqrt((math.log(2.0 ** bins - 2) + math.log(rows / delta)) / (2.0 * draws))


def _top_k_mask(p: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    kth = p.topk(min(k, p.shape[-1]), dim=-1).values[:, -1:]
    return p >= kth, (p - kth).abs() <= AMBIGUOUS_REL * kth


def _top_p_mask(p: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Nucleus: tokens whose strictly more likely mass is < top_p (the smallest prefix of
    the sorted distribution reaching top_p)."""
    srt, idx = p.sort(dim=-1, descending=True)
    before = srt.cumsum(-1) - srt
    keep = torch.zeros_like(p, dtype=torch.bool).scatter(1, idx, before < top_p)
    near = torch.zeros_like(keep).scatter(1, idx, (before - top_p).abs() <= AMBIGUOUS_REL)
    return keep, near


def _renorm(p: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    q = torch.where(keep, p, 0.0)
    return q / q.sum(dim=-1, keepdim=True)


def exact_distribution(p: torch.Tensor, op: str, *, top_k: int, top_p: float, min_p: float
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The renormalised distribution a correct sampler of ``op`` draws from, and the tokens
    it may draw (the support plus the ambiguous band at the threshold).

    Args:
        p: [rows, vocab] probabilities (float64 recommended).
        op: top_k, top_p, top_k_top_p (top-k first, then top-p on the renormalised top-k:
            FlashInfer's default ``filter_apply_order``) or min_p (p >= min_p x max p); a
            ``_logits`` suffix is accepted and ignored (``p`` is then softmax(logits)).

    Returns:
        (dist [rows, vocab] float64 summing to 1, allowed [rows, vocab] bool).

    Raises:
        ValueError: unknown op.
    """
    base = op.removesuffix("_logits")
    p = p.double()
    if base == "top_k":
        keep, near = _top_k_mask(p, top_k)
    elif base == "top_p":
        keep, near = _top_p_mask(p, top_p)
    elif base == "top_k_top_p":
        k_keep, k_near = _top_k_mask(p, top_k)
        p_keep, p_near = _top_p_mask(_renorm(p, k_keep), top_p)
        return _renorm(p, p_keep & k_keep), (p_keep | p_near) & (k_keep | k_near)
    elif base == "min_p":
        thr = min_p * p.max(dim=-1, keepdim=True).values
        keep, near = p >= thr, (p - thr).abs() <= AMBIGUOUS_REL * thr
    else:
        raise ValueError(f"unknown sampling op {op!r}")
    return _renorm(p, keep), keep | near


@dataclass
class SamplingParity(ParityResult):
    """Statistical parity of a sampler, in :class:`ParityResult`'s fields: ``rule`` "tv-bound",
    ``atol`` the largest TV bound of the tested rows, ``max_abs_err`` / ``mean_abs_err`` the
    max / mean TV, ``max_err_over_tol`` max TV / bound, ``within_tol_frac`` the fraction of
    draws inside their allowed set, ``worst`` draws outside it then the rows furthest over
    their bound; ``bitwise_equal_frac``, ``max_rel_err`` and ``cosine`` do not apply (NaN),
    ``max_ulp`` is -1. :attr:`extra` keeps N, K, delta and per-row TVs and bounds."""

    details: dict[str, Any] = field(default_factory=dict)

    @property
    def extra(self) -> dict[str, Any]:
        """JSONL facts of the test."""
        return {"sampling_parity": self.details}


def tv_check(draws: torch.Tensor, dist: torch.Tensor, allowed: torch.Tensor, *, bins: int = BINS,
             delta: float = DELTA) -> SamplingParity:
    """Test draws against exact distributions (see the module docstring).

    Args:
        draws: [N, R] integer token ids, column r drawn from row r.
        dist: [R, vocab] exact renormalised distributions; allowed: [R, vocab] bool.

    Raises:
        ValueError: shapes disagree.
    """
    n, rows = draws.shape
    if dist.shape[0] != rows or allowed.shape != dist.shape:
        raise ValueError(f"draws for {rows} rows vs distributions {tuple(dist.shape)} / {tuple(allowed.shape)}")
    vocab = dist.shape[1]
    d = draws.long().to(dist.device)
    in_range = (d >= 0) & (d < vocab)
    inside = in_range & allowed.gather(1, d.clamp(0, vocab - 1).t()).t()
    tvs, bounds, worst = [], [], []
    for r in range(rows):
        counts = torch.bincount(d[:, r][in_range[:, r]], minlength=vocab).double()
        top = dist[r].topk(min(int((dist[r] > 0).sum()), bins - 1)).indices  # outcome per token...
        p_top, c_top = dist[r][top], counts[top]
        rest_p = max(0.0, 1.0 - float(p_top.sum()))  # ...and one for the rest of the allowed set
        rest_c = float(inside[:, r].sum()) - float(c_top.sum())
        tvs.append(0.5 * (float((c_top / n - p_top).abs().sum()) + abs(rest_c / n - rest_p)
                          + float((~inside[:, r]).sum()) / n))
        bounds.append(tv_bound(n, top.numel() + 1, rows, delta))
    outside = (~inside).nonzero().tolist()
    worst += [WorstElement("draws", (j, r), float("nan"), float(draws[j, r]), float("inf"), -1) for j, r in outside[:5]]
    over = sorted(range(rows), key=lambda r: tvs[r] - bounds[r], reverse=True)
    worst += [WorstElement("tv", (r,), bounds[r], tvs[r], max(0.0, tvs[r] - bounds[r]), -1) for r in over
              if tvs[r] > bounds[r]][:5 - len(worst[:5])]
    ok = not outside and all(t <= b for t, b in zip(tvs, bounds))
    ratio = [t / b if b > 0 else (0.0 if t == 0 else float("inf")) for t, b in zip(tvs, bounds)]
    return SamplingParity(
        verdict="pass" if ok else "fail", rule="tv-bound", atol=max(bounds), rtol=0.0, elements=n * rows,
        bitwise_equal_frac=float("nan"), max_ulp=-1, max_abs_err=max(tvs), mean_abs_err=sum(tvs) / rows,
        max_rel_err=float("nan"), cosine=float("nan"), within_tol_frac=float(inside.double().mean()),
        max_err_over_tol=max(ratio), nan_count=0, inf_count=0, bad_nonfinite=0, worst=worst[:5],
        details={"draws_per_row": n, "rows": rows, "bins": bins, "delta": delta, "tv": tvs, "tv_bound": bounds,
                 "outside_allowed": len(outside)})
