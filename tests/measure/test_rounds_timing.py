"""Timing rounds: how the stopping rule is shared out, and a CPU pass made of rounds, each
over a fresh RotationSet made before the previous one is released."""

import json
import statistics
import weakref

import pytest
import torch
from typer.testing import CliRunner

from fibench.cli import app
from fibench.measure import timing
from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet
from fibench.measure.stats import summarize
from fibench.measure.stopping import STOP_TARGET, StopRule, round_rules
from fibench.suites.base import Launch
from fibench.sweep.config import DEFAULT_ROUNDS, resolve_run

CPU = torch.device("cpu")
runner = CliRunner()


@pytest.mark.parametrize("iters, rounds, sizes", [
    (50, 3, [17, 17, 16]),
    (2, 3, [1, 1]),      # fewer samples than rounds: one round per sample
    (7, 1, [7]),
    (3, 3, [1, 1, 1]),
])
def test_a_fixed_rule_is_shared_out(iters, rounds, sizes):
    rules = round_rules(StopRule.fixed(iters), rounds)
    assert [r.min_samples for r in rules] == sizes and not any(r.adaptive for r in rules)


def test_an_adaptive_rule_runs_per_round_with_a_share_of_the_time():
    rule = StopRule(min_samples=10, target_pct=0.5, max_time_s=9.0, max_samples=1000)
    rules = round_rules(rule, 3)
    assert len(rules) == 3
    assert all((r.min_samples, r.target_pct, r.max_time_s, r.max_samples) == (10, 0.5, 3.0, 333) for r in rules)
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        round_rules(rule, 0)


def _cpu_launch():
    x = torch.randn(32, 32)
    return Launch({"x": x}, lambda t: (lambda: {"out": t["x"] @ t["x"]}))


def _plan(graph):
    return ColdL2Plan("rotate", "n/a", False, 1, 1, False, 0)


@pytest.fixture
def made(monkeypatch):
    """Every RotationSet the timing code builds, with which earlier ones were alive then."""
    log = []

    class Counting(RotationSet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            log.append({"alive": [ref() is not None for ref in (e["ref"] for e in log)], "ref": weakref.ref(self)})

    monkeypatch.setattr(timing, "RotationSet", Counting)
    return log


def test_each_round_times_a_fresh_rotation_set(made):
    t = timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=True, warmup=1, iters=50, rounds=3)
    assert t.rounds == 3 and t.round_sizes == [17, 17, 16] and len(made) == 3
    assert t.stats.samples == len(t.samples_us) == 50
    assert [e["alive"] for e in made] == [[], [True], [False, True]]  # new one made before the last goes
    assert t.round_medians_us == pytest.approx([statistics.median(t.samples_us[a:b])
                                                for a, b in ((0, 17), (17, 34), (34, 50))])
    assert t.stats == summarize(t.samples_us, round_sizes=[17, 17, 16])  # pooled, interval over the rounds


def test_fewer_samples_than_rounds_and_one_round(made):
    t = timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=False, warmup=1, iters=2, rounds=3)
    assert (t.rounds, t.round_sizes, len(made)) == (2, [1, 1], 2)
    made.clear()
    t = timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=False, warmup=1, iters=12)
    assert (t.rounds, t.round_sizes, len(made)) == (1, [12], 1)


def test_adaptive_stopping_works_in_every_round(made):
    rule = StopRule(min_samples=10, target_pct=50.0, max_time_s=6.0)
    t = timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=False, warmup=1, rule=rule, rounds=3)
    assert t.rounds == 3 and len(made) == 3 and all(k >= 10 for k in t.round_sizes)
    assert sum(t.round_sizes) == t.stats.samples and t.stop_reason == STOP_TARGET


def test_copies_that_do_not_fit_twice_release_the_previous_round_first(monkeypatch):
    built = []

    class Tight(RotationSet):
        def __init__(self, *args, **kwargs):
            if len(built) == 1 and not getattr(Tight, "failed", False):
                Tight.failed = True
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (stand-in)")
            super().__init__(*args, **kwargs)
            built.append(1)

    monkeypatch.setattr(timing, "RotationSet", Tight)
    t = timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=False, warmup=1, iters=9, rounds=3)
    assert t.rounds == 3 and len(built) == 3
    assert sum("did not fit beside the previous round's" in n for n in t.notes) == 1


def test_bad_rounds_are_refused():
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        timing.run_timing(_cpu_launch(), _plan, device=CPU, graph=False, warmup=1, iters=3, rounds=0)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_cli_refuses_rounds_below_one_in_one_line(value):
    result = runner.invoke(app, ["run", "norm", "--sizes", "1", "--device", "cpu", "--rounds", value])
    assert result.exit_code == 2, result.output
    assert f"--rounds must be >= 1, got {value}" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_rounds_reach_the_config_and_default_to_three():
    assert resolve_run("norm", "1", device="cpu").rounds == DEFAULT_ROUNDS == 3
    assert resolve_run("norm", "1", device="cpu", rounds=5).rounds == 5


def test_cpu_run_records_rounds_in_row_csv_run_json_and_command(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "norm", "--sizes", "2", "--device", "cpu", "--backends", "torch",
                                 "--op", "rmsnorm", "--iters", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert row["rounds"] == 3 and row["extra"]["round_sizes"] == [7, 7, 6]
    medians = row["extra"]["round_medians_us"]
    assert len(medians) == 3 and len(row["extra"]["samples_us"]) == row["samples"] == 20
    assert row["round_spread_pct"] == pytest.approx(100 * (max(medians) - min(medians)) / statistics.median(medians),
                                                    rel=1e-3)
    assert "--rounds 3" in row["command"]
    assert json.loads((out / "run.json").read_text())["rounds"] == 3
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header[header.index("noise_pct") + 1:header.index("noise_pct") + 3] == ["rounds", "round_spread_pct"]
    assert "in 3 rounds per row" in (out / "report.md").read_text()

    one = tmp_path / "one"
    result = runner.invoke(app, ["run", "norm", "--sizes", "2", "--device", "cpu", "--backends", "torch",
                                 "--op", "rmsnorm", "--iters", "20", "--rounds", "1", "--out", str(one)])
    assert result.exit_code == 0, result.output
    row = json.loads((one / "results.jsonl").read_text().splitlines()[0])
    assert row["rounds"] == 1 and row["round_spread_pct"] is None and row["extra"]["round_sizes"] == [20]
    assert "rounds per row" not in (one / "report.md").read_text()
