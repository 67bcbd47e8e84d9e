"""Throttle flagging on canned clock samples."""

import pytest

from fibench.measure.clocks import ClockStats
from fibench.measure.throttle import ThrottlePolicy, check_throttle


def test_steady_max_clock_is_not_throttled():
    c = ClockStats(1980, 1980, 1980, 40, p10_mhz=1980)
    assert check_throttle(c, ThrottlePolicy(max_clock_mhz=1980)).throttled is False


def test_low_p10_against_the_gpu_maximum_is_throttled():
    c = ClockStats(1500, 1900, 1980, 40, p10_mhz=1700)  # 1700 < 0.9 * 1980 = 1782
    check = check_throttle(c, ThrottlePolicy(max_clock_mhz=1980))
    assert check.throttled is True
    assert "p10 1700 MHz < 90% of the GPU maximum 1980 MHz" in check.note


def test_one_ramp_sample_does_not_flag():
    c = ClockStats(900, 1980, 1980, 40, p10_mhz=1980)  # min is one sample during ramp-up
    assert check_throttle(c, ThrottlePolicy(max_clock_mhz=1980)).throttled is False


def test_threshold_is_configurable_and_falls_back_to_the_sampled_maximum():
    c = ClockStats(1700, 1750, 1800, 10, p10_mhz=1710)
    assert check_throttle(c, ThrottlePolicy(threshold_pct=95)).throttled is False  # 1710 >= 0.95 * 1800 = 1710
    check = check_throttle(c, ThrottlePolicy(threshold_pct=96))
    assert check.throttled is True and "highest sampled 1800 MHz" in check.note


def test_no_clock_means_unknown():
    assert check_throttle(None, ThrottlePolicy()).throttled is None


@pytest.mark.parametrize("kw", [{"on_throttle": "ignore"}, {"threshold_pct": 0}, {"threshold_pct": 120}])
def test_bad_policy(kw):
    with pytest.raises(ValueError):
        ThrottlePolicy(**kw)
