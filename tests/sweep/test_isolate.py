"""--isolate: a child that dies becomes an error row and the sweep goes on; a lost CUDA
context moves the rest of the sweep to child processes."""

import signal
from pathlib import Path

import pytest

from fibench.env import EnvSnapshot
from fibench.suites import SUITES, plugins
from fibench.suites.moe_backends import TorchGroupedMoe
from fibench.sweep import loop, runner
from fibench.sweep.config import resolve_run
from fibench.sweep.failures import ContextLost
from fibench.sweep.isolate import STAGE_MARK, death_reason, run_case_isolated
from fibench.sweep.results import Status
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext, failed_row

CRASH_PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "crash_backends.py"


@pytest.fixture
def crash_backends(monkeypatch):
    """The test-only backends, registered for this test only (the children inherit the
    variable); the suite's registry is restored afterwards."""
    monkeypatch.setenv(plugins.PLUGINS_ENV, str(CRASH_PLUGIN))
    monkeypatch.setattr(plugins, "_loaded", set())
    monkeypatch.setattr(SUITES["moe"], "backends", SUITES["moe"].backends)


def _ctx(backends, sizes="2", **kw):
    cfg = resolve_run("moe", sizes, model="small", backends=backends, device="cpu", iters=1, warmup=0, **kw)
    return RunContext(cfg, EnvSnapshot(), None, None)


def test_a_killed_child_is_an_error_row_and_the_next_row_still_runs(crash_backends):
    ctx = _ctx("torch,test-sigkill,torch-grouped", isolate=True)
    rows = run_sweep(ctx, lambda row, rollup, kernels: None, fallback=run_case_isolated)
    assert [(r.backend, r.status) for r in rows] == [
        ("torch", Status.OK), ("test-sigkill", Status.ERROR), ("torch-grouped", Status.OK)]
    assert rows[1].reason == "own process killed by SIGKILL during backend test-sigkill"
    assert rows[2].parity_verdict == "pass"  # the reference outputs came from the first child's file
    for row in (rows[0], rows[2]):
        assert row.isolation_s > 0 and row.extra["isolation"]["process_s"] > row.isolation_s
        assert set(row.extra["isolation"]) >= {"startup_s", "inputs_s", "reference_s", "row_s"}


def test_isolate_without_a_child_runner_is_refused():
    with pytest.raises(ValueError, match="needs a fallback"):
        run_sweep(_ctx("torch", isolate=True), lambda *a: None)


def test_death_reason_names_the_signal_the_step_and_the_last_error():
    log = "\n".join([f"{STAGE_MARK}inputs", f"{STAGE_MARK}backend x", "some noise",
                     "RuntimeError: CUDA error: an illegal memory access was encountered", "more noise"])
    assert death_reason(-signal.SIGABRT, log) == (
        "own process killed by SIGABRT during backend x: RuntimeError: CUDA error: an illegal memory access "
        "was encountered")
    assert death_reason(3, "") == "own process exited with code 3 without a row during start-up"


@pytest.fixture
def sticky_error(monkeypatch):
    """torch-grouped fails like a device-side assert, and the context check says the
    context is gone (what a real sticky CUDA error does)."""
    def assert_fails(self, case, inputs):
        raise RuntimeError("CUDA error: device-side assert triggered")

    def lost(device):
        raise ContextLost("RuntimeError: CUDA error: device-side assert triggered")

    monkeypatch.setattr(TorchGroupedMoe, "prepare", assert_fails)
    monkeypatch.setattr(loop, "check_context", lost)


def test_a_lost_context_moves_the_rest_of_the_sweep_to_the_fallback(sticky_error):
    ctx = _ctx("torch,torch-grouped,flashinfer-cutlass", sizes="1,2")
    calls = []

    def fallback(ctx, case, names, on_row, on_step=None):
        calls.append((case.case_id, names))
        for name in names:
            on_row(failed_row(ctx, case, name, Status.ERROR, "measured in a child"), [], [])

    rows = run_sweep(ctx, lambda *a: None, fallback=fallback)
    assert calls == [("moe/1", ["flashinfer-cutlass"]), ("moe/2", ["torch", "torch-grouped", "flashinfer-cutlass"])]
    assert [r.status for r in rows[:2]] == [Status.OK, Status.ERROR]
    assert "CUDA context was lost at moe/1" not in rows[1].notes
    assert all("ran in its own process: the sweep's CUDA context was lost at moe/1" in r.notes for r in rows[2:])


def test_without_a_fallback_the_rows_after_a_lost_context_say_so(sticky_error):
    rows = run_sweep(_ctx("torch,torch-grouped,flashinfer-cutlass", sizes="1,2"), lambda *a: None)
    assert [(r.case_id, r.backend, r.status.value) for r in rows] == [
        ("moe/1", "torch", "ok"), ("moe/1", "torch-grouped", "error"), ("moe/1", "flashinfer-cutlass", "error"),
        ("moe/2", "torch", "ok"), ("moe/2", "torch-grouped", "error"), ("moe/2", "flashinfer-cutlass", "error")]
    assert rows[2].reason == "not run: the CUDA context was lost (RuntimeError: CUDA error: device-side assert triggered)"


@pytest.mark.gpu
def test_a_device_side_assert_loses_no_other_row(tmp_path):
    """On a GPU: the assert poisons the sweep's CUDA context; the rows after it run in child
    processes. In its own fibench process, so this test process's context stays usable."""
    import os
    import subprocess
    import sys

    import pandas as pd

    env = {**os.environ, plugins.PLUGINS_ENV: str(CRASH_PLUGIN), "PYTHONPATH": str(CRASH_PLUGIN.parents[2])}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "fibench", "run", "moe", "--model", "small", "--sizes", "1,8",
                           "--iters", "5", "--no-per-kernel", "--backends", "torch,test-device-assert,torch-grouped",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out / "results.csv")
    assert list(df.status) == ["ok", "error", "ok", "ok", "error", "ok"]
    assert "CUDA error: device-side assert triggered" in df.reason[1]  # RuntimeError or torch.AcceleratorError
    assert (df[df.backend == "torch-grouped"].parity_verdict == "pass").all()
    assert df.notes.fillna("")[2:].str.contains("CUDA context was lost at moe/1").all()


def test_a_child_whose_regenerated_inputs_differ_gets_no_parity(tmp_path):
    import dataclasses

    import torch

    from fibench.sweep.isolate import INPUTS_SHA, REFERENCE_PT, ChildSpec, fingerprint, load_reference

    ctx = _ctx("torch,torch-grouped")
    case = ctx.cfg.cases[0]
    inputs = ctx.cfg.suite.make_inputs(case, ctx.cfg.device)
    torch.save({"out": torch.ones(2)}, tmp_path / REFERENCE_PT)
    (tmp_path / INPUTS_SHA).write_text(fingerprint(inputs))
    spec = ChildSpec(ctx, case, "torch-grouped", tmp_path, save_reference=False, spawned_at=0.0)
    ref, reason = load_reference(spec, ctx.cfg.suite.make_inputs(case, ctx.cfg.device))  # same seed: same inputs
    assert reason == "" and torch.equal(ref["out"], torch.ones(2))
    other = ctx.cfg.suite.make_inputs(dataclasses.replace(case, seed=1), ctx.cfg.device)
    ref, reason = load_reference(spec, other)
    assert ref is None and "differ from the reference's (fingerprint): no parity" in reason
