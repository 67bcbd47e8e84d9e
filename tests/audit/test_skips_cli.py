"""`fibench audit skips` at its boundary: exit codes, one-line errors, files written."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fibench.cli import app

HERE = Path(__file__).parent / "fixtures"
TREE = HERE / "skips_tree"
RUN = HERE / "skips_junit" / "run.xml"
SHARD = HERE / "skips_junit" / "shard2.xml"

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["audit", "skips", *map(str, args)])


def error_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_writes_csv_and_markdown_and_prints_a_summary(tmp_path):
    result = invoke(TREE, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "out" / "skips.csv", keep_default_na=False)
    assert len(frame) == 61
    assert list(frame.columns[:6]) == ["file", "line", "function", "context", "kind", "via"]
    assert frame["category"].value_counts().to_dict() == {
        "Other": 19, "Environment Issues": 15, "Hardware Requirements": 12, "Feature Unsupported": 5,
        "Backend Limitations": 6, "Parameter Validation": 4,
    }
    assert (frame["rule_id"] == "").sum() == 10
    md = (tmp_path / "out" / "skips.md").read_text()
    assert "**61 sites** skip or xfail tests, in **13 files**" in md
    assert "| Hardware Requirements | 12 | 19.7% |" in md
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "Categories" in output and "61 sites in 13 files" in output
    assert f"wrote {tmp_path / 'out' / 'skips.md'}" in result.output
    assert not (tmp_path / "out" / "skips_runtime.csv").exists()


def test_default_output_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(TREE / "test_params.py")
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "fibench-results").glob("skips-*/skips.csv"))
    assert len(written) == 1
    assert len(pd.read_csv(written[0])) == 5


def test_junit_and_baseline(tmp_path):
    first = invoke(TREE, "--out", tmp_path / "first")
    assert first.exit_code == 0, first.output
    old = pd.read_csv(tmp_path / "first" / "skips.csv", keep_default_na=False)
    old = old[old["category"] != "Parameter Validation"]  # pretend 4 sites were added since
    old.to_csv(tmp_path / "old.csv", index=False)
    result = invoke(TREE, "--out", tmp_path / "out", "--junit", RUN, "--junit", SHARD, "--baseline", tmp_path / "old.csv")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "skips.md").read_text()
    # columns: sites, %, reasons, files, unconditional, by condition, tests affected, change, run
    # Parameter Validation: test_heads, test_percent_tuple, test_runtime_xfail (1 item each) and a
    # pytest.param in CASES, which no test uses (0)
    assert "| Parameter Validation | 4 | 6.6% | 4 | 4 | 3 | 0 | 3 | +4 | 0 | 0 |" in md
    # Feature Unsupported: test_xfail_strict, test_const_reason, test_grouping, test_runtime_skip (1 each)
    # and the fp8 case of test_dtypes (1 of its 4 values)
    assert "| Feature Unsupported | 5 | 8.2% | 4 | 4 | 4 | 0 | 5 | +0 | 2 | 2 |" in md
    assert "Against the baseline: 57 → 61 sites (+4)." in md
    assert "11 tests, 6 skipped, 3 xfailed; 8 of 9 outcomes matched a static reason." in md
    runtime = pd.read_csv(tmp_path / "out" / "skips_runtime.csv", keep_default_na=False)
    assert runtime["count"].sum() == 9
    assert "run: 11 tests, 6 skipped, 3 xfailed" in result.output


def test_user_rules_extend_and_replace(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nid = 'team-fa3'\ncategory = 'Backend Limitations'\npattern = 'fa3'\n")
    extended = invoke(TREE, "--out", tmp_path / "ext", "--rules", rules, "--rules-mode", "extend")
    assert extended.exit_code == 0, extended.output
    frame = pd.read_csv(tmp_path / "ext" / "skips.csv", keep_default_na=False)
    assert (frame["rule_id"] == "team-fa3").sum() == 3
    assert (frame["rule_id"] == "hw-gpu-arch").sum() == 2  # by reason: "FP4 requires SM100", "SM{sm} is ..."
    assert (frame["rule_id"] == "cond-hw-arch").sum() == 3  # by condition: get_device_capability()
    replaced = invoke(TREE, "--out", tmp_path / "rep", "--rules", rules)
    assert replaced.exit_code == 0, replaced.output
    frame = pd.read_csv(tmp_path / "rep" / "skips.csv", keep_default_na=False)
    assert frame["category"].value_counts().to_dict() == {"Other": 58, "Backend Limitations": 3}


@pytest.mark.parametrize(
    "args, message",
    [
        (["does/not/exist"], "error: path not found: does/not/exist"),
        ([TREE, "--rules", "missing.toml"], "error: rules file not found: missing.toml"),
        ([TREE, "--rules-mode", "extend"], "error: --rules-mode needs --rules"),
        ([TREE, "--junit", "missing.xml"], "error: JUnit file not found: missing.xml"),
        ([TREE, "--baseline", "missing.csv"], "error: baseline file not found: missing.csv"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = invoke(*args, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert error_line(result) == message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[[rule]\n", "not valid TOML"),
        ("[[rule]]\nid='x'\ncategory='Other'\npattern='(('\n", "rule 1 (x): bad regex"),
        ("[[rule]]\nid='x'\ncategory='GPU'\npattern='a'\n", "rule 1 (x): unknown category 'GPU'"),
    ],
)
def test_bad_rules_files(tmp_path, text, fragment):
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    result = invoke(TREE, "--rules", rules, "--out", tmp_path / "out")
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {rules}: ") and fragment in line


def test_bad_rules_mode(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nid='x'\ncategory='Other'\npattern='a'\n")
    result = invoke(TREE, "--rules", rules, "--rules-mode", "merge", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert error_line(result) == "error: unknown rules mode 'merge' (use one of: replace, extend)"


def test_help_lists_every_option():
    result = runner.invoke(app, ["audit", "skips", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--rules", "--rules-mode", "--junit", "--baseline"):
        assert option in result.output
