"""Summary statistics of timing samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of per-call times, all in microseconds.

    ``std_us`` is the sample standard deviation (ddof=1; 0 for a single sample);
    percentiles use linear interpolation (numpy's default).
    """

    median_us: float
    mean_us: float
    std_us: float
    min_us: float
    max_us: float
    p10_us: float
    p90_us: float
    samples: int

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean); 0 when the mean is 0."""
        return self.std_us / self.mean_us if self.mean_us else 0.0


def summarize(samples_us: Sequence[float]) -> Stats:
    """Summarise per-call times.

    Args:
        samples_us: per-call times in microseconds (one per timed sample).

    Raises:
        ValueError: no samples, or a negative / non-finite sample.
    """
    arr = np.asarray(samples_us, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timing samples")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"invalid timing samples (negative or non-finite): {arr[:5]}")
    return Stats(
        median_us=float(np.median(arr)),
        mean_us=float(arr.mean()),
        std_us=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min_us=float(arr.min()),
        max_us=float(arr.max()),
        p10_us=float(np.percentile(arr, 10)),
        p90_us=float(np.percentile(arr, 90)),
        samples=int(arr.size),
    )
