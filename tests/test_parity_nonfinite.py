"""max_err_over_tol with infinities: the same inf in both outputs is an exact match."""

import math

import torch

from fibench.parity.metrics import compare

INF = float("inf")


def test_matching_infinities_give_zero_not_nan():
    out = torch.tensor([1.0, INF, -INF, 2.0], dtype=torch.bfloat16)
    result = compare({"out": out}, {"out": out.clone()})
    assert result.max_err_over_tol == 0.0 and not math.isnan(result.max_err_over_tol)
    assert result.verdict == "pass"


def test_an_infinity_of_the_other_sign_is_an_infinite_excess():
    result = compare({"out": torch.tensor([1.0, -INF])}, {"out": torch.tensor([1.0, INF])})
    assert result.max_err_over_tol == INF and result.verdict == "fail"


def test_a_finite_error_keeps_its_ratio():
    # |1.01 - 1| / (1e-5 + 1e-5 * 1) = 500 (float32 tolerances, DESIGN.md table)
    result = compare({"out": torch.tensor([1.01, INF])}, {"out": torch.tensor([1.0, INF])})
    assert abs(result.max_err_over_tol - 0.01 / 2e-5) / 500 < 1e-3
