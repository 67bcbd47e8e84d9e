"""ULP distributions on hand-checked bit patterns: signs, +-0, subnormals, inf, NaN."""

import pytest
import torch

from fibench.parity.metrics import compare
from fibench.parity.ulp import BUCKETS, UlpStats, bucket_label, nearest_rank


def bf16(*bits: int) -> torch.Tensor:
    """bf16 tensor from raw 16-bit patterns."""
    return torch.tensor([b - 0x10000 if b >= 0x8000 else b for b in bits], dtype=torch.int16).view(torch.bfloat16)


# (candidate bits, reference bits, ULP distance worked out by hand)
CASES = [
    (0x3F80, 0x3F80, 0),       # 1.0 == 1.0
    (0x0000, 0x8000, 0),       # +0 vs -0: same point
    (0x3F81, 0x3F80, 1),       # next bf16 above 1.0
    (0x0001, 0x8001, 2),       # +s vs -s, smallest subnormals: -s, 0, +s
    (0x3F83, 0x3F80, 3),
    (0x3F84, 0x3F80, 4),
    (0xBF80, 0xBF8F, 15),      # negatives: magnitudes 0x3F80 and 0x3F8F
    (0x7F80, 0x7F7F, 1),       # +inf is one step above the largest finite value
    (0x3F80, 0xBF80, 32512),   # +1 vs -1: 2 * 0x3F80 across zero
    (0x7FC0, 0x3F80, None),    # NaN vs 1.0: no distance
    (0x7FC0, 0xFFC1, 0),       # NaN vs NaN (other sign and payload): 0
    (0x0080, 0x007F, 1),       # smallest normal vs largest subnormal
    (0x4000, 0x3F90, 112),     # 2.0 vs 1.125: 0x4000 - 0x3F90
    (0x7F80, 0x7F80, 0),       # +inf vs +inf
    (0x3F88, 0x3F80, 8),
]


def _result():
    cand = bf16(*(c for c, _, _ in CASES))
    ref = bf16(*(r for _, r, _ in CASES))
    return compare({"out": cand}, {"out": ref})


def test_histogram_of_hand_cases():
    u = _result().ulp
    # 0: rows 1, 2, 11, 14; 1: rows 3, 8, 12; 2-3: 4, 5; 4-7: 6; 8-15: 7, 15; 16-255: 13; >=256: 9
    assert u.histogram == (4, 3, 2, 1, 2, 1, 1)
    assert u.compared == 14 and u.nan_mismatch == 1


def test_percentiles_are_nearest_rank_of_hand_cases():
    u = _result().ulp
    # sorted: 0 0 0 0 1 1 1 2 3 4 8 15 112 32512 (n = 14): p50 = 7th = 1, p99 = ceil(13.86) = 14th
    assert u.percentiles == {"p50": 1, "p99": 32512, "p999": 32512}
    assert u.max_ulp == 32512


def test_floor_is_atol_and_uses_unrounded_reference():
    u = _result().ulp
    assert u.floor == 8e-3  # bf16 atol
    # |ref| >= 8e-3 and not NaN: rows 1, 3, 5, 6, 7, 8, 9, 13, 14, 15 (row 10's ref 1.0 has no distance)
    assert u.above_floor == 10
    assert u.max_above_floor == 32512


def test_max_above_floor_ignores_near_zero_references():
    ref = torch.tensor([1e-6, 1.0, 0.5], dtype=torch.float32)  # fp32 reference, rounded to bf16 for ULP
    cand = bf16(0x3600, 0x3F82, 0x3F00)  # 2^-19 ~ 1.9e-6 (near-zero element), 1.0 + 2 ULP, 0.5 exact
    r = compare({"out": cand}, {"out": ref})
    ref_bits = int(ref[:1].to(torch.bfloat16).view(torch.int16))  # 0x3586: 1e-6 in bf16
    assert ref_bits == 0x3586 and r.ulp.max_ulp == 0x3600 - 0x3586 == 122
    assert r.ulp.above_floor == 2 and r.ulp.max_above_floor == 2


def test_floor_per_output_uses_that_outputs_atol():
    ref = {"a": torch.tensor([0.5e-5, 1.0]), "b": torch.tensor([0.5e-5, 1.0])}
    cand = {"a": torch.nextafter(ref["a"], torch.tensor(2.0)), "b": ref["b"].clone()}
    # a's atol 1e-6 puts 0.5e-5 above the floor; b keeps the fp32 table's 1e-5
    r = compare(cand, ref, tolerances={"a": (1e-6, 1e-5, "allclose")})
    assert r.ulp.above_floor == 3 and r.ulp.floor == 1e-5
    assert r.ulp.max_above_floor == 1


def test_fp32_signs_inf_and_subnormals():
    tiny = 1e-45  # smallest fp32 subnormal
    cand = torch.tensor([tiny, -0.0, float("inf"), -float("inf"), 1.0])
    ref = torch.tensor([-tiny, 0.0, float("inf"), float("inf"), float("nan")])
    u = compare({"o": cand}, {"o": ref}).ulp
    assert u.nan_mismatch == 1 and u.compared == 4
    # tiny vs -tiny = 2; -0 vs 0 = 0; inf vs inf = 0; -inf vs +inf = 2 * 0x7F800000
    assert u.max_ulp == 2 * 0x7F800000
    assert u.histogram == (2, 0, 1, 0, 0, 0, 1)


def test_all_nan_mismatch_has_no_percentiles():
    u = compare({"o": torch.tensor([float("nan")])}, {"o": torch.tensor([1.0])}).ulp
    assert u.compared == 0 and u.percentiles == {"p50": None, "p99": None, "p999": None}
    assert u.max_ulp is None and u.max_above_floor is None


def test_nearest_rank_on_1_to_1000():
    v = torch.arange(1, 1001)
    assert [nearest_rank(v, p) for p in (50, 99, 99.9, 100)] == [500, 990, 999, 1000]
    assert nearest_rank(torch.tensor([7]), 50) == 7
    with pytest.raises(ValueError):
        nearest_rank(torch.tensor([], dtype=torch.int64), 50)


def test_fields_round_trip_and_labels():
    u = _result().ulp
    f = u.fields("pair_")
    assert f["pair_ulp_hist_0"] == 4 and f["pair_ulp_hist_256_up"] == 1 and f["pair_ulp_p999"] == 32512
    back = UlpStats.from_fields(f, "pair_", max_ulp=u.max_ulp)
    assert back.histogram == u.histogram and back.percentiles == u.percentiles
    assert back.max_above_floor == u.max_above_floor and back.nan_mismatch == 1
    assert UlpStats.from_fields({}, "") is None
    assert [bucket_label(b[0]) for b in BUCKETS] == ["0", "1", "2-3", "4-7", "8-15", "16-255", ">=256"]
