"""Parity metrics on hand-checked tensors."""

import math

import pytest
import torch

from fibench.parity.metrics import HIT_RATIO_MIN, compare, ordered_bits, outputs_bitwise_equal, ulp_distance


def bf16(*bits: int) -> torch.Tensor:
    """bf16 tensor from raw 16-bit patterns (0x8001 etc. as unsigned ints)."""
    signed = [b - 0x10000 if b >= 0x8000 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(torch.bfloat16)


def fp16(*bits: int) -> torch.Tensor:
    signed = [b - 0x10000 if b >= 0x8000 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(torch.float16)


@pytest.mark.parametrize("a, b, ulp", [
    (0x3F80, 0x3F81, 1),        # 1.0 and the next bf16 (1.0078125)
    (0x0000, 0x8000, 0),        # +0 and -0 are the same point
    (0x0001, 0x8001, 2),        # smallest subnormals of opposite sign: -1 .. 0 .. +1
    (0x0001, 0x0000, 1),        # smallest subnormal and zero
    (0x007F, 0x0080, 1),        # largest subnormal to smallest normal
    (0x7F7F, 0x7F80, 1),        # max finite to +inf
    (0x3F80, 0xBF80, 2 * 0x3F80),  # +1 and -1 across zero
])
def test_ulp_bf16_hand_cases(a, b, ulp):
    assert ulp_distance(bf16(a), bf16(b)).item() == ulp


def test_ulp_fp16_and_fp32():
    assert ulp_distance(fp16(0x7BFF), fp16(0x7C00)).item() == 1  # 65504 -> inf
    one = torch.tensor([1.0], dtype=torch.float32)
    nxt = torch.nextafter(one, torch.tensor([2.0]))
    assert ulp_distance(one, nxt).item() == 1
    assert ulp_distance(torch.tensor([-0.0]), torch.tensor([0.0])).item() == 0
    tiny = torch.tensor([1e-45])  # smallest fp32 subnormal
    assert ulp_distance(tiny, -tiny).item() == 2


def test_ordered_bits_is_monotonic():
    values = torch.tensor([-3.0, -1.0, -1e-40, -0.0, 0.0, 1e-40, 1.0, 3.0])
    ob = ordered_bits(values)
    assert torch.all(ob[1:] >= ob[:-1])


def test_ulp_rejects_mismatched_dtypes():
    with pytest.raises(ValueError):
        ulp_distance(torch.zeros(2), torch.zeros(2, dtype=torch.float64))


def test_compare_identical_is_bitwise():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    r = compare({"out": x}, {"out": x.clone()})
    assert r.verdict == "pass" and r.bitwise_equal_frac == 1.0 and r.max_ulp == 0
    assert r.max_abs_err == 0.0 and r.cosine == pytest.approx(1.0)
    assert r.max_err_over_tol == 0.0


def test_compare_one_ulp_off_passes_bf16_tolerance_and_counts():
    ref = bf16(0x3F80, 0x4000, 0x4040, 0x4080)  # 1, 2, 3, 4
    cand = bf16(0x3F81, 0x4000, 0x4040, 0x4080)  # first element one ULP up
    r = compare({"out": cand}, {"out": ref})
    assert r.bitwise_equal_frac == 0.75
    assert r.max_ulp == 1
    assert r.max_abs_err == pytest.approx(2 ** -7)
    assert r.verdict == "pass"  # 0.0078 <= 8e-3 + 1e-2 * 1
    assert r.worst[0].index == (0,) and r.worst[0].ulp == 1


def test_compare_fails_outside_tolerance_and_reports_excess():
    ref = torch.tensor([1.0, 1.0], dtype=torch.float32)
    cand = torch.tensor([1.0, 1.0 + 2 ** -14], dtype=torch.float32)  # exact in fp32
    r = compare({"out": cand}, {"out": ref})
    # tol = 1e-5 + 1e-5 * 1 = 2e-5; err 2^-14 = 6.1035e-5 -> 3.05x tolerance
    assert r.verdict == "fail"
    assert r.max_err_over_tol == pytest.approx(2 ** -14 / 2e-5)
    assert r.within_tol_frac == 0.5


def test_candidate_nan_where_reference_finite_always_fails():
    ref = torch.zeros(10, dtype=torch.bfloat16)
    cand = ref.clone()
    cand[3] = float("nan")
    r = compare({"out": cand}, {"out": ref})
    assert r.verdict == "fail" and r.nan_count == 1 and r.bad_nonfinite == 1
    assert r.worst[0].index == (3,) and r.worst[0].ulp == -1
    assert math.isinf(r.worst[0].abs_err)


def test_nan_in_both_and_matching_inf_are_not_errors():
    ref = torch.tensor([float("nan"), 1.0, float("inf"), -float("inf")])
    r = compare({"out": ref.clone()}, {"out": ref})
    assert r.verdict == "pass" and r.bad_nonfinite == 0 and r.within_tol_frac == 1.0
    assert r.max_ulp == 0


def test_inf_of_wrong_sign_fails():
    ref = torch.tensor([float("inf")])
    r = compare({"out": -ref}, {"out": ref})
    assert r.verdict == "fail"


def test_reference_rounded_to_candidate_dtype_for_bitwise():
    ref32 = torch.tensor([1.0 + 2 ** -12])  # not representable in bf16, rounds to 1.0
    cand = torch.tensor([1.0], dtype=torch.bfloat16)
    r = compare({"out": cand}, {"out": ref32})
    assert r.bitwise_equal_frac == 1.0 and r.max_ulp == 0
    assert r.max_abs_err == pytest.approx(2 ** -12)


def test_two_outputs_worst_index_maps_back():
    a_ref = torch.zeros(2, 3)
    b_ref = torch.zeros(4)
    b_cand = b_ref.clone()
    b_cand[2] = 1.0
    r = compare({"a": a_ref.clone(), "b": b_cand}, {"a": a_ref, "b": b_ref})
    assert r.elements == 10
    assert (r.worst[0].output, r.worst[0].index) == ("b", (2,))


def test_fp8_uses_hit_ratio():
    ref = torch.ones(100, dtype=torch.float8_e4m3fn)
    cand = ref.clone()
    cand[:10] = 2.0  # 10% far off: hit ratio 0.90 >= 0.85 passes
    assert compare({"o": cand}, {"o": ref}).verdict == "pass"
    cand[:20] = 2.0  # 20% off: 0.80 < 0.85 fails
    r = compare({"o": cand}, {"o": ref})
    assert r.rule == "hit-ratio" and r.within_tol_frac == pytest.approx(0.80)
    assert r.within_tol_frac < HIT_RATIO_MIN
    assert r.verdict == "fail"


def test_compare_shape_and_name_mismatch_raise():
    with pytest.raises(ValueError):
        compare({"out": torch.zeros(2)}, {"other": torch.zeros(2)})
    with pytest.raises(ValueError):
        compare({"out": torch.zeros(2)}, {"out": torch.zeros(3)})


def test_outputs_bitwise_equal_distinguishes_signed_zero():
    assert outputs_bitwise_equal({"o": torch.tensor([0.0])}, {"o": torch.tensor([0.0])})
    assert not outputs_bitwise_equal({"o": torch.tensor([0.0])}, {"o": torch.tensor([-0.0])})


def test_per_output_tolerance_replaces_the_dtype_table():
    ref = {"out": torch.tensor([1.0, 2.0]), "lse": torch.tensor([10.0, 20.0])}
    cand = {"out": torch.tensor([1.0, 2.0]), "lse": torch.tensor([10.001, 20.0])}
    assert compare(cand, ref).verdict == "fail"  # fp32 table: atol 1e-5, rtol 1e-5
    loose = compare(cand, ref, tolerances={"lse": (1e-3, 1e-3, "allclose")})
    assert loose.verdict == "pass" and loose.max_err_over_tol < 0.1
