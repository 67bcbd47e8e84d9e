"""Rows timed in rounds: compare resamples rounds then samples (no false "slower" when the
rounds of one code disagree), and the report shows the round spread and says when it
exceeds the within-round noise."""

import numpy as np
import pytest
from typer.testing import CliRunner

from fibench.cli import app
from fibench.measure.stats import round_spread_pct, summarize
from fibench.report.compare import compare_runs, ratio_interval
from fibench.report.markdown import render_report
from fibench.sweep.sinks import load_run

from doctored import make_row, write_run

runner = CliRunner()


def rounds_row(medians, *, n=60, noise=0.0005, seed=0, keep_rounds=True, **fields):
    """A timed row of ``len(medians)`` rounds of ``n`` samples each, round i around
    medians[i] x (1 + noise x N(0, 1)); ``keep_rounds=False`` drops the round sizes (as a
    row of an older fibench would have)."""
    rng = np.random.default_rng(seed)
    parts = [m * (1 + noise * rng.standard_normal(n)) for m in medians]
    x = np.concatenate(parts)
    sizes = [n] * len(medians)
    s = summarize(x, round_sizes=sizes if keep_rounds else None)
    extra = {"samples_us": x.tolist()}
    if keep_rounds:
        extra.update(round_sizes=sizes, round_medians_us=[float(np.median(p)) for p in parts])
    spread = round_spread_pct(extra["round_medians_us"]) if keep_rounds else None
    return make_row(median_us=s.median_us, median_ci_low_us=s.ci_low_us, median_ci_high_us=s.ci_high_us,
                    samples=x.size, noise_pct=s.noise_pct, rounds=len(medians) if keep_rounds else None,
                    round_spread_pct=spread, extra=extra, **fields)


BIMODAL_BASE = (2.04, 2.36, 2.05)
BIMODAL_NEW = (2.36, 2.04, 2.35)


def test_bimodal_rounds_of_the_same_code_are_not_slower(tmp_path):
    base = write_run(tmp_path / "base", [rounds_row(BIMODAL_BASE, seed=1)])
    new = write_run(tmp_path / "new", [rounds_row(BIMODAL_NEW, seed=2)])
    cmp = compare_runs(load_run(base), load_run(new), 3.0)
    row = cmp.rows[0]
    assert row.ratio == pytest.approx(2.35 / 2.05, rel=0.01)  # the pooled medians alone say 15% slower
    assert row.method == "bootstrap (rounds)" and row.verdict in ("unsure", "same")
    assert row.low < 0.9 and row.high > 1.1 and cmp.exit_code == 0


def test_without_rounds_the_same_samples_give_a_false_slower():
    base = rounds_row(BIMODAL_BASE, seed=1, keep_rounds=False)
    new = rounds_row(BIMODAL_NEW, seed=2, keep_rounds=False)
    ratio, low, high, method = ratio_interval(base, new, np.random.default_rng(0))
    assert method == "bootstrap" and low > 1.03  # what compare said before rounds: "slower"


def test_a_slowdown_in_every_round_is_slower(tmp_path):
    base_medians = (2.04, 2.05, 2.045)
    base = write_run(tmp_path / "base", [rounds_row(base_medians, seed=1)])
    new = write_run(tmp_path / "new", [rounds_row([1.15 * m for m in base_medians], seed=2)])
    cmp = compare_runs(load_run(base), load_run(new), 3.0)
    assert cmp.rows[0].method == "bootstrap (rounds)" and cmp.rows[0].verdict == "slower"
    assert cmp.rows[0].low == pytest.approx(1.15, rel=0.02)
    result = runner.invoke(app, ["compare", str(base), str(new)])
    assert result.exit_code == 1, result.output


def test_one_side_with_rounds_resamples_both_in_two_levels():
    base = rounds_row((2.04, 2.05, 2.045), seed=1, keep_rounds=False)
    new = rounds_row((2.04, 2.36, 2.05), seed=2)
    ratio, low, high, method = ratio_interval(base, new, np.random.default_rng(0))
    assert method == "bootstrap (rounds)" and low <= 1.0 and high > 1.1


def test_report_shows_the_spread_and_flags_rounds_beyond_their_noise(tmp_path):
    rows = [rounds_row(BIMODAL_BASE, seed=1),
            rounds_row((10.0, 10.0, 10.0), noise=0.01, seed=3, case_id="rmsnorm/4096")]
    md = render_report(load_run(write_run(tmp_path / "run", rows)))
    assert "| rounds |" in md
    assert f"| 3, spread {rows[0].round_spread_pct:.1f}% |" in md
    assert "Rounds that disagree beyond their own noise" in md
    flagged = [line for line in md.splitlines() if line.startswith("- flashinfer rmsnorm/")]
    assert len(flagged) == 1 and flagged[0].startswith("- flashinfer rmsnorm/128: round medians 2.04/2.36/2.05 us")
