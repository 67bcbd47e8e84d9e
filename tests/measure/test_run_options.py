"""The measurement options of `fibench run`: what reaches the library, one-line errors."""

import json

import pytest
from typer.testing import CliRunner

from fibench.cli import app
from fibench.measure.stopping import DEFAULT_MAX_TIME_S, DEFAULT_MIN_SAMPLES
from fibench.sweep.config import resolve_run
from fibench.sweep.parsing import parse_percent

runner = CliRunner()


@pytest.mark.parametrize("args, message", [
    (["--timer", "nvtx"], "--timer must be one of events, cupti, wall, auto"),
    (["--timer", "cupti"], "--timer cupti needs a CUDA GPU"),
    (["--timer", "events"], "--timer events needs a CUDA GPU"),
    (["--target-noise", "fast"], "--target-noise: 'fast' is not a percentage"),
    (["--target-noise", "0"], "--target-noise must be in (0, 50] percent"),
    (["--target-noise", "0.5%", "--iters", "20"], "exclude each other"),
    (["--min-samples", "5"], "apply with --target-noise"),
    (["--target-noise", "1", "--max-time", "0"], "--max-time must be > 0"),
    (["--on-throttle", "panic"], "--on-throttle must be one of flag, retry"),
    (["--throttle-threshold", "150"], "--throttle-threshold must be in (0, 100] percent"),
])
def test_bad_measurement_options_are_one_line_exit_2(args, message):
    result = runner.invoke(app, ["run", "norm", "--sizes", "1", "--device", "cpu", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_adaptive_options_reach_the_config():
    cfg = resolve_run("norm", "1", device="cpu", target_noise="0.5%", min_samples=20)
    assert cfg.stop.adaptive and cfg.stop.target_pct == 0.5 and cfg.stop.min_samples == 20
    assert cfg.stop.max_time_s == DEFAULT_MAX_TIME_S
    cfg = resolve_run("norm", "1", device="cpu", target_noise=1, on_throttle="retry", throttle_threshold="85%")
    assert cfg.stop.min_samples == DEFAULT_MIN_SAMPLES
    assert (cfg.throttle.on_throttle, cfg.throttle.threshold_pct) == ("retry", 85.0)
    assert cfg.timer == "wall"  # CPU default
    cfg = resolve_run("norm", "1", device="cpu", iters=7)
    assert not cfg.stop.adaptive and cfg.stop.min_samples == 7


@pytest.mark.parametrize("text, pct", [("0.5", 0.5), ("0.5%", 0.5), (" 3 % ", 3.0), (2, 2.0)])
def test_percent_parsing(text, pct):
    assert parse_percent(text, "--x") == pct


def test_cpu_run_records_interval_stop_reason_and_samples(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "norm", "--sizes", "2", "--device", "cpu", "--backends", "torch",
                                 "--target-noise", "40", "--max-time", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert row["timer"] == "cpu-wall-clock" and row["timer_requested"] == "wall"
    assert row["stop_reason"] in ("target-noise", "max-time") and row["timing_s"] > 0
    assert row["median_ci_low_us"] <= row["median_us"] <= row["median_ci_high_us"]
    assert len(row["extra"]["samples_us"]) == row["samples"]
    assert "--target-noise 40% --min-samples 10 --max-time 2" in row["command"]
    run = json.loads((out / "run.json").read_text())
    assert run["stop"]["target_pct"] == 40.0 and run["timer"] == "wall"
    report = (out / "report.md").read_text()
    assert "## Timing quality" in report and "![norm" not in report  # the op is rmsnorm
    assert "![rmsnorm: latency against rows](plots/latency_rmsnorm.png)" in report
    assert (out / "plots" / "latency_rmsnorm.png").stat().st_size > 1000
