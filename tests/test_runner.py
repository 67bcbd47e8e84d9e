"""Runner behaviour on the CPU: failures become rows, measurements are never lost."""

import torch

from fibench.sweep import runner
from fibench.sweep.config import resolve_run
from fibench.env import EnvSnapshot
from fibench.trace.kernel_map import load_map
from fibench.sweep.results import Status
from fibench.sweep.runner import RunContext, run_backend


def _ctx(**kw):
    cfg = resolve_run("moe", "4", model="small", device="cpu", iters=2, warmup=1, **kw)
    return cfg, RunContext(cfg, EnvSnapshot(), None, load_map("moe"))


def test_per_kernel_failure_keeps_the_measured_row(monkeypatch):
    cfg, ctx = _ctx()
    cfg.per_kernel = True  # not allowed from the CLI on a CPU; forced here to reach the pass

    def broken(*args, **kwargs):
        raise AttributeError("'_KinetoEvent' object has no attribute 'activity_type'")

    monkeypatch.setattr(runner, "trace_calls", broken)
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    ref, _ = runner.reference_outputs(ctx, case, inputs)
    row, rollup, kernels = run_backend(ctx, case, inputs, "torch-grouped", ref, "")
    assert row.status == Status.OK and row.median_us > 0 and row.parity_verdict == "pass"
    assert "per-kernel trace failed: AttributeError" in row.rollup_note
    assert rollup == [] and kernels == []


def test_backend_exception_becomes_an_error_row(monkeypatch):
    cfg, ctx = _ctx()
    backend = cfg.suite.backends["torch-grouped"]

    def boom(self, case, inputs):
        raise RuntimeError("CUTLASS tactic 7 failed\nsecond line")

    monkeypatch.setattr(backend, "prepare", boom)
    case = cfg.cases[0]
    row, _, _ = run_backend(ctx, case, cfg.suite.make_inputs(case, cfg.device), "torch-grouped", None, "x")
    assert row.status == Status.ERROR and row.reason == "RuntimeError: CUTLASS tactic 7 failed"
    assert row.median_us is None


def test_oom_becomes_an_oom_row_and_keeps_parity(monkeypatch):
    cfg, ctx = _ctx()

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(runner, "run_timing", oom)
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    ref, _ = runner.reference_outputs(ctx, case, inputs)
    row, _, _ = run_backend(ctx, case, inputs, "torch-grouped", ref, "")
    assert row.status == Status.OOM and "80.00 GiB" in row.reason
    assert row.parity_verdict == "pass"  # measured before the failure, kept


def test_reference_failure_leaves_parity_na_with_reason(monkeypatch):
    cfg, ctx = _ctx()
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    row, _, _ = run_backend(ctx, case, inputs, "torch-grouped", None, "reference torch failed: boom")
    assert row.status == Status.OK and row.parity_verdict == "n/a"
    assert "no parity: reference torch failed: boom" in row.notes
