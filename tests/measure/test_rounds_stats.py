"""The two-level (rounds, then samples) bootstrap of the median: coverage under random
round offsets, width against the pooled order-statistic interval, one group, speed."""

import time

import numpy as np
import pytest
from scipy import stats

from fibench.measure.stats import (hierarchical_median_ci, hierarchical_medians, median_ci, round_spread_pct,
                                   split_rounds, summarize)


def _grouped(rng, groups, n, offset_sd, noise_sd, centre=10.0):
    """``groups`` groups of ``n`` samples: centre + a random offset per group + noise."""
    return [centre + offset_sd * rng.standard_normal() + noise_sd * rng.standard_normal(n) for _ in range(groups)]


def test_covers_the_true_median_at_about_the_nominal_rate_when_groups_have_offsets():
    rng = np.random.default_rng(0)
    hier = pooled = 0
    reps = 200
    for rep in range(reps):
        groups = _grouped(rng, groups=16, n=15, offset_sd=0.1, noise_sd=0.1)
        low, high = hierarchical_median_ci(groups, seed=rep, resamples=1000)
        hier += low <= 10.0 <= high
        p_low, p_high = median_ci(np.concatenate(groups))
        pooled += p_low <= 10.0 <= p_high
    assert hier / reps >= 0.9
    assert pooled / reps < 0.75  # the pooled interval treats the offsets as noise: far below 95%


def test_three_rounds_span_the_round_medians_and_are_wider_than_the_pooled_interval():
    rng = np.random.default_rng(1)
    groups = [m + 0.001 * rng.standard_normal(n) for m, n in ((2.04, 17), (2.36, 17), (2.05, 16))]
    low, high = hierarchical_median_ci(groups)
    p_low, p_high = median_ci(np.concatenate(groups))
    assert high - low > 10 * (p_high - p_low)
    assert low < 2.045 and high > 2.355  # each extreme is drawn three times in a row with p = 1/27
    s = summarize(np.concatenate(groups), round_sizes=[17, 17, 16])
    assert s.ci_low_us <= low and s.ci_high_us >= high  # the row's interval is the union
    assert summarize(np.concatenate(groups)).ci_high_us == pytest.approx(p_high)  # one round: unchanged


def test_one_group_is_the_ordinary_bootstrap_of_the_median():
    x = np.random.default_rng(2).gamma(2.0, size=300)
    low, high = hierarchical_median_ci([x])
    ref = stats.bootstrap((x,), np.median, n_resamples=2000, method="percentile", random_state=0)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.1 * width)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.1 * width)
    assert summarize(x, round_sizes=[300]) == summarize(x)


def test_medians_match_a_plain_loop_and_are_reproducible():
    groups = [np.array([1.0, 2.0, 3.0]), np.array([10.0, 11.0]), np.array([5.0])]
    fast = hierarchical_medians(groups, np.random.default_rng(7), resamples=500)
    assert np.array_equal(fast, hierarchical_medians(groups, np.random.default_rng(7), resamples=500))
    # every value is the median of some two-level resample: drawn groups keep their sizes
    rng = np.random.default_rng(8)
    slow = []
    for _ in range(4000):
        drawn = [groups[i] for i in rng.integers(0, 3, 3)]
        slow.append(np.median(np.concatenate([rng.choice(g, g.size) for g in drawn])))
    assert set(np.round(fast, 9)) <= set(np.round(slow, 9))
    assert np.mean(fast) == pytest.approx(np.mean(slow), abs=0.35)
    assert np.quantile(fast, 0.9) == pytest.approx(np.quantile(slow, 0.9), abs=1.0)


def test_three_rounds_of_two_hundred_take_well_under_a_fifth_of_a_second():
    groups = _grouped(np.random.default_rng(3), groups=3, n=200, offset_sd=0.1, noise_sd=0.01)
    took = []
    for _ in range(3):  # the best of three: a busy machine should not fail the test
        t0 = time.perf_counter()
        hierarchical_median_ci(groups)
        took.append(time.perf_counter() - t0)
    assert min(took) < 0.2


def test_splitting_and_spread():
    parts = split_rounds([1.0, 2.0, 3.0, 4.0, 5.0], [2, 3])
    assert [p.tolist() for p in parts] == [[1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(ValueError, match="do not split"):
        split_rounds([1.0, 2.0], [1, 2])
    with pytest.raises(ValueError, match="do not split"):
        summarize([1.0, 2.0, 3.0], round_sizes=[3, 0])
    assert round_spread_pct([2.04, 2.36, 2.05]) == pytest.approx(100 * 0.32 / 2.05)
    assert round_spread_pct([2.0]) is None
    with pytest.raises(ValueError, match="empty group"):
        hierarchical_medians([[1.0], []], np.random.default_rng(0))
