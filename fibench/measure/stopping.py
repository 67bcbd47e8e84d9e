"""When to stop sampling a row: a fixed count, or adaptive stopping on the median's interval.

Anchor: nvbench's ``stdrel`` criterion (nvbench/detail/stdrel_criterion.cxx, options in
docs/cli_help.md) samples a cold measurement until the relative standard deviation drops
below ``--max-noise`` (default 0.5%), after at least ``--min-samples`` (10) and
``--min-time``, or until ``--timeout`` (15 s of wall time). fibench keeps the shape (a noise
target, a minimum sample count, a wall-time cap) but stops on the half-width of the
median's distribution-free interval (:func:`fibench.measure.stats.median_ci`) relative to
the median: unlike the standard deviation, that half-width shrinks as samples accumulate
(~1/sqrt(n)), so it says when the reported number is pinned down, and it ignores the rare
long outliers a GPU timeline has. Rows that stop on the time cap say so (``stop_reason``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from fibench.measure.stats import CONFIDENCE, median_ci, relative_halfwidth

DEFAULT_MIN_SAMPLES = 10
"""nvbench's ``--min-samples`` default."""
DEFAULT_MAX_TIME_S = 10.0
"""Wall-time cap of one row's sampling (nvbench's ``--timeout`` is 15 s per measurement;
fibench sweeps many rows, so a little less)."""
MAX_SAMPLES = 100_000
"""Hard cap on samples per row (memory, and the JSONL copy of the samples)."""

STOP_ITERS = "iters"
STOP_TARGET = "target-noise"
STOP_TIME = "max-time"
STOP_CAP = "max-samples"


@dataclass(frozen=True)
class StopRule:
    """When one row stops sampling.

    Attributes:
        min_samples: fixed mode: exactly this many samples (``--iters``); adaptive: at
            least this many (``--min-samples``).
        target_pct: adaptive mode when set: stop once the median's interval half-width is
            at most this percent of the median (``--target-noise``).
        max_time_s: adaptive mode: stop after this much wall time of sampling.
        max_samples: adaptive mode: never more samples than this.
        confidence: level of the median's interval.
    """

    min_samples: int
    target_pct: float | None = None
    max_time_s: float = DEFAULT_MAX_TIME_S
    max_samples: int = MAX_SAMPLES
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.target_pct is not None and not self.target_pct > 0:
            raise ValueError(f"target_pct must be > 0, got {self.target_pct}")
        if not self.max_time_s > 0:
            raise ValueError(f"max_time_s must be > 0, got {self.max_time_s}")

    @classmethod
    def fixed(cls, iters: int) -> "StopRule":
        """Exactly ``iters`` samples."""
        return cls(min_samples=iters)

    @property
    def adaptive(self) -> bool:
        """Whether sampling stops on the noise target rather than a count."""
        return self.target_pct is not None

    def describe(self) -> str:
        """One line for the report."""
        if not self.adaptive:
            return f"fixed: {self.min_samples} samples per row"
        return (f"adaptive: until the {self.confidence:.0%} interval of the median is within "
                f"+-{self.target_pct:g}% of it, at least {self.min_samples} samples, at most "
                f"{self.max_time_s:g} s of sampling per row")


def round_rules(rule: StopRule, rounds: int) -> list[StopRule]:
    """The rule of each timing round when a row is timed in ``rounds`` rounds.

    A fixed rule shares its count out (50 over 3 rounds: 17, 17, 16; the total stays
    ``min_samples``), with at most ``min_samples`` rounds so each has a sample. An adaptive
    rule runs whole in every round (same target and ``min_samples``) with the round's
    share of ``max_time_s`` and of ``max_samples``.

    Raises:
        ValueError: rounds < 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not rule.adaptive:
        n = min(rounds, rule.min_samples)
        share, extra = divmod(rule.min_samples, n)
        return [StopRule.fixed(share + (i < extra)) for i in range(n)]
    return [dataclasses.replace(rule, max_time_s=rule.max_time_s / rounds,
                                max_samples=max(1, rule.max_samples // rounds))] * rounds


@dataclass
class Sampled:
    """What a sampling loop produced.

    Attributes:
        samples: per-call us, in order.
        reason: why it stopped (iters | target-noise | max-time | max-samples).
        elapsed_s: wall seconds spent in ``batch`` calls and the checks between them.
        halfwidth_pct: for adaptive rules, the median interval's half-width in percent at
            the stop (inf when too few samples for an interval, and for fixed rules, which
            do not look at it).
    """

    samples: list[float]
    reason: str
    elapsed_s: float
    halfwidth_pct: float = math.inf


def _halfwidth_pct(samples: Sequence[float], confidence: float) -> float:
    return 100 * relative_halfwidth(float(np.median(samples)), median_ci(samples, confidence))


def next_batch(n: int, halfwidth_pct: float, rule: StopRule, elapsed_s: float) -> int:
    """Size of the next batch in adaptive mode.

    The half-width shrinks like 1/sqrt(n), so about ``n * (h / target)^2`` samples in all
    reach the target; the batch asks for the missing ones, at least a quarter of ``n`` (so
    a lucky estimate does not cost many tiny batches) and at most ``n`` (doubling, so a
    noisy estimate cannot overshoot far), never past ``max_samples`` nor, at the rate
    measured so far, past ``max_time_s``.
    """
    assert rule.target_pct is not None
    if math.isinf(halfwidth_pct):
        want = rule.min_samples
    else:
        want = math.ceil(n * (halfwidth_pct / rule.target_pct) ** 2) - n
    size = min(max(want, math.ceil(n / 4), 1), max(n, 1), rule.max_samples - n)
    per_sample = elapsed_s / n if n else 0.0
    if per_sample > 0:
        size = min(size, max(1, int((rule.max_time_s - elapsed_s) / per_sample)))
    return max(1, size)


def sample_until(batch: Callable[[int], Sequence[float]], rule: StopRule, *,
                 clock: Callable[[], float] = time.perf_counter) -> Sampled:
    """Call ``batch(n)`` (which returns at least n per-call times) until ``rule`` stops.

    Fixed rules make one batch and keep exactly ``min_samples`` samples. Adaptive rules
    start with ``min_samples``, then size batches with :func:`next_batch` until the
    interval half-width reaches ``target_pct`` (with at least ``min_samples``), the wall
    time reaches ``max_time_s`` or the count reaches ``max_samples``.

    Raises:
        RuntimeError: ``batch`` returned fewer samples than asked.
    """
    t0 = clock()
    samples: list[float] = []
    n_next = rule.min_samples
    while True:
        got = list(batch(n_next))
        if len(got) < n_next:
            raise RuntimeError(f"timer returned {len(got)} samples, {n_next} asked")
        samples += got
        elapsed = clock() - t0
        if not rule.adaptive:
            return Sampled(samples[:rule.min_samples], STOP_ITERS, elapsed)
        width = _halfwidth_pct(samples, rule.confidence)
        reason = None
        if len(samples) >= rule.min_samples and width <= rule.target_pct:
            reason = STOP_TARGET
        elif elapsed >= rule.max_time_s:
            reason = STOP_TIME
        elif len(samples) >= rule.max_samples:
            reason = STOP_CAP
        if reason:
            return Sampled(samples, reason, elapsed, width)
        n_next = next_batch(len(samples), width, rule, elapsed)
