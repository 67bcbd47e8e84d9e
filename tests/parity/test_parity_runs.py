"""`fibench parity A B` on saved CPU runs of the small MoE preset: matching, refusal of
differing inputs, parity.csv / parity.md, and the exit codes 0 / 1 / 2."""

import shutil

import pandas as pd
import pytest
from safetensors.torch import save_file
from typer.testing import CliRunner

from fibench.cli import app
from fibench.errors import UsageError
from fibench.parity.runs import match, parse_pairs
from fibench.parity.store import load_tensors, read_manifest


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _run(root, name, *extra):
    result = invoke("run", "moe", "--model", "small", "--sizes", "1,4", "--iters", "1", "--warmup", "0",
                    "--device", "cpu", "--backends", "torch-grouped", "--save-tensors", root / name,
                    "--out", root / f"{name}-run", *extra)
    assert result.exit_code == 0, result.output
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A; B = A's inputs in a fresh run (--inputs-from); C = another seed (other inputs)."""
    root = tmp_path_factory.mktemp("runs")
    a = _run(root, "a")
    b = _run(root, "b", "--inputs-from", a)
    c = _run(root, "c", "--seed", "1")
    return a, b, c


def test_same_backends_match_and_pass_bitwise(runs, tmp_path):
    a, b, _ = runs
    result = invoke("parity", a, b, "--require", "bitwise", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "4 of 4 comparisons meet --require bitwise" in result.output
    df = pd.read_csv(tmp_path / "parity.csv")
    assert sorted(zip(df.case_id, df.backend_a, df.backend_b)) == [
        ("moe/1", "torch", "torch"), ("moe/1", "torch-grouped", "torch-grouped"),
        ("moe/4", "torch", "torch"), ("moe/4", "torch-grouped", "torch-grouped")]
    assert df.met.all() and (df.bitwise_equal_frac == 1.0).all() and (df.ulp_hist_0 == df.elements).all()
    assert (df.ulp_max_above_floor == 0).all() and (df.require == "bitwise").all()
    md = (tmp_path / "parity.md").read_text()
    assert "## `torch-grouped` (B) against `torch-grouped` (A)" in md and "**4 of 4 comparisons meet it.**" in md
    assert "- **p50 / p99 / p99.9**: " in md and "| torch | 2." in md


def test_run_folders_are_followed_to_their_tensors(runs, tmp_path):
    a, b, _ = runs
    result = invoke("parity", a.parent / "a-run", b.parent / "b-run", "--out", tmp_path)
    assert result.exit_code == 0, result.output


def test_pair_across_backends_exit_1_when_requirement_fails(runs, tmp_path):
    a, b, _ = runs
    result = invoke("parity", a, b, "--pair", "torch=torch-grouped", "--require", "bitwise", "--out", tmp_path)
    assert result.exit_code == 1, result.output
    df = pd.read_csv(tmp_path / "parity.csv")
    assert list(df.case_id) == ["moe/1", "moe/4"] and not df.met.any()
    assert df.why.str.startswith("bitwise-equal fraction").all()
    assert (df.verdict == "pass").all()  # within tolerance, not bit-identical
    assert "Worst elements, `torch-grouped` (B) against `torch` (A) on moe/1" in (tmp_path / "parity.md").read_text()
    ok = invoke("parity", a, b, "--pair", "torch=torch-grouped", "--out", tmp_path)
    assert ok.exit_code == 0, ok.output  # default --require tolerance


def test_different_inputs_are_refused_with_exit_2(runs, tmp_path):
    a, _, c = runs
    result = invoke("parity", a, c, "--out", tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith("error: case moe/1: input ") and "differs between A and B" in result.output
    assert result.output.strip().count("\n") == 0 and not (tmp_path / "parity.csv").exists()


def test_altered_output_file_is_exit_2(runs, tmp_path):
    a, b, _ = runs
    altered = tmp_path / "b"
    shutil.copytree(b, altered)
    saved = read_manifest(altered).cases["moe/4"].outputs["torch-grouped"]
    out = load_tensors(altered, saved.file, saved.tensors, what="x")
    out["out"][0, 0] = 7.0
    save_file(out, str(altered / saved.file))
    result = invoke("parity", a, altered, "--out", tmp_path / "p")
    assert result.exit_code == 2 and "B: outputs of torch-grouped on moe/4: tensor out in" in result.output


@pytest.mark.parametrize("args, message", [
    (["--require", "exact"], "--require must be bitwise, ulp:N (N >= 0) or tolerance"),
    (["--pair", "torch"], "--pair must be BACKEND_A=BACKEND_B"),
    (["--pair", "nope=torch"], "no (case, backend) is in both A and B"),
])
def test_bad_options_exit_2(runs, tmp_path, args, message):
    a, b, _ = runs
    result = invoke("parity", a, b, *args, "--out", tmp_path)
    assert result.exit_code == 2 and message in result.output, result.output


def test_not_a_store_exit_2(tmp_path):
    result = invoke("parity", tmp_path, tmp_path / "missing")
    assert result.exit_code == 2 and "no manifest.json" in result.output


def test_match_lists_what_is_only_on_one_side(runs):
    a, b, _ = runs
    ma, mb = read_manifest(a), read_manifest(b)
    del mb.cases["moe/1"]
    del mb.cases["moe/4"].outputs["torch"]
    triples, missing = match(ma, mb, None)
    assert triples == [("moe/4", "torch-grouped", "torch-grouped")]
    assert missing == ["case moe/1: only in A", "case moe/4: torch (A) vs torch (B): no outputs in B"]
    mb.suite = "norm"
    with pytest.raises(UsageError, match="A is suite 'moe', B is suite 'norm'"):
        match(ma, mb, None)


def test_parse_pairs():
    assert parse_pairs(None) is None
    assert parse_pairs(["flashinfer-cutlass=trtllm-moe", " a = b "]) == [("flashinfer-cutlass", "trtllm-moe"), ("a", "b")]
    for bad in ("a=", "=b", "a=b=c"):
        with pytest.raises(UsageError):
            parse_pairs([bad])
