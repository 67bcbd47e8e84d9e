"""GPU tests (marked ``gpu``; skipped without CUDA)."""

import pytest
import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.sweep.config import resolve_run
from fibench.parity.metrics import compare
from fibench.trace.profiling import trace_calls
from fibench.sweep.runner import call_once
from fibench.suites.base import Launch
from fibench.measure.timing import TIMER_GRAPH, run_timing

pytestmark = pytest.mark.gpu


def test_graph_replays_walk_every_copy():
    """Each copy's call increments its own counter; after timing, every copy was used
    equally often (K = 12 calls over 4 copies per replay)."""
    dev = torch.device("cuda")
    counters: list[torch.Tensor] = []

    def bind(t):
        c = torch.zeros((), device=dev)
        counters.append(c)

        def call():
            c.add_(1)
            return {"out": t["x"] * 2}
        return call

    launch = Launch({"x": torch.ones(1024, device=dev)}, bind)
    plan = ColdL2Plan("rotate", "rotate", True, copies=4, calls_per_graph=12, restore=False, flush_bytes=0)
    timing = run_timing(launch, lambda graph: plan, device=dev, graph=True, warmup=2, iters=5)
    torch.cuda.synchronize()
    assert timing.timer == TIMER_GRAPH and timing.stats.samples == 5
    per_copy = [int(c.item()) for c in counters]
    # copy 0 also ran the eager warm-up calls (2); graph replays: (2 warm-up + 5 timed) x 3 per copy
    assert per_copy[1:] == [21, 21, 21] and per_copy[0] == 21 + 2


def test_per_call_plan_times_each_call_inside_the_graph():
    dev = torch.device("cuda")
    calls = torch.zeros((), device=dev)

    def bind(t):
        def call():
            calls.add_(1)
            return {"out": t["x"] * 2}
        return call

    launch = Launch({"x": torch.ones(1 << 20, device=dev)}, bind)
    plan = ColdL2Plan("flush", "flush", True, 1, 10, False, 64 << 20, per_call=True)
    timing = run_timing(launch, lambda graph: plan, device=dev, graph=True, warmup=1, iters=15)
    torch.cuda.synchronize()
    assert timing.stats.samples == 15 and timing.stats.min_us > 0
    # 1 eager warm-up + (1 warm-up + 2 timed replays) x 10 calls
    assert int(calls.item()) == 1 + 30


def test_norm_flashinfer_matches_torch_and_traces():
    pytest.importorskip("flashinfer")
    cfg = resolve_run("norm", "64", device="cuda", axes={"hidden": 4096})
    for case in cfg.cases:
        inputs = cfg.suite.make_inputs(case, cfg.device)
        ref = call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device)
        launch = cfg.suite.backends["flashinfer"]().prepare(case, inputs)
        r = compare(call_once(launch, cfg.device), ref)
        assert r.verdict == "pass" and r.bitwise_equal_frac > 0.9
        plan = ColdL2Plan("flush", "flush", True, 1, 1, bool(launch.mutates), 64 << 20)
        trace = trace_calls(launch, plan, cfg.device, 3)
        assert len(trace.calls) == 3 and all(len(c) >= 1 for c in trace.calls)
        assert "RMSNorm" in " ".join(k.name for k in trace.calls[0])


def test_torch_grouped_on_gpu_matches_reference():
    cfg = resolve_run("moe", "1,33", model="small", device="cuda")
    for case in cfg.cases:
        inputs = cfg.suite.make_inputs(case, cfg.device)
        outs = {n: call_once(cfg.suite.backends[n]().prepare(case, inputs), cfg.device)
                for n in ("torch", "torch-grouped")}
        assert compare(outs["torch-grouped"], outs["torch"]).verdict == "pass"


def test_fp8_gemm_ceiling_is_measured_where_fp8_tensor_cores_exist():
    """On compute capability 8.9+ the fp8 e4m3 GEMM ceiling is measured and beats bf16's
    (Hopper's datasheet fp8 rate is 2x bf16); below that there is none and the method says so."""
    from fibench.measure.ceilings import measure_ceilings

    dev = torch.device("cuda")
    c = measure_ceilings(dev, copy_bytes=1 << 28, gemm_n=4096)
    if torch.cuda.get_device_capability(dev) >= (8, 9):
        assert c.fp8_gemm_tflops is not None and c.fp8_gemm_tflops > 1.2 * c.gemm_tflops, c
    else:
        assert c.fp8_gemm_tflops is None and "no fp8 GEMM ceiling" in c.method
