"""Phases side by side per backend pair, with the difference in %."""

import pytest

from fibench.report.phases import diff_pct, fmt_diff, phase_lines, phase_pairs, phase_tables

from doctored import make_row


def _rows():
    return [
        make_row("moe/16", "torch-grouped", median=350.0, op="moe", size=16, kernel_sum_us=330.0,
                 phases={"routing": 10.0, "gemm1": 200.0, "gemm2": 120.0}),
        make_row("moe/16", "flashinfer-cutlass", median=190.0, op="moe", size=16, kernel_sum_us=185.0,
                 phases={"routing": 12.0, "gemm1": 110.0, "gemm2": 60.0, "memset": 3.0}),
        make_row("moe/16", "torch", median=20000.0, op="moe", size=16),  # not traced
    ]


def test_difference_by_hand():
    assert diff_pct(200.0, 110.0) == pytest.approx(-45.0)
    assert diff_pct(10.0, 12.0) == pytest.approx(20.0)
    assert diff_pct(None, 3.0) is None and diff_pct(0.0, 1.0) is None
    assert fmt_diff(-45.0) == "-45.0%" and fmt_diff(None) == "-"


def test_pairs_take_the_baseline_first():
    assert phase_pairs(_rows(), "torch-grouped") == [("torch-grouped", "flashinfer-cutlass")]
    assert phase_pairs(_rows(), "torch") == [("torch-grouped", "flashinfer-cutlass")]  # torch has no rollup


def test_lines_union_of_phases_then_totals():
    a, b = _rows()[:2]
    assert [x[0] for x in phase_lines(a, b)] == ["routing", "gemm1", "gemm2", "memset", "kernel-sum",
                                                 "median (timed)"]
    assert phase_lines(a, b)[3] == ("memset", None, 3.0)


def test_table_side_by_side():
    text = "\n".join(phase_tables(_rows(), "torch-grouped", "tokens"))
    assert "### flashinfer-cutlass vs torch-grouped" in text
    assert "| op | tokens | phase | torch-grouped us | flashinfer-cutlass us | flashinfer-cutlass vs torch-grouped |" in text
    assert "| moe | 16 | routing | 10.0 | 12.0 | +20.0% |" in text
    assert "|  |  | gemm1 | 200 | 110 | -45.0% |" in text
    assert "|  |  | memset | - | 3.00 | - |" in text
    assert "|  |  | kernel-sum | 330 | 185 | -43.9% |" in text
