"""Saved tensors: safetensors round trip, manifest validation (missing, mismatched, altered
files are one-line errors), --save-tensors / --inputs-from on CPU runs."""

import hashlib
import json
import shutil

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from fibench.cli import app
from fibench.errors import UsageError
from fibench.parity.store import (TensorStore, case_key, check_new_store, check_saved_inputs, load_tensors,
                                  read_manifest, tensor_sha256)
from fibench.suites.base import Case
from fibench.suites.moe import MoeSuite
from fibench.sweep.config import resolve_run
from fibench.sweep.session import execute_run

ENV = {"fibench_version": "0.1.0", "torch_version": "2.11.0", "gpu_name": "NVIDIA H200", "driver_version": "580.1",
       "unrelated": "dropped"}


def _case(size=2, seed=0, hidden=4):
    return Case("moe", "moe", size, "bf16", {"model": "small", "hidden": hidden}, seed, ("hidden",))


def _tensors():
    return {"x": torch.arange(8, dtype=torch.float32).reshape(2, 4).to(torch.bfloat16),
            "ids": torch.tensor([[0, 3], [1, 2]], dtype=torch.int32),
            "w": torch.tensor([0.25, -1.5], dtype=torch.float32)}


@pytest.fixture
def store(tmp_path):
    s = TensorStore(tmp_path / "t", suite="moe", run={"command": "fibench run moe", "shape": (1, 2)}, env=ENV)
    s.save_inputs(_case(), _tensors())
    s.save_outputs(_case(), "torch-grouped", {"out": torch.ones(2, 4, dtype=torch.bfloat16)})
    s.annotate(_case(), "torch-grouped", deterministic=False, graph_deterministic=None)
    return tmp_path / "t"


def test_sha256_of_raw_bytes_by_hand():
    one = torch.tensor([1.0], dtype=torch.bfloat16)  # bits 0x3F80, little-endian bytes 80 3F
    assert tensor_sha256(one) == hashlib.sha256(b"\x80\x3f").hexdigest()
    base = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    assert tensor_sha256(base[:, 1:3]) == tensor_sha256(base[:, 1:3].contiguous())
    assert tensor_sha256(base[:, 1:3]) != tensor_sha256(base[:, 0:2])


def test_round_trip_keeps_bits_and_manifest(store):
    m = read_manifest(store)
    assert m.suite == "moe" and m.run["shape"] == [1, 2]
    assert m.env["gpu_name"] == "NVIDIA H200" and "unrelated" not in m.env and "tensorrt_llm_version" in m.env
    saved = m.cases["moe/2/hidden=4"]
    assert (saved.size, saved.seed, saved.params, saved.swept) == (2, 0, {"model": "small", "hidden": 4}, ["hidden"])
    assert saved.inputs_file == f"inputs/{case_key('moe/2/hidden=4')}.safetensors" == "inputs/moe__2__hidden=4.safetensors"
    assert saved.inputs["ids"] == {"dtype": "int32", "shape": [2, 2], "sha256": tensor_sha256(_tensors()["ids"])}
    back = load_tensors(store, saved.inputs_file, saved.inputs, what="inputs")
    for name, t in _tensors().items():
        assert back[name].dtype == t.dtype and torch.equal(back[name].view(-1).view(torch.uint8),
                                                           t.view(-1).view(torch.uint8))
    out = saved.outputs["torch-grouped"]
    assert out.facts == {"deterministic": False, "graph_deterministic": None}
    assert torch.equal(load_tensors(store, out.file, out.tensors, what="out")["out"], torch.ones(2, 4, dtype=torch.bfloat16))
    assert saved.to_case("moe").case_id == "moe/2/hidden=4"


def test_a_second_store_in_the_same_folder_is_refused(store):
    with pytest.raises(UsageError, match="already holds saved tensors"):
        check_new_store(store)


@pytest.mark.parametrize("damage, message", [
    (lambda root: shutil.rmtree(root), "no such folder of saved tensors"),
    (lambda root: (root / "manifest.json").unlink(), "no manifest.json"),
    (lambda root: (root / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda root: (root / "manifest.json").write_text('{"format": "other/9"}'), "format 'other/9'"),
    (lambda root: (root / "manifest.json").write_text('{"format": "fibench-tensors/1", "cases": {"c": {"op": 1}}}'),
     "case c: malformed entry"),
])
def test_unreadable_manifests_are_one_line_errors(store, damage, message):
    damage(store)
    with pytest.raises(UsageError, match=message) as err:
        read_manifest(store)
    assert "\n" not in str(err.value)


def _inputs(store):
    saved = read_manifest(store).cases["moe/2/hidden=4"]
    return saved.inputs_file, saved.inputs


def test_missing_file_is_an_error(store):
    rel, entries = _inputs(store)
    (store / rel).unlink()
    with pytest.raises(UsageError, match="inputs: file .* is missing"):
        load_tensors(store, rel, entries, what="inputs")


def test_altered_file_fails_its_sha256(store):
    rel, entries = _inputs(store)
    t = _tensors()
    t["w"][1] = -1.25  # same names, dtypes and shapes: only the hash can tell
    save_file(t, str(store / rel))
    with pytest.raises(UsageError, match="tensor w in .* does not match its sha256 in the manifest"):
        load_tensors(store, rel, entries, what="inputs")
    assert load_tensors(store, rel, entries, what="inputs", verify=False)["w"][1] == -1.25


def test_other_dtype_extra_tensor_and_garbage_are_errors(store):
    rel, entries = _inputs(store)
    with pytest.raises(UsageError, match="tensor x is bfloat16\\[2, 4\\] .* the manifest says float16\\[2, 4\\]"):
        load_tensors(store, rel, {**entries, "x": {**entries["x"], "dtype": "float16"}}, what="inputs")
    with pytest.raises(UsageError, match="the manifest lists"):
        load_tensors(store, rel, {k: v for k, v in entries.items() if k != "w"}, what="inputs")
    (store / rel).write_bytes(b"garbage")
    with pytest.raises(UsageError, match="not a readable safetensors file"):
        load_tensors(store, rel, entries, what="inputs")


def test_check_saved_inputs_names_the_mismatch(store):
    assert "moe/2/hidden=4" in check_saved_inputs(store, "moe", [_case()]).cases
    with pytest.raises(UsageError, match="saved from suite 'moe', this run is 'norm'"):
        check_saved_inputs(store, "norm", [_case()])
    with pytest.raises(UsageError, match="no saved inputs for case moe/3/hidden=4 \\(saved: moe/2/hidden=4\\)"):
        check_saved_inputs(store, "moe", [_case(size=3)])
    with pytest.raises(UsageError, match="case moe/2/hidden=4 differs: seed 1 here vs 0 saved"):
        check_saved_inputs(store, "moe", [_case(seed=1)])
    other = Case("moe", "moe", 2, "bf16", {"model": "small", "hidden": 4, "ep": 2}, 0, ("hidden",))
    with pytest.raises(UsageError, match="differs: ep=2 here vs None saved"):
        check_saved_inputs(store, "moe", [other])


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    cfg = resolve_run("moe", "2", model="small", device="cpu", iters=1, warmup=0, backends="torch-grouped",
                      save_tensors=root / "t", out=root / "run")
    execute_run(cfg)
    return root


def test_inputs_from_runs_exactly_the_saved_inputs(saved_run, tmp_path, monkeypatch):
    def other_inputs(self, case, device):  # what generation would give if it were used: other values
        inputs = original(self, case, device)
        inputs.tensors["x"] = torch.zeros_like(inputs.tensors["x"])
        return inputs

    original = MoeSuite.make_inputs
    monkeypatch.setattr(MoeSuite, "make_inputs", other_inputs)
    cfg = resolve_run("moe", "2", model="small", device="cpu", iters=1, warmup=0, backends="torch-grouped",
                      inputs_from=saved_run / "t", save_tensors=tmp_path / "t2", out=tmp_path / "run2")
    rows, _ = execute_run(cfg)
    a, b = read_manifest(saved_run / "t").cases["moe/2"], read_manifest(tmp_path / "t2").cases["moe/2"]
    assert a.inputs == b.inputs  # every sha256 equal: the saved inputs ran, not the zeros
    assert a.outputs["torch-grouped"].tensors == b.outputs["torch-grouped"].tensors
    assert {r.backend: r.status.value for r in rows} == {"torch": "ok", "torch-grouped": "ok"}
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["inputs_from"] == str(saved_run / "t")


def _cli(*args):
    return CliRunner().invoke(app, ["run", "moe", "--model", "small", "--iters", "1", "--warmup", "0",
                                    "--device", "cpu", "--backends", "torch-grouped", *args])


def test_inputs_from_mismatch_and_altered_file_exit_2_in_one_line(saved_run, tmp_path):
    result = _cli("--sizes", "3", "--inputs-from", str(saved_run / "t"), "--out", str(tmp_path / "r1"))
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "no saved inputs for case moe/3" in result.output
    altered = tmp_path / "altered"
    shutil.copytree(saved_run / "t", altered)
    rel = read_manifest(altered).cases["moe/2"].inputs_file
    t = load_tensors(altered, rel, read_manifest(altered).cases["moe/2"].inputs, what="x")
    t["x"][0, 0] += 1
    save_file(t, str(altered / rel))
    result = _cli("--sizes", "2", "--inputs-from", str(altered), "--out", str(tmp_path / "r2"))
    assert result.exit_code == 2 and "tensor x in" in result.output and "(the file was altered)" in result.output
    assert not (tmp_path / "r2").exists()  # refused before anything was measured or written
    result = _cli("--sizes", "2", "--save-tensors", str(saved_run / "t"), "--out", str(tmp_path / "r3"))
    assert result.exit_code == 2 and "already holds saved tensors" in result.output
