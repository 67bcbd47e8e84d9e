"""GPU checks of the timers on a tiny kernel (marked gpu; skipped without CUDA).

Kernel: ``torch.mul(x, 2, out=y)`` on 1 Mi fp32 (4 MiB read + 4 MiB written), a few us.
"Kernel time" is the torch.profiler kernel-sum of eager calls after an L2 flush (the
per-kernel pass fibench runs), the reference issue 8 sets for the CUPTI timer.
"""

import statistics

import pytest
import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet
from fibench.measure.timers.cupti import GraphCuptiTimer, cupti_unavailable_reason
from fibench.measure.timing import run_timing
from fibench.suites.base import Launch
from fibench.trace.profiling import trace_calls

pytestmark = pytest.mark.gpu

FLUSH = 300 << 20


def _launch(dev):
    x = torch.randn(1 << 20, device=dev)

    def bind(t):
        y = torch.empty_like(t["x"])

        def call():
            torch.mul(t["x"], 2, out=y)
            return {"y": y}
        return call
    return Launch({"x": x}, bind)


def _flush_plan(graph):
    if graph:
        return ColdL2Plan("flush", "flush", True, 1, 10, False, FLUSH, per_call=True)
    return ColdL2Plan("flush", "flush", True, 1, 1, False, FLUSH)


def _kernel_us(launch, dev):
    trace = trace_calls(launch, _flush_plan(False), dev, 20)
    return statistics.median(trace.kernel_sum_us(i) for i in range(len(trace.calls)))


@pytest.fixture(scope="module")
def dev():
    reason = cupti_unavailable_reason(torch.device("cuda"))
    if reason:
        pytest.fail(f"CUPTI unusable on this GPU host: {reason}")
    return torch.device("cuda")


@pytest.mark.parametrize("graph", [True, False])
def test_cupti_reads_kernel_time_where_events_read_overhead(dev, graph):
    launch = _launch(dev)
    cupti = run_timing(launch, _flush_plan, device=dev, graph=graph, warmup=3, iters=40, timer="cupti")
    events = run_timing(launch, _flush_plan, device=dev, graph=graph, warmup=3, iters=40, timer="events")
    kernel = _kernel_us(launch, dev)
    assert cupti.timer == ("cuda-graph+cupti" if graph else "cupti")
    assert abs(cupti.stats.median_us - kernel) <= max(0.5, 0.05 * kernel), (cupti.stats.median_us, kernel)
    assert events.stats.median_us > cupti.stats.median_us  # events carry their own overhead
    assert events.floor_us is not None and 0 < events.floor_us < 20
    assert cupti.kernel_sum_us == pytest.approx(cupti.stats.median_us, rel=0.2)


def test_cupti_replay_plan_agrees_with_events(dev):
    """Events time the whole replay, so each call also carries 1/calls_per_graph of the graph
    launch (a few us): with 12 calls per graph events read 2.78 us against CUPTI's 2.36 us
    (H200, 2026-11-30). With 200 calls that share is ~0.02 us per call, and the two read
    2.20 us (events, replay / calls) and 2.32 us (CUPTI) on the same H200: within the
    0.25 us asked here (issue 8's target for CUPTI against kernel time is 0.5 us or 2%)."""
    plan = ColdL2Plan("rotate", "rotate", True, copies=4, calls_per_graph=200, restore=False, flush_bytes=0)
    launch = _launch(dev)
    cupti = run_timing(launch, lambda g: plan, device=dev, graph=True, warmup=2, iters=30, timer="cupti")
    events = run_timing(launch, lambda g: plan, device=dev, graph=True, warmup=2, iters=30, timer="events")
    assert cupti.timer == "cuda-graph+cupti" and events.timer == "cuda-graph+events"
    assert cupti.stats.median_us == pytest.approx(events.stats.median_us, rel=0, abs=0.25)


def test_profiler_session_does_not_move_cupti_numbers(dev):
    """The first-window trap: measure with CUPTI, run a torch.profiler session (the
    per-kernel pass), measure again. The guarded timer (priming window discarded) must
    agree with the first measurement; torch.profiler must still work after CUPTI."""
    launch = _launch(dev)
    before = run_timing(launch, _flush_plan, device=dev, graph=True, warmup=3, iters=40, timer="cupti")
    trace = trace_calls(launch, _flush_plan(False), dev, 5)
    assert len(trace.calls) == 5 and all(trace.calls)
    plan = _flush_plan(True)
    raw = GraphCuptiTimer(RotationSet(launch, plan, dev), plan, dev, prime_samples=0)
    try:
        raw.start(3)
        first = raw.sample(10)  # unguarded: reported, not asserted (the trap may or may not show)
    finally:
        raw.close()
    after = run_timing(launch, _flush_plan, device=dev, graph=True, warmup=3, iters=40, timer="cupti")
    print(f"cupti before profiler {before.stats.median_us:.3f} us; first unguarded window after it "
          f"{statistics.median(first):.3f} us; guarded after {after.stats.median_us:.3f} us ({after.timer_note})")
    assert abs(after.stats.median_us - before.stats.median_us) <= max(0.3, 0.1 * before.stats.median_us)


def test_auto_records_the_timer_used(dev):
    t = run_timing(_launch(dev), _flush_plan, device=dev, graph=True, warmup=2, iters=20, timer="auto")
    assert t.requested == "auto" and t.timer == "cuda-graph+cupti"


def test_adaptive_stops_on_the_interval(dev):
    from fibench.measure.stopping import STOP_TARGET, StopRule

    plan = ColdL2Plan("rotate", "rotate", True, copies=4, calls_per_graph=12, restore=False, flush_bytes=0)
    t = run_timing(_launch(dev), lambda g: plan, device=dev, graph=True, warmup=2,
                   rule=StopRule(min_samples=10, target_pct=1.0, max_time_s=5.0))
    assert t.stop_reason == STOP_TARGET and t.stats.ci_halfwidth_pct <= 1.0
