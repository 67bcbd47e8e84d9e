"""`fibench audit compat` at its CLI boundary: bad input exits 2 with one line, the
options that reach the probes, and a real run on this (GPU-less) machine."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from fibench.audit.compat import audit as audit_mod
from fibench.audit.compat import runner as runner_mod
from fibench.audit.compat.model import Category, ProbeResult, Status
from fibench.cli import app
from fibench.env import EnvSnapshot

cli = CliRunner()


def _invoke(*args: str):
    return cli.invoke(app, ["audit", "compat", *args])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "decode.fa2,nope"], "--only: unknown probe 'nope'"),
        (["--only", " , "], "--only is empty"),
        (["--timeout", "0"], "--timeout: must be a positive number of seconds"),
        (["--timeout", "-5"], "--timeout: must be a positive number of seconds"),
        (["--timeout-for", "moe.bf16"], "--timeout-for 'moe.bf16': expected PROBE=SECONDS"),
        (["--timeout-for", "nope=60"], "--timeout-for: unknown probe 'nope'"),
        (["--timeout-for", "moe.bf16=soon"], "--timeout-for moe.bf16: 'soon' is not a number of seconds"),
        (["--device-index", "-1"], "--device-index must be >= 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    result = _invoke("--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_list_shows_probes_and_needs():
    result = _invoke("--list", "--only", "moe")
    assert result.exit_code == 0, result.output
    assert "moe.bf16" in result.output and "moe.fp8-block" in result.output
    assert "decode.fa2" not in result.output


def _h100_env() -> EnvSnapshot:
    return EnvSnapshot(cuda_available=True, gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                       torch_cuda_runtime="13.0", driver_cuda_version="13.0", nvcc_version="13.0",
                       flashinfer_version="0.6.13")


def test_options_reach_each_applicable_probe(monkeypatch, tmp_path):
    calls = []

    def fake_probe(name, family, build, device_index, timeout_s):
        calls.append((name, build, device_index, timeout_s))
        if name == "moe.bf16":
            return ProbeResult(name, family, Status.FAILS, "no result within 5 s", Category.TIMEOUT)
        return ProbeResult(name, family, Status.WORKS, detail="ok")

    monkeypatch.setattr(audit_mod, "collect_env", lambda index: _h100_env())
    monkeypatch.setattr(runner_mod, "collect_flashinfer_facts", lambda: {"flashinfer_version": "0.6.13",
                                                                         "cuda_reported": "13.0"})
    monkeypatch.setattr(runner_mod, "run_probe_process", fake_probe)
    out = tmp_path / "report"
    result = _invoke("--out", str(out), "--build", "--timeout", "90", "--timeout-for", "moe.bf16=5",
                     "--only", "decode,moe.bf16")
    assert result.exit_code == 0, result.output
    assert calls == [
        ("decode.fa2", True, 0, 90.0), ("decode.fa2-tc", True, 0, 90.0), ("decode.fa3", True, 0, 90.0),
        ("decode.xqa", True, 0, 90.0), ("decode.cudnn", True, 0, 90.0), ("moe.bf16", True, 0, 5.0),
    ]
    data = json.loads((out / "compat.json").read_text())
    status = {r["name"]: r["status"] for r in data["results"]}
    assert status["decode.trtllm-gen"] == "not applicable"
    assert status["decode.cute-dsl"] == "not applicable"
    assert status["moe.bf16"] == "fails"
    assert data["options"] == {"build": True, "timeout_s": 90.0, "timeout_overrides": {"moe.bf16": 5.0},
                               "only": "decode,moe.bf16", "device_index": 0}
    assert "moe.bf16" in result.output and "timeout" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine a full run executes every probe (gpu test)")
def test_full_run_without_gpu_writes_both_files_and_exits_0(tmp_path):
    out = tmp_path / "compat"
    result = _invoke("--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compat.json").read_text())
    assert len(data["results"]) == len(audit_mod.PROBES)
    assert {r["status"] for r in data["results"]} == {"skipped"}
    assert all(r["reason"].startswith("no CUDA device") for r in data["results"])
    md = (out / "compat.md").read_text()
    assert "| `comm.allreduce_fusion` | ⏭️ skipped |" in md
    assert f"**{len(audit_mod.PROBES)} skipped**" in md
    assert "wrote" in result.output
