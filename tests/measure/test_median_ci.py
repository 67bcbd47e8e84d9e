"""The median's distribution-free interval: ranks by hand, scipy agreement, coverage."""

import math

import numpy as np
import pytest
from scipy import stats

from fibench.measure.stats import median_ci, median_ci_coverage, median_ci_ranks, relative_halfwidth, summarize


@pytest.mark.parametrize("n, ranks, coverage", [
    (6, (1, 6), 1 - 2 / 64),              # P(B <= 0) = 1/64 <= 0.025
    (10, (2, 9), 1 - 2 * 11 / 1024),      # P(B <= 1) = 11/1024; P(B <= 2) = 56/1024 > 0.025
    (100, (40, 61), None),                # the textbook sign-test interval for n = 100
])
def test_ranks_by_hand(n, ranks, coverage):
    assert median_ci_ranks(n) == ranks
    if coverage is not None:
        assert median_ci_coverage(n, ranks[0]) == pytest.approx(coverage)


def test_too_few_samples_have_no_interval():
    assert median_ci_ranks(5) is None  # [min, max] covers 1 - 2/32 = 93.75% < 95%
    assert median_ci([1.0, 2.0, 3.0]) is None
    assert relative_halfwidth(2.0, None) == math.inf
    s = summarize([1.0, 2.0, 3.0])
    assert s.ci_low_us is None and s.ci_halfwidth_pct == math.inf


def test_interval_is_scipys_quantile_test_interval():
    rng = np.random.default_rng(3)
    for n in (7, 31, 250):
        x = rng.gamma(2.0, size=n)
        ref = stats.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(0.95)
        assert median_ci(x) == pytest.approx((ref.low, ref.high))


@pytest.mark.parametrize("draw, true_median", [
    (lambda rng, shape: rng.normal(10.0, 2.0, shape), 10.0),
    (lambda rng, shape: rng.lognormal(0.0, 1.0, shape), 1.0),          # median of lognormal(0, 1) = e^0
    (lambda rng, shape: rng.exponential(3.0, shape), 3.0 * math.log(2)),
])
def test_coverage_on_known_distributions(draw, true_median):
    """Over 4000 samples of n = 25, the interval covers the true median about as often as
    its exact coverage says (0.957 for n = 25), whatever the distribution."""
    n, trials = 25, 4000
    rng = np.random.default_rng(11)
    x = np.sort(draw(rng, (trials, n)), axis=1)
    lo, hi = median_ci_ranks(n)
    covered = np.mean((x[:, lo - 1] <= true_median) & (true_median <= x[:, hi - 1]))
    exact = median_ci_coverage(n, lo)
    assert exact >= 0.95
    assert abs(covered - exact) < 4 * math.sqrt(exact * (1 - exact) / trials)


def test_summary_carries_interval_and_noise():
    s = summarize([10.0, 11.0, 9.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.0])
    assert s.ci_low_us <= s.median_us <= s.ci_high_us
    assert (s.ci_low_us, s.ci_high_us) == (9.5, 10.5)  # sorted: 9 9.5 9.8 9.9 10 10 10.1 10.2 10.5 11 -> ranks 2, 9
    assert s.noise_pct == pytest.approx(100 * s.std_us / s.mean_us)
    assert s.ci_halfwidth_pct == pytest.approx(100 * (10.5 - 9.5) / 2 / 10.0)
