"""Summary statistics of timing samples: median with a distribution-free confidence
interval, and the relative noise nvbench reports.

The interval for the median is the order-statistic (sign-test) interval: with the samples
sorted, ``[x(l), x(u)]`` with ``u = n + 1 - l`` covers the population median with
probability ``1 - 2 * P(B <= l - 1)``, ``B ~ Binomial(n, 1/2)``, whatever the distribution
of the samples (W. J. Conover, *Practical Nonparametric Statistics*, 3rd ed., 1999, section
3.2, "confidence interval for a quantile"; the same interval as
``scipy.stats.quantile_test(...).confidence_interval``). ``l`` is the largest rank that keeps
the coverage at or above the requested level, so the interval is conservative: for 10
samples at 95% it is ``[x(2), x(9)]`` with coverage 97.9%. Below 6 samples no interval
reaches 95% (``[min, max]`` covers 1 - 2^(1-n)), and the interval is reported as missing.

The samples must be independent for the coverage to hold. Samples of one timed pass all
share what that pass's allocation and graph capture fixed (on an H200 two passes of a ~2 us
one-row rmsnorm read 2.04 and 2.36 us, each with a +-0.05% interval; with rounds, the first
round read 1.985 us and the next two 2.296 us in each of two processes,
audits/h200-2026-11-30-b; not the input copies' layout but the first rounds of a process,
audits/h200-2026-11-30-c and :mod:`fibench.measure.warmup`), so a row is timed in rounds, each over a fresh
allocation and a fresh graph capture (:func:`fibench.measure.timing.run_timing`). With two
rounds or more the row's interval is the union of the order-statistic interval of the
pooled samples and a two-level (hierarchical) bootstrap interval,
:func:`hierarchical_median_ci`, so it covers the spread between rounds; with one round it
describes that one pass only. Neither sees variation that the rounds do not sample
(another process, a later hour, another machine): ``fibench compare`` asks for a change
beyond its threshold for that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
"""Default confidence level of the median's interval."""


def median_ci_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """1-based ranks ``(l, u)`` of the order statistics bounding the median's interval.

    Args:
        n: number of samples (>= 1).
        confidence: coverage wanted, in (0, 1).

    Returns:
        ``(l, u)`` with ``u = n + 1 - l``, or None when even ``[min, max]`` covers less
        than ``confidence`` (n <= 5 at 95%).

    Raises:
        ValueError: n < 1 or confidence outside (0, 1).
    """
    from scipy.stats import binom

    if n < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n >= 1 and 0 < confidence < 1, got n={n}, confidence={confidence}")
    tail = (1 - confidence) / 2
    k = int(binom.ppf(tail, n, 0.5))  # smallest k with P(B <= k) >= tail
    if binom.cdf(k, n, 0.5) > tail:
        k -= 1  # largest k with P(B <= k) <= tail
    lower = k + 1
    if lower < 1:
        return None
    return lower, n + 1 - lower


def median_ci_coverage(n: int, lower: int) -> float:
    """Exact coverage of ``[x(lower), x(n + 1 - lower)]`` for the median of n samples."""
    from scipy.stats import binom

    return float(1 - 2 * binom.cdf(lower - 1, n, 0.5))


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Distribution-free interval for the median (see the module docstring).

    Args:
        samples: per-call times (any unit; the interval has the same unit).

    Returns:
        ``(low, high)`` or None when there are too few samples for ``confidence``.
    """
    arr = np.sort(np.asarray(samples, dtype=np.float64))
    ranks = median_ci_ranks(int(arr.size), confidence)
    if ranks is None:
        return None
    return float(arr[ranks[0] - 1]), float(arr[ranks[1] - 1])


def relative_halfwidth(median: float, ci: tuple[float, float] | None) -> float:
    """Half the interval's width over the median (0.005 = +-0.5%); inf without an interval
    or with a zero median."""
    if ci is None or median <= 0:
        return math.inf
    return (ci[1] - ci[0]) / 2 / median


BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the two-level bootstrap (Davison & Hinkley suggest >= 1000 for percentile
intervals, section 5.2.3)."""
MAX_BOOTSTRAP_SAMPLES = 4000
"""Samples the two-level bootstrap uses at most (each group keeps its share, drawn without
replacement; fewer samples can only widen the interval, and 2000 resamples of an adaptive
row's 100k samples would take seconds)."""
_CHUNK_ELEMENTS = 1 << 21
"""Resampled values held at once (memory bound of :func:`hierarchical_medians`)."""


def _capped(groups: Sequence[np.ndarray], max_samples: int, rng: np.random.Generator) -> list[np.ndarray]:
    total = sum(g.size for g in groups)
    if total <= max_samples:
        return list(groups)
    keep = [max(1, round(g.size * max_samples / total)) for g in groups]
    return [rng.choice(g, k, replace=False) if k < g.size else g for g, k in zip(groups, keep)]


def hierarchical_medians(groups: Sequence[Sequence[float]], rng: np.random.Generator, *,
                         resamples: int = BOOTSTRAP_RESAMPLES,
                         max_samples: int = MAX_BOOTSTRAP_SAMPLES) -> np.ndarray:
    """Pooled medians of two-level bootstrap resamples of grouped samples.

    Each resample draws as many groups as there are, with replacement (first level), then
    from each drawn group as many samples as it holds, with replacement (second level), and
    takes the median of everything drawn: the two-stage (cluster) bootstrap of A. C.
    Davison and D. V. Hinkley, *Bootstrap Methods and their Application*, 1997, section
    3.8 (resampling both stages, their Strategy 2). Vectorised over blocks of resamples:
    groups are padded with NaN to one width, positions past a drawn group's size are NaN,
    and the median of ``m`` values is read with one ``np.partition`` per distinct ``m``
    (NaN sorts after every number).

    Args:
        groups: samples per group (e.g. per-call us of each timing round); one group gives
            the ordinary bootstrap of the median.
        rng: random source (seed it for reproducible intervals).
        resamples: number of resamples.
        max_samples: at most this many samples in all (see :data:`MAX_BOOTSTRAP_SAMPLES`).

    Returns:
        ``resamples`` pooled medians (same unit as the samples).

    Raises:
        ValueError: no group, or an empty group.
    """
    arrays = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("need at least one group and no empty group")
    arrays = _capped(arrays, max_samples, rng)
    sizes = np.array([a.size for a in arrays])
    n_groups, width = len(arrays), int(sizes.max())
    padded = np.full((n_groups, width), np.nan)
    for i, a in enumerate(arrays):
        padded[i, :a.size] = a
    out = np.empty(resamples)
    block = max(1, _CHUNK_ELEMENTS // (n_groups * width))
    position = np.arange(width)
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        drawn = rng.integers(0, n_groups, size=(b, n_groups))            # first level: groups
        counts = sizes[drawn]                                            # (b, groups)
        bound = counts[..., None]                                        # second level: samples
        index = np.minimum((rng.random((b, n_groups, width)) * bound).astype(np.int64), bound - 1)
        values = padded[drawn[..., None], index]
        values[position >= counts[..., None]] = np.nan                   # past the drawn group's size
        values = values.reshape(b, n_groups * width)
        totals = counts.sum(axis=1)
        for m in np.unique(totals):
            rows = np.flatnonzero(totals == m)
            lo, hi = (m - 1) // 2, m // 2
            part = np.partition(values[rows], (lo, hi), axis=1)
            out[start + rows] = (part[:, lo] + part[:, hi]) / 2
    return out


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of the resampled statistic (Efron & Tibshirani 1993, ch. 13)."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def hierarchical_median_ci(groups: Sequence[Sequence[float]], confidence: float = CONFIDENCE, *,
                           seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """Percentile interval of the pooled median from the two-level bootstrap
    (:func:`hierarchical_medians`), with a fixed seed so a row's interval is reproducible.

    The first level sees the spread between groups: with G groups whose medians differ by
    more than their own noise, the interval reaches roughly from the lowest to the highest
    group (each extreme is drawn G times in a row with probability G^-G, 3.7% for G = 3).
    With few groups it is not a 95% interval for the population of groups (3 groups cover
    the population median with about 75% probability, the chance that it lies between the
    lowest and highest of three draws); it says how far the rounds disagree.

    Args:
        groups: samples per group, same unit in and out (us for timing rounds).
    """
    return percentile_interval(hierarchical_medians(groups, np.random.default_rng(seed), resamples=resamples),
                               confidence)


def split_rounds(samples: Sequence[float], round_sizes: Sequence[int]) -> list[np.ndarray]:
    """Pooled samples cut back into rounds of ``round_sizes`` (in order).

    Raises:
        ValueError: the sizes do not add up to the number of samples, or one is < 1.
    """
    arr = np.asarray(samples, dtype=np.float64)
    if sum(round_sizes) != arr.size or any(int(k) < 1 for k in round_sizes):
        raise ValueError(f"round sizes {list(round_sizes)} do not split {arr.size} samples")
    return np.split(arr, np.cumsum(round_sizes)[:-1].astype(int))


def round_spread_pct(round_medians: Sequence[float]) -> float | None:
    """100 x (max - min) / median of the round medians; None with fewer than two rounds or
    a zero median."""
    if len(round_medians) < 2:
        return None
    mid = float(np.median(round_medians))
    return 100 * (max(round_medians) - min(round_medians)) / mid if mid > 0 else None


@dataclass(frozen=True)
class Stats:
    """Summary of per-call times, all in microseconds.

    ``std_us`` is the sample standard deviation (ddof=1; 0 for a single sample);
    percentiles use linear interpolation (numpy's default); ``ci_low_us`` /
    ``ci_high_us`` bound the median at ``ci_level`` (None with too few samples).
    """

    median_us: float
    mean_us: float
    std_us: float
    min_us: float
    max_us: float
    p10_us: float
    p90_us: float
    samples: int
    ci_low_us: float | None = None
    ci_high_us: float | None = None
    ci_level: float = CONFIDENCE

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean); 0 when the mean is 0."""
        return self.std_us / self.mean_us if self.mean_us else 0.0

    @property
    def noise_pct(self) -> float:
        """Relative noise in percent: 100 x std / mean, nvbench's "Noise" (the relative
        standard deviation its stdrel stopping criterion tracks; nvbench
        docs/cli_help.md ``--max-noise``)."""
        return 100 * self.cv

    @property
    def ci_halfwidth_pct(self) -> float:
        """Half-width of the median's interval in percent of the median (inf without one)."""
        ci = None if self.ci_low_us is None or self.ci_high_us is None else (self.ci_low_us, self.ci_high_us)
        return 100 * relative_halfwidth(self.median_us, ci)


def summarize(samples_us: Sequence[float], confidence: float = CONFIDENCE, *,
              round_sizes: Sequence[int] | None = None) -> Stats:
    """Summarise per-call times.

    Args:
        samples_us: per-call times in microseconds (one per timed sample), the rounds one
            after another.
        confidence: level of the median's interval.
        round_sizes: samples of each timing round, in order (None: one round). With two
            rounds or more the median's interval is the union of the pooled order-statistic
            interval and :func:`hierarchical_median_ci` (see the module docstring); with too
            few samples for the former there is no interval, as with one round.

    Raises:
        ValueError: no samples, a negative / non-finite sample, or round sizes that do not
            add up to the samples.
    """
    arr = np.asarray(samples_us, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timing samples")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"invalid timing samples (negative or non-finite): {arr[:5]}")
    ci = median_ci(arr, confidence)
    rounds = split_rounds(arr, round_sizes) if round_sizes is not None else [arr]
    if ci is not None and len(rounds) >= 2:
        low, high = hierarchical_median_ci(rounds, confidence)
        ci = (min(ci[0], low), max(ci[1], high))
    return Stats(
        median_us=float(np.median(arr)),
        mean_us=float(arr.mean()),
        std_us=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min_us=float(arr.min()),
        max_us=float(arr.max()),
        p10_us=float(np.percentile(arr, 10)),
        p90_us=float(np.percentile(arr, 90)),
        samples=int(arr.size),
        ci_low_us=ci[0] if ci else None,
        ci_high_us=ci[1] if ci else None,
        ci_level=confidence,
    )
