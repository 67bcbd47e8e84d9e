"""Issue 9 at the CLI boundary: every bad input is one line and exit 2 (nothing written);
a damaged run folder is reported line by line and rebuilt, never a traceback."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from fibench.cli import app
from fibench.sweep.rowfiles import read_rows

runner = CliRunner()
MOE = ["run", "moe", "--model", "small", "--sizes", "1"]
TREE = "tests/audit/fixtures/skips_tree"


def invoke(*args):
    return runner.invoke(app, list(args))


def one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.output.strip() == errors[0], result.output
    return errors[0]


@pytest.fixture
def place(tmp_path):
    (tmp_path / "FILE").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    (tmp_path / "README.md").write_text("# not python")
    return tmp_path


@pytest.mark.parametrize("command", [MOE, ["audit", "skips", TREE], ["audit", "compat"]],
                         ids=["run", "skips", "compat"])
@pytest.mark.parametrize("out, message", [
    ("FILE", "FILE: is an existing file, not a folder"),
    ("FILE/sub", "FILE is a file, so no folder can be created under it"),
    ("/proc/x", "/proc/x: cannot write there"),
])
def test_every_out_option_refuses_a_bad_folder_before_any_work(place, command, out, message):
    target = out if out.startswith("/") else str(place / out)
    line = one_line_error(invoke(*command, "--out", target))
    assert message in line


def test_run_refuses_a_folder_that_holds_a_run(place):
    (place / "old").mkdir()
    (place / "old" / "run.json").write_text("{}")
    line = one_line_error(invoke(*MOE, "--out", str(place / "old")))
    assert "already holds a run (run.json)" in line and "--resume" in line
    assert sorted(p.name for p in (place / "old").iterdir()) == ["run.json"]  # untouched


def test_audits_refuse_a_folder_holding_their_own_results(place):
    (place / "a").mkdir()
    (place / "a" / "compat.json").write_text("{}")
    assert "already holds a compat audit" in one_line_error(invoke("audit", "compat", "--out", str(place / "a")))
    (place / "a" / "skips.md").write_text("")
    assert "already holds a skips audit" in one_line_error(invoke("audit", "skips", TREE, "--out", str(place / "a")))


@pytest.mark.parametrize("args, message", [
    (["--seed", "99999999999999999999"], "--seed must be between 0 and 18446744073709551615"),
    (["--seed", "-1"], "--seed must be between 0 and"),
    (["--model", ""], "--model is empty"),
    (["--model", "  "], "--model is empty"),
    (["--resume"], "--resume needs --out"),
], ids=["seed-overflow", "seed-negative", "model-empty", "model-blank", "resume-without-out"])
def test_run_option_values(place, args, message):
    line = one_line_error(invoke("run", "moe", "--sizes", "1", "--out", str(place / "r"), *args)
                          if "--resume" not in args else invoke("run", "moe", "--sizes", "1", *args))
    assert message in line
    assert not (place / "r").exists()


def test_resume_of_a_folder_without_a_run(place):
    assert "holds no run to continue" in one_line_error(invoke(*MOE, "--out", str(place / "empty"), "--resume"))


def test_missing_required_option_is_one_line():
    assert "Missing option '--sizes'" in one_line_error(invoke("run", "moe"))


@pytest.mark.parametrize("target, message", [
    ("README.md", "is not a Python file (.py)"),
    ("empty", "no Python files under"),
])
def test_skips_refuses_what_holds_no_python(place, target, message):
    line = one_line_error(invoke("audit", "skips", str(place / target), "--out", str(place / "o")))
    assert message in line
    assert not (place / "o").exists()  # the folder made for the results is removed again


def test_a_plugin_that_cannot_load_is_one_line(monkeypatch):
    monkeypatch.setenv("FIBENCH_PLUGINS", "no_such_fibench_plugin")
    line = one_line_error(invoke(*MOE))
    assert "FIBENCH_PLUGINS: cannot load plugin 'no_such_fibench_plugin': ModuleNotFoundError" in line


# --- damaged run folders -------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "norm"
    result = invoke("run", "norm", "--sizes", "2,3", "--hidden", "64", "--iters", "2", "--warmup", "0",
                    "--backends", "torch,flashinfer",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    return shutil.copytree(finished_run, tmp_path / "run")


def test_report_with_a_corrupt_run_json_says_so_and_still_renders(run_copy):
    (run_copy / "run.json").write_text('{"suite": "norm", "sizes": [2,')
    result = invoke("report", str(run_copy))
    assert result.exit_code == 0, result.output
    assert "warning: run.json: unreadable (JSONDecodeError" in result.output
    text = (run_copy / "report.md").read_text()
    assert "## Unreadable parts of the run folder" in text and "run.json: unreadable" in text
    assert "fused_add_rmsnorm" in text  # the rows are all there


def test_report_names_a_line_cut_in_the_middle_and_rebuilds_results_jsonl(run_copy):
    lines = (run_copy / "results.jsonl").read_text().splitlines()
    assert len(lines) == 8  # 2 ops x 2 sizes x 2 backends
    lines[2] = lines[2][:40]  # a cut line in the middle (e.g. a disk that filled up, then space freed)
    (run_copy / "results.jsonl").write_text("\n".join(lines) + "\n")
    result = invoke("report", str(run_copy))
    assert result.exit_code == 0, result.output
    assert "warning: results.jsonl line 3: cut or corrupt" in result.output
    assert "recovered from results.csv" in result.output  # results.csv still had that row
    assert "rebuilt results.jsonl from the 8 readable rows (the old file is kept as results.jsonl.broken)" \
        in result.output
    assert (run_copy / "results.jsonl.broken").read_text().splitlines()[2] == lines[2]
    again = read_rows(run_copy)
    assert len(again.rows) == 8 and again.problems == []
    assert "results.jsonl line 3" in (run_copy / "report.md").read_text()


def test_report_rebuilds_a_broken_results_csv(run_copy):
    text = (run_copy / "results.csv").read_text().splitlines()
    (run_copy / "results.csv").write_text("\n".join(text[:3] + [text[3][:25]]) + "\n")  # cut after 2 rows
    result = invoke("report", str(run_copy))
    assert result.exit_code == 0, result.output
    assert "warning: results.csv record 4: " in result.output and "(cut), skipped" in result.output
    assert "rebuilt results.csv from the 8 readable rows" in result.output
    frame = pd.read_csv(run_copy / "results.csv")
    assert len(frame) == 8 and list(frame.backend) == ["torch", "flashinfer"] * 4
    assert (run_copy / "results.csv.broken").exists()


def test_report_on_a_run_stopped_before_its_first_row(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"suite": "norm", "stopped_by": "SIGINT"}))
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.md").read_text()
    assert "0 rows" in text and "Stopped by SIGINT" in text


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    assert "not a fibench run folder" in one_line_error(invoke("report", str(tmp_path)))
