"""Throttling: a row whose SM clock fell below a share of the GPU's maximum is flagged,
and ``--on-throttle retry`` waits and measures it again.

Clocks drop under sustained load (power or thermal limits; DESIGN.md "Timing: known
traps"), and a kernel timed at 1.6 GHz is not the kernel timed at 1.98 GHz. The clock
sampler (:mod:`fibench.measure.clocks`) reads NVML every 5 ms during the timed pass; the
verdict uses the 10th percentile of those samples, so one sample taken while the clock
ramps up after an idle moment does not flag a row, while a clock that stayed low for a
tenth of the pass does.
"""

from __future__ import annotations

from dataclasses import dataclass

from fibench.measure.clocks import ClockStats

ON_THROTTLE = ("flag", "retry")
DEFAULT_THRESHOLD_PCT = 90.0
"""Share of the maximum SM clock below which a row is throttled (percent)."""
RETRY_WAIT_S = 5.0
"""Seconds the GPU is left idle before a throttled row is measured again."""
MAX_RETRIES = 2


@dataclass(frozen=True)
class ThrottlePolicy:
    """What counts as throttled and what to do about it.

    Attributes:
        threshold_pct: percent of the maximum SM clock (``--throttle-threshold``).
        on_throttle: "flag" (mark the row) or "retry" (wait ``wait_s``, measure again, at
            most ``retries`` times; the last measurement is kept).
        max_clock_mhz: the GPU's maximum SM clock (NVML ``nvmlDeviceGetMaxClockInfo``);
            None = the highest clock sampled during the pass.
    """

    threshold_pct: float = DEFAULT_THRESHOLD_PCT
    on_throttle: str = "flag"
    max_clock_mhz: int | None = None
    wait_s: float = RETRY_WAIT_S
    retries: int = MAX_RETRIES

    def __post_init__(self) -> None:
        if self.on_throttle not in ON_THROTTLE:
            raise ValueError(f"on_throttle must be one of {', '.join(ON_THROTTLE)}, got {self.on_throttle!r}")
        if not 0 < self.threshold_pct <= 100:
            raise ValueError(f"threshold_pct must be in (0, 100], got {self.threshold_pct}")


@dataclass(frozen=True)
class ThrottleCheck:
    """Verdict on one pass: ``throttled`` is None when no clock was sampled."""

    throttled: bool | None
    note: str = ""


def check_throttle(clock: ClockStats | None, policy: ThrottlePolicy) -> ThrottleCheck:
    """Whether the SM clock of a pass fell below ``threshold_pct`` of the maximum.

    Args:
        clock: the pass's SM clock samples (None without NVML).
    """
    if clock is None or clock.samples == 0:
        return ThrottleCheck(None, "no SM clock samples: throttling unknown")
    reference = policy.max_clock_mhz or clock.max_mhz
    where = "GPU maximum" if policy.max_clock_mhz else "highest sampled"
    low = clock.p10_mhz if clock.p10_mhz is not None else clock.min_mhz
    floor = reference * policy.threshold_pct / 100
    if low < floor:
        return ThrottleCheck(True, f"SM clock p10 {low} MHz < {policy.threshold_pct:g}% of the {where} "
                                   f"{reference} MHz (min {clock.min_mhz}, median {clock.median_mhz})")
    return ThrottleCheck(False)
