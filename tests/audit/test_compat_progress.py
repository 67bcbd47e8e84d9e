"""`fibench audit compat` writes its files as probes finish; a stopped audit keeps them."""

import json
import os
import signal

from typer.testing import CliRunner

from fibench.audit.compat import audit as audit_mod
from fibench.audit.compat import runner as runner_mod
from fibench.audit.compat.model import ProbeResult, Status
from fibench.cli import app
from fibench.env import EnvSnapshot


def _h100_env() -> EnvSnapshot:
    return EnvSnapshot(cuda_available=True, gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                       torch_cuda_runtime="13.0", driver_cuda_version="13.0", nvcc_version="13.0",
                       flashinfer_version="0.6.13")


def test_a_sigint_after_two_probes_keeps_them_on_disk_and_exits_130(monkeypatch, tmp_path):
    out = tmp_path / "compat"
    seen = []

    def fake_probe(name, family, build, device_index, timeout_s):
        if len(seen) == 2:  # the user presses Ctrl-C while the third probe runs
            os.kill(os.getpid(), signal.SIGINT)
        # on disk before this probe: every probe finished so far, the rest pending
        data = json.loads((out / "compat.json").read_text()) if seen else None
        seen.append((name, len(data["results"]) if data else 0))
        return ProbeResult(name, family, Status.WORKS, detail="ok")

    monkeypatch.setattr(audit_mod, "collect_env", lambda index: _h100_env())
    monkeypatch.setattr(runner_mod, "collect_flashinfer_facts", lambda: {"flashinfer_version": "0.6.13"})
    monkeypatch.setattr(runner_mod, "run_probe_process", fake_probe)
    result = CliRunner().invoke(app, ["audit", "compat", "--out", str(out), "--only", "norm,act"])
    assert result.exit_code == 130, result.output
    assert [n for _, n in seen] == [0, 1]  # the third probe was stopped
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("interrupted: SIGINT: the probes finished so far are in") and "marked incomplete" in last
    data = json.loads((out / "compat.json").read_text())
    assert [r["name"] for r in data["results"]] == ["norm.rmsnorm", "norm.fused_add_rmsnorm"]
    assert data["pending"] == ["act.silu_and_mul", "act.gelu_and_mul", "act.gelu_tanh_and_mul"]
    md = (out / "compat.md").read_text()
    assert "**Incomplete:** 3 selected probes have not finished" in md and "`act.silu_and_mul`" in md
