"""Failures become rows: exceptions with empty messages, host memory exhaustion."""

import pytest
import torch

from fibench.env import EnvSnapshot
from fibench.sweep import runner
from fibench.sweep.config import resolve_run
from fibench.sweep.failures import out_of_memory
from fibench.sweep.results import Status
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext, run_backend

HOST_OOM = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 26214400000 bytes. Error code 12 (Cannot allocate memory)")


def _ctx(sizes="2", backends="torch,torch-grouped,flashinfer-cutlass"):
    cfg = resolve_run("moe", sizes, model="small", backends=backends, device="cpu", iters=1, warmup=0)
    return RunContext(cfg, EnvSnapshot(), None, None)


@pytest.mark.parametrize("exc, expected", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory"), True),
    (MemoryError(), True),
    (RuntimeError(HOST_OOM), True),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), False),
    (ValueError("can't allocate memory"), False),
])
def test_out_of_memory_is_gpu_or_host_exhaustion(exc, expected):
    assert out_of_memory(exc) is expected


def test_an_exception_with_an_empty_message_is_an_error_row_named_by_its_type(monkeypatch):
    ctx = _ctx()
    monkeypatch.setattr(ctx.cfg.suite.backends["torch-grouped"], "prepare",
                        lambda self, case, inputs: (_ for _ in ()).throw(KeyError()))
    case = ctx.cfg.cases[0]
    row, _, _ = run_backend(ctx, case, ctx.cfg.suite.make_inputs(case, ctx.cfg.device), "torch-grouped", None, "")
    assert row.status == Status.ERROR and row.reason == "KeyError"


def test_a_reference_with_an_empty_message_leaves_a_reason(monkeypatch):
    ctx = _ctx()
    monkeypatch.setattr(ctx.cfg.suite.backends["torch"], "prepare",
                        lambda self, case, inputs: (_ for _ in ()).throw(RuntimeError()))
    case = ctx.cfg.cases[0]
    ref, reason = runner.reference_outputs(ctx, case, ctx.cfg.suite.make_inputs(case, ctx.cfg.device))
    assert ref is None and reason == "reference torch failed: RuntimeError"


def test_host_memory_exhausted_by_the_inputs_gives_oom_rows_and_the_sweep_goes_on(monkeypatch):
    ctx = _ctx(sizes="1,2,3")
    suite = ctx.cfg.suite
    real = type(suite).make_inputs

    def make_inputs(case, device):
        if case.size == 2:
            raise RuntimeError(HOST_OOM)
        return real(suite, case, device)

    monkeypatch.setattr(suite, "make_inputs", make_inputs)
    rows = run_sweep(ctx, lambda *a: None)
    status = {(r.size, r.backend): r.status.value for r in rows}
    assert status == {
        (1, "torch"): "ok", (1, "torch-grouped"): "ok", (1, "flashinfer-cutlass"): "unsupported",
        (2, "torch"): "oom", (2, "torch-grouped"): "oom", (2, "flashinfer-cutlass"): "unsupported",
        (3, "torch"): "ok", (3, "torch-grouped"): "ok", (3, "flashinfer-cutlass"): "unsupported"}
    oom = next(r for r in rows if r.size == 2 and r.backend == "torch")
    assert oom.reason.startswith("inputs: out of memory: RuntimeError: [enforce fail at alloc_cpu.cpp:127]")


def test_host_memory_exhausted_inside_a_backend_is_an_oom_row(monkeypatch):
    ctx = _ctx()
    monkeypatch.setattr(runner, "run_timing", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    case = ctx.cfg.cases[0]
    inputs = ctx.cfg.suite.make_inputs(case, ctx.cfg.device)
    ref, _ = runner.reference_outputs(ctx, case, inputs)
    row, _, _ = run_backend(ctx, case, inputs, "torch-grouped", ref, "")
    assert row.status == Status.OOM and row.reason == "out of memory: MemoryError"
    assert row.parity_verdict == "pass"  # measured before the failure, kept
