"""compare: verdicts, intervals, warnings and exit codes on doctored run folders."""

import math

import pytest
from typer.testing import CliRunner

from fibench.cli import app
from fibench.report.compare import compare_runs, ratio_interval, verdict
from fibench.sweep.sinks import load_run

from doctored import make_row, write_run

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path):
    """Factory: run_dir(name, rows, env=..., run=...) -> folder path."""
    return lambda name, rows, **kw: write_run(tmp_path / name, rows, **kw)


@pytest.mark.parametrize("low, high, expect", [
    (1.04, 1.10, "slower"),   # whole interval above 1.03
    (0.90, 0.96, "faster"),   # whole interval below 1 / 1.03 = 0.9709
    (0.98, 1.02, "same"),     # inside [0.9709, 1.03]
    (1.01, 1.05, "unsure"),   # straddles 1.03
    (0.95, 0.99, "unsure"),   # straddles 0.9709
    (math.nan, math.nan, "unsure"),
])
def test_verdict_table(low, high, expect):
    assert verdict(low, high, 3.0) == expect


def _runs(run_dir, factors, **new_kw):
    cases = [("rmsnorm/1", 2.3), ("rmsnorm/128", 2.8), ("rmsnorm/4096", 25.0), ("rmsnorm/32768", 172.0)]
    base = run_dir("base", [make_row(c, median=m, seed=i) for i, (c, m) in enumerate(cases)])
    new = run_dir("new", [make_row(c, median=m * f, seed=10 + i, **new_kw) for i, ((c, m), f)
                          in enumerate(zip(cases, factors))])
    return base, new


def test_two_runs_of_the_same_code_are_all_same(run_dir):
    base, new = _runs(run_dir, [1.0, 1.0, 1.0, 1.0])
    cmp = compare_runs(load_run(base), load_run(new), 3.0)
    assert [r.verdict for r in cmp.rows] == ["same"] * 4 and cmp.exit_code == 0
    assert all(r.method == "bootstrap" and r.low <= r.ratio <= r.high for r in cmp.rows)
    assert cmp.warnings == []


def test_a_real_slowdown_is_detected_and_exits_1(run_dir):
    base, new = _runs(run_dir, [1.5, 1.0, 0.8, 1.01])
    result = runner.invoke(app, ["compare", str(base), str(new), "--threshold", "3%"])
    assert result.exit_code == 1, result.output
    cmp = compare_runs(load_run(base), load_run(new), 3.0)
    assert [r.verdict for r in cmp.rows] == ["slower", "same", "faster", "same"]
    assert cmp.rows[0].ratio == pytest.approx(1.5, rel=0.01)
    out = base.parent / "new" / "compare-vs-base"
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.md", "compare_ratios.png"}
    assert "**slower**" in (out / "compare.md").read_text()
    assert "1 faster, 1 slower, 2 same" in result.output


def test_noise_beyond_the_threshold_is_unsure(run_dir):
    base = run_dir("base", [make_row(median=10.0, noise=0.2, n=30, seed=1)])
    new = run_dir("new", [make_row(median=10.3, noise=0.2, n=30, seed=2)])
    cmp = compare_runs(load_run(base), load_run(new), 3.0)
    assert cmp.rows[0].verdict == "unsure" and cmp.exit_code == 0


def test_rows_without_samples_use_the_medians_intervals():
    base = make_row(median=10.0, samples=False, median_ci_low_us=9.0, median_ci_high_us=11.0)
    new = make_row(median=11.0, samples=False, median_ci_low_us=10.0, median_ci_high_us=12.0)
    ratio, low, high, method = ratio_interval(base, new, None)
    assert (ratio, low, high, method) == (pytest.approx(1.1), pytest.approx(10 / 11), pytest.approx(12 / 9),
                                          "intervals")


def test_differences_in_conditions_are_warned(run_dir):
    base = run_dir("base", [make_row()])
    new = run_dir("new", [make_row(cold_l2_method="flush", timer="cupti", sm_clock_median_mhz=1700)],
                  env={"gpu_name": "NVIDIA H100 80GB HBM3", "flashinfer_version": "0.7.4"}, run={"cold_l2": "flush"})
    result = runner.invoke(app, ["compare", str(base), str(new)])
    cmp = compare_runs(load_run(base), load_run(new))
    warnings = "\n".join(cmp.warnings)
    for text in ("GPU differs: NVIDIA H200 (base) vs NVIDIA H100 80GB HBM3 (new)",
                 "flashinfer differs: 0.6.13 (base) vs 0.7.4 (new)", "cold L2 requested differs",
                 "1 matched row(s) differ in timer", "1 matched row(s) differ in cold-L2 method",
                 "1 matched row(s) differ in SM clock"):
        assert text in warnings
    assert "cold-L2 method rotate -> flush" in cmp.rows[0].notes
    assert "warning: GPU differs" in result.output


def test_unmatched_rows_are_listed_and_untimed_rows_are_na(run_dir):
    base = run_dir("base", [make_row(), make_row("rmsnorm/1", backend="torch")])
    new = run_dir("new", [make_row(status="error", median_us=None, median_ci_low_us=None, median_ci_high_us=None,
                                   reason="boom"), make_row("rmsnorm/2", backend="torch")])
    cmp = compare_runs(load_run(base), load_run(new))
    assert [r.verdict for r in cmp.rows] == ["n/a"] and "new error: boom" in cmp.rows[0].notes
    assert cmp.only_base == ["rmsnorm/1 torch"] and cmp.only_new == ["rmsnorm/2 torch"]


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/a", "/nonexistent/b"], "is not a directory"),
    (["--threshold", "fast"], "--threshold: 'fast' is not a percentage"),
    (["--threshold", "0"], "--threshold must be in (0, 100] percent"),
])
def test_bad_input_exits_2(run_dir, args, message):
    base = run_dir("base", [make_row()])
    new = run_dir("new", [make_row()])
    full = ["compare", *args] if args[0].startswith("/") else ["compare", str(base), str(new), *args]
    result = runner.invoke(app, full)
    assert result.exit_code == 2 and message in result.output


def test_no_row_in_common_exits_2(run_dir):
    base = run_dir("base", [make_row("rmsnorm/1")])
    new = run_dir("new", [make_row("rmsnorm/2")])
    result = runner.invoke(app, ["compare", str(base), str(new)])
    assert result.exit_code == 2 and "no row in common" in result.output
