"""The stopping rule on synthetic sample streams (fake clock: no sleeping)."""

import math

import numpy as np
import pytest

from fibench.measure.stopping import (STOP_CAP, STOP_ITERS, STOP_TARGET, STOP_TIME, StopRule, next_batch,
                                      sample_until)


class Stream:
    """Draws samples from a distribution and advances a fake clock by ``dt`` per sample."""

    def __init__(self, draw, dt=1e-3, seed=0, extra=0):
        self.rng = np.random.default_rng(seed)
        self.draw, self.dt, self.extra = draw, dt, extra
        self.now = 0.0
        self.asked: list[int] = []

    def clock(self):
        return self.now

    def batch(self, n):
        self.asked.append(n)
        got = self.draw(self.rng, n + self.extra)
        self.now += self.dt * len(got)
        return list(got)


def test_fixed_rule_is_one_batch_of_exactly_iters():
    s = Stream(lambda rng, n: rng.normal(100, 1, n), extra=7)  # a per-call graph timer returns more
    out = sample_until(s.batch, StopRule.fixed(50), clock=s.clock)
    assert out.reason == STOP_ITERS and len(out.samples) == 50 and s.asked == [50]


def test_quiet_stream_stops_at_min_samples():
    s = Stream(lambda rng, n: rng.normal(100, 0.01, n))
    out = sample_until(s.batch, StopRule(min_samples=10, target_pct=0.5), clock=s.clock)
    assert out.reason == STOP_TARGET and len(out.samples) == 10 and out.halfwidth_pct <= 0.5


def test_noisy_stream_samples_until_the_interval_is_narrow():
    s = Stream(lambda rng, n: rng.lognormal(math.log(100), 0.05, n), seed=4)
    out = sample_until(s.batch, StopRule(min_samples=10, target_pct=0.5), clock=s.clock)
    assert out.reason == STOP_TARGET
    assert out.halfwidth_pct <= 0.5
    assert len(out.samples) > 100  # +-0.5% of the median needs a few hundred 5%-noise samples
    assert len(out.samples) < 2000  # ... and the batch rule does not overshoot wildly
    assert all(b <= max(10, a) for a, b in zip(np.cumsum(s.asked), s.asked[1:]))  # never more than doubling


def test_time_cap_stops_a_stream_that_cannot_converge():
    s = Stream(lambda rng, n: rng.exponential(100, n), dt=0.01)
    rule = StopRule(min_samples=10, target_pct=0.01, max_time_s=2.0)
    out = sample_until(s.batch, rule, clock=s.clock)
    assert out.reason == STOP_TIME
    assert 2.0 <= out.elapsed_s <= 2.0 + 0.01 * 50  # the last batch is sized to the remaining time


def test_sample_cap():
    s = Stream(lambda rng, n: rng.exponential(100, n), dt=0.0)
    out = sample_until(s.batch, StopRule(min_samples=10, target_pct=0.01, max_samples=300), clock=s.clock)
    assert out.reason == STOP_CAP and len(out.samples) == 300


@pytest.mark.parametrize("n, width, target, elapsed, expect", [
    (10, 1.0, 0.5, 0.0, 10),        # wants 40 - 10 = 30 more: capped at doubling (10)
    (100, 0.55, 0.5, 0.0, 25),      # wants ceil(121) - 100 = 21: at least a quarter of n (25)
    (100, 0.9, 0.5, 0.0, 100),      # wants 324 - 100 = 224: doubling cap
    (100, 0.9, 0.5, 9.5, 5),        # 0.095 s per sample, 0.5 s left: 5 samples
    (4, math.inf, 0.5, 0.0, 4),     # no interval yet: min_samples (10) capped at doubling (4)
])
def test_next_batch_arithmetic(n, width, target, elapsed, expect):
    assert next_batch(n, width, StopRule(min_samples=10, target_pct=target, max_time_s=10.0), elapsed) == expect


def test_a_timer_returning_too_few_samples_is_an_error():
    with pytest.raises(RuntimeError, match="3 samples, 10 asked"):
        sample_until(lambda n: [1.0] * 3, StopRule.fixed(10))


def test_rule_validation():
    with pytest.raises(ValueError):
        StopRule(min_samples=0)
    with pytest.raises(ValueError):
        StopRule(min_samples=10, target_pct=0.0)
    assert "adaptive" in StopRule(min_samples=10, target_pct=0.5).describe()
