"""Graph replay vs eager determinism on a GPU (marked ``gpu``; skipped without CUDA)."""

import pytest
import torch

from fibench.env import collect_env
from fibench.parity.determinism import graph_vs_eager
from fibench.suites.base import Launch
from fibench.sweep.config import resolve_run
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext, call_once, fresh_tensors

pytestmark = pytest.mark.gpu


def _launch(bind, mutates=()):
    dev = torch.device("cuda")
    return Launch({"x": torch.arange(1024, dtype=torch.float32, device=dev)}, bind, mutates=mutates), dev


def test_deterministic_call_replays_the_same_bits():
    launch, dev = _launch(lambda t: (lambda: {"out": t["x"].sqrt() * 3}))
    check = graph_vs_eager(launch, fresh_tensors(launch), dev, call_once(launch, dev))
    assert check.equal is True and check.note == ""


def test_a_call_that_runs_differently_under_capture_is_caught():
    """Stands for a kernel that picks another tactic or workspace when captured: the
    captured call adds 1, the eager one does not."""
    def bind(t):
        def call():
            bump = 1.0 if torch.cuda.is_current_stream_capturing() else 0.0
            return {"out": t["x"] + bump}
        return call

    launch, dev = _launch(bind)
    assert graph_vs_eager(launch, fresh_tensors(launch), dev, call_once(launch, dev)).equal is False


def test_in_place_call_is_replayed_on_restored_inputs():
    """x += 1 in place: the warm-up and the capture see mutated x unless it is restored."""
    launch, dev = _launch(lambda t: (lambda: {"out": t["x"].add_(1)}), mutates=("x",))
    check = graph_vs_eager(launch, fresh_tensors(launch), dev, call_once(launch, dev))
    assert check.equal is True


def test_host_synchronising_backend_is_not_captured():
    launch, dev = _launch(lambda t: (lambda: {"out": t["x"]}))
    launch.capturable = False
    check = graph_vs_eager(launch, fresh_tensors(launch), dev, {"out": launch.reads["x"]})
    assert check.equal is None and check.note == ""


def test_moe_rows_record_graph_determinism():
    cfg = resolve_run("moe", "16", model="small", device="cuda", iters=2, warmup=1, per_kernel=False,
                      backends="torch-grouped")
    rows = run_sweep(RunContext(cfg, collect_env(), None, None), lambda *a: None)
    by = {r.backend: r for r in rows}
    assert by["torch-grouped"].graph_deterministic is True and by["torch-grouped"].deterministic is True
    assert by["torch"].graph_deterministic is None  # host-synchronising reference
