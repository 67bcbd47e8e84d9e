"""Axes as data: parsing, precedence, the case product, and run commands built from them."""

import json
from typing import Any, ClassVar

import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from fibench.cli.common import OneLineGroup
from fibench.cli.run import make_command
from fibench.errors import UsageError
from fibench.presets import get_preset
from fibench.suites.base import Backend, Case, Inputs, Launch, Suite, Work
from fibench.sweep.axes import Axis, axis_points, resolve_axes
from fibench.sweep.config import build_cases

KV = Axis("kv_len", int, "KV tokens per request", default=[1024, 8192], swept=True, minimum=1)
PAGE = Axis("page_size", int, "tokens per page", default=16, swept=True, minimum=1)
DIST = Axis("kv_dist", str, "length distribution", default="uniform", choices=("uniform", "random"))
CAUSAL = Axis("causal", bool, "causal mask", default=False)
HIDDEN = Axis("hidden", int, "hidden size", preset="hidden", minimum=1)


@pytest.mark.parametrize("axis, text, values", [
    (KV, "1024,8k", [1024, 8192]),
    (KV, " 7 ", [7]),
    (DIST, "random", ["random"]),
    (Axis("flags", bool, "", swept=True), "true,false", [True, False]),
    (Axis("scale", float, "", minimum=0.0), "0.5", [0.5]),
])
def test_parse_values(axis, text, values):
    assert axis.parse(text) == values


@pytest.mark.parametrize("axis, text, message", [
    (KV, "1024,,2", "--kv-len: empty value"),
    (KV, "0", "--kv-len must be >= 1, got 0"),
    (KV, "12x", "'12x' is not an integer"),
    (KV, "5,5", "5 given twice"),
    (KV, "99999999999", "exceeds the limit"),
    (DIST, "zipf", "unknown value 'zipf'; known: uniform, random"),
    (HIDDEN, "4096,8192", "--hidden takes one value"),
    (Axis("on", bool, "", swept=True), "maybe", "'maybe' is not true/false"),
])
def test_parse_errors_name_the_option(axis, text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        axis.parse(text)


def test_precedence_command_line_over_preset_over_default():
    preset = get_preset("llama-3-8b")
    axes = (KV, HIDDEN, DIST)
    assert resolve_axes(axes, {}, preset) == {"kv_len": [1024, 8192], "hidden": [4096], "kv_dist": ["uniform"]}
    got = resolve_axes(axes, {"hidden": "512", "kv_len": [64]}, preset)
    assert got["hidden"] == [512] and got["kv_len"] == [64]
    with pytest.raises(UsageError, match="--hidden is required"):
        resolve_axes(axes, {}, None)
    with pytest.raises(UsageError, match="--experts is not an option of this suite"):
        resolve_axes(axes, {"experts": "8"}, preset)


def test_product_first_axis_slowest():
    points = axis_points((KV, PAGE), {"kv_len": [1, 2], "page_size": [16, 64, 128]})
    assert len(points) == 6
    assert points[:3] == [{"kv_len": 1, "page_size": 16}, {"kv_len": 1, "page_size": 64},
                          {"kv_len": 1, "page_size": 128}]


def test_argument_round_trips_through_parse():
    assert CAUSAL.argument(True) == "--causal" and CAUSAL.argument(False) == "--no-causal"
    assert KV.argument(8192) == "--kv-len 8192" and KV.parse(KV.argument(8192).split()[1]) == [8192]


class _Echo(Backend):
    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "returns its input"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        return Launch({"x": inputs.tensors["x"]}, lambda t: (lambda: {"out": t["x"].clone()}))


class ToySuite(Suite):
    """A suite defined only here: adding it must not need any CLI edit."""

    name: ClassVar[str] = "toy"
    description: ClassVar[str] = "toy attention-like suite"
    size_name: ClassVar[str] = "batch"
    ops: ClassVar[tuple[str, ...]] = ("toy",)
    axes: ClassVar[tuple[Axis, ...]] = (HIDDEN, KV, PAGE, DIST, CAUSAL)
    backends: ClassVar[dict[str, type[Backend]]] = {"echo": _Echo}
    default_reference: ClassVar[str] = "echo"
    default_model: ClassVar[str] = "llama-3-8b"

    def check_point(self, params: dict[str, Any]) -> None:
        if params["page_size"] > params["kv_len"]:
            raise UsageError(f"--page-size {params['page_size']} exceeds --kv-len {params['kv_len']}")

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        x = torch.full((case.size, case.params["hidden"]), float(case.params["kv_len"]))
        return Inputs({"x": x}, Work(flop=0.0, bytes_read=x.numel() * 4, bytes_written=x.numel() * 4))


def test_cases_are_the_product_with_stable_ids():
    cases, shape = build_cases(ToySuite(), [1, 4], "fp32", 3, ["toy"], None, {"kv_len": "64,128"})
    assert [c.case_id for c in cases] == [
        "toy/1/kv_len=64", "toy/1/kv_len=128",
        "toy/4/kv_len=64", "toy/4/kv_len=128"]
    assert shape == {"model": "llama-3-8b", "hidden": 4096, "kv_len": [64, 128], "page_size": 16,
                     "kv_dist": "uniform", "causal": False}
    with pytest.raises(UsageError, match="--page-size 16 exceeds --kv-len 8"):
        build_cases(ToySuite(), [1], "fp32", 0, ["toy"], None, {"kv_len": "8"})


def _app() -> typer.Typer:
    app = typer.Typer(cls=OneLineGroup)
    sub = typer.Typer()
    sub.command("toy")(make_command(ToySuite()))
    app.add_typer(sub, name="run")
    return app


def test_suite_options_reach_the_cli_without_edits(tmp_path, monkeypatch):
    monkeypatch.setattr("fibench.sweep.config.get_suite", lambda name: ToySuite())
    runner = CliRunner()
    help_text = runner.invoke(_app(), ["run", "toy", "--help"]).output
    for option in ("--kv-len", "--page-size", "--kv-dist", "--causal", "--no-causal", "--hidden", "--sizes"):
        assert option in help_text
    out = tmp_path / "r"
    result = runner.invoke(_app(), ["run", "toy", "--sizes", "2", "--kv-len", "32,64", "--causal", "--hidden", "8",
                                    "--iters", "2", "--warmup", "1", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns[4:9]) == ["hidden", "kv_len", "page_size", "kv_dist", "causal"]
    assert sorted(df.kv_len) == [32, 64] and df.causal.all()
    assert df.command.iloc[0].startswith(
        "fibench run toy --model llama-3-8b --hidden 8 --kv-len 32 --page-size 16 --kv-dist uniform --causal")
    run = json.loads((out / "run.json").read_text())
    assert run["shape"]["kv_len"] == [32, 64]
    report = (out / "report.md").read_text()
    assert "| op | batch | kv_len | echo |" in report  # the swept axis gets a column


def test_bad_axis_value_is_one_line(monkeypatch):
    monkeypatch.setattr("fibench.sweep.config.get_suite", lambda name: ToySuite())
    result = CliRunner().invoke(_app(), ["run", "toy", "--sizes", "1", "--kv-len", "0", "--device", "cpu"])
    assert result.exit_code == 2 and "error: --kv-len must be >= 1, got 0" in result.output
    assert "Traceback" not in result.output
