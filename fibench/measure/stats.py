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

The samples must be independent for the coverage to hold; timing samples drift with clocks
and temperature, so the interval describes one timed pass, not run-to-run variation
(``fibench compare`` asks for a change beyond its threshold for that reason).
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


def summarize(samples_us: Sequence[float], confidence: float = CONFIDENCE) -> Stats:
    """Summarise per-call times.

    Args:
        samples_us: per-call times in microseconds (one per timed sample).
        confidence: level of the median's interval.

    Raises:
        ValueError: no samples, or a negative / non-finite sample.
    """
    arr = np.asarray(samples_us, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timing samples")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"invalid timing samples (negative or non-finite): {arr[:5]}")
    ci = median_ci(arr, confidence)
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
