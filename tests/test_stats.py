"""Summary statistics, hand-checked."""

import pytest

from fibench.measure.stats import summarize


def test_summary_of_known_samples():
    s = summarize([1.0, 2.0, 3.0, 4.0, 10.0])
    assert s.median_us == 3.0
    assert s.mean_us == 4.0
    assert s.std_us == pytest.approx((( 9 + 4 + 1 + 0 + 36) / 4) ** 0.5)  # ddof=1
    assert (s.min_us, s.max_us, s.samples) == (1.0, 10.0, 5)
    assert s.p10_us == pytest.approx(1.4)  # linear interpolation between 1 and 2
    assert s.p90_us == pytest.approx(7.6)  # between 4 and 10
    assert s.cv == pytest.approx(s.std_us / 4.0)


def test_single_sample_has_zero_std():
    s = summarize([5.0])
    assert s.std_us == 0.0 and s.p10_us == s.p90_us == 5.0


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [float("nan")], [float("inf")]])
def test_invalid_samples_raise(bad):
    with pytest.raises(ValueError):
        summarize(bad)
