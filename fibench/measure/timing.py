"""Timers: CUDA graph replays timed with events, per-call events, or CPU wall clock.

Everything that is not the kernel (input restore for in-place kernels, L2 flush) runs
outside the timed span; no synchronize happens inside the timed loop (a synchronize per
iteration adds ~10 us to microsecond kernels).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from fibench.errors import describe_exception
from fibench.measure.clocks import ClockStats, SmClockSampler
from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.stats import Stats, summarize
from fibench.suites.base import Launch, Outputs

TIMER_GRAPH = "cuda-graph+events"
TIMER_EVENTS = "cuda-events"
TIMER_WALL = "cpu-wall-clock"


@dataclass
class Timing:
    """Result of one timed pass.

    Attributes:
        timer: the timer actually used (TIMER_GRAPH, TIMER_EVENTS or TIMER_WALL).
        stats: per-call statistics in microseconds.
        plan: the cold-L2 plan actually applied.
        clock: SM clock during the pass (None without NVML; ``clock_note`` says why).
        notes: anything that differs from what was requested.
    """

    timer: str
    stats: Stats
    plan: ColdL2Plan
    clock: ClockStats | None = None
    clock_note: str = ""
    notes: list[str] = field(default_factory=list)


class RotationSet:
    """The copies a plan asks for, their bound calls, and the restore/flush helpers.

    Args:
        launch: the backend's launch (``reads`` are the first copy).
        plan: cold-L2 plan (``copies``, ``restore``, ``flush_bytes``).
        device: device for the flush buffer.
    """

    def __init__(self, launch: Launch, plan: ColdL2Plan, device: torch.device) -> None:
        self.sets = [dict(launch.reads)]
        for _ in range(plan.copies - 1):
            self.sets.append({k: v.clone() for k, v in launch.reads.items()})
        self.calls: list[Callable[[], Outputs]] = [launch.bind(s) for s in self.sets]
        self.mutates = launch.mutates
        self.pristine = {k: launch.reads[k].clone() for k in launch.mutates}
        self.flush_buf = (torch.empty(plan.flush_bytes, dtype=torch.uint8, device=device)
                          if plan.flush_bytes else None)

    def restore(self) -> None:
        """Copy the pristine values back into every copy's mutated tensors (one
        multi-tensor launch when torch has ``_foreach_copy_``)."""
        dst = [s[k] for s in self.sets for k in self.mutates]
        src = [self.pristine[k] for s in self.sets for k in self.mutates]
        if hasattr(torch, "_foreach_copy_") and dst and dst[0].is_cuda:
            torch._foreach_copy_(dst, src)
        else:
            for d, p in zip(dst, src):
                d.copy_(p)

    def flush(self) -> None:
        """Write ``flush_bytes`` bytes so no earlier data stays in L2."""
        if self.flush_buf is not None:
            self.flush_buf.zero_()

    def prepare_call(self, restore: bool) -> None:
        """What runs before a timed replay/call: restore (if needed), then flush."""
        if restore:
            self.restore()
        self.flush()


@contextlib.contextmanager
def nsys_range(label: str | None) -> Iterator[None]:
    """Bracket the timed loop for ``nsys profile --capture-range=cudaProfilerApi``
    (cudaProfilerStart/Stop) with an NVTX range named ``label``; no-op when None."""
    if label is None:
        yield
        return
    import nvtx

    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    try:
        with nvtx.annotate(label, color="green"):
            yield
            torch.cuda.synchronize()
    finally:
        torch.cuda.profiler.stop()


def _sampler(device: torch.device) -> SmClockSampler:
    return SmClockSampler(device.index if device.index is not None else torch.cuda.current_device())


def capture_graph(rs: RotationSet, plan: ColdL2Plan, device: torch.device, warmup: int,
             events: list[tuple[torch.cuda.Event, torch.cuda.Event]] | None) -> torch.cuda.CUDAGraph:
    """Warm up eagerly on a side stream, then capture ``plan.calls_per_graph`` calls,
    walking through every copy. With ``events``, each call is preceded by its restore and
    flush and bracketed by its own graph-captured (external) events."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(max(1, warmup)):
            rs.prepare_call(plan.restore)
            rs.calls[0]()
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(plan.calls_per_graph):
            if events is not None:
                rs.prepare_call(plan.restore)
                events[i][0].record()
            rs.calls[i % len(rs.calls)]()
            if events is not None:
                events[i][1].record()
    return graph


def time_graph(rs: RotationSet, plan: ColdL2Plan, device: torch.device, warmup: int, iters: int,
               nsys_label: str | None = None) -> tuple[list[float], SmClockSampler]:
    """Time calls captured in one CUDA graph.

    Replay plans (rotation, self-evicting, warm): replay ``iters`` times, each replay
    timed with a pair of events; per-call time = replay time / K; a restore + flush the
    plan asks for runs between replays, outside the events. Per-call plans: every call
    carries its restore/flush and its own graph-captured events inside the graph, so
    they stay outside the timed spans; replays continue until ``iters`` calls are timed
    (a synchronize between replays, outside every span).

    Returns:
        (per-call microseconds, the clock sampler).

    Raises:
        RuntimeError: graph capture failed (e.g. the backend synchronises with the host).
    """
    k = plan.calls_per_graph
    events = None
    if plan.per_call:
        events = [(torch.cuda.Event(enable_timing=True, external=True),
                   torch.cuda.Event(enable_timing=True, external=True)) for _ in range(k)]
    graph = capture_graph(rs, plan, device, warmup, events)
    between = events is None and (plan.restore or plan.flush_bytes > 0)  # prep between replays
    for _ in range(max(1, warmup)):
        if between:
            rs.prepare_call(plan.restore)
        graph.replay()
    torch.cuda.synchronize(device)
    samples: list[float] = []
    with _sampler(device) as sampler, nsys_range(nsys_label):
        if events is None:
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
            for i in range(iters):
                if between:
                    rs.prepare_call(plan.restore)
                starts[i].record()
                graph.replay()
                ends[i].record()
            torch.cuda.synchronize(device)
            samples = [s.elapsed_time(e) * 1e3 / k for s, e in zip(starts, ends)]
        else:
            while len(samples) < iters:
                graph.replay()
                torch.cuda.synchronize(device)
                samples += [s.elapsed_time(e) * 1e3 for s, e in events]
            samples = samples[:iters]
    del graph
    return samples, sampler


def time_events(rs: RotationSet, plan: ColdL2Plan, device: torch.device, warmup: int, iters: int,
                nsys_label: str | None = None) -> tuple[list[float], SmClockSampler]:
    """Time each call with its own pair of events (no graph); restore/flush before each
    call, outside the events. Host launch overhead is inside the span when the GPU is
    idle at the start event (no flush queued ahead of it).

    Returns:
        (per-call microseconds, the clock sampler).
    """
    for _ in range(max(1, warmup)):
        rs.prepare_call(plan.restore)
        rs.calls[0]()
    torch.cuda.synchronize(device)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    with _sampler(device) as sampler, nsys_range(nsys_label):
        for i in range(iters):
            rs.prepare_call(plan.restore)
            starts[i].record()
            rs.calls[0]()
            ends[i].record()
        torch.cuda.synchronize(device)
    return [s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends)], sampler


def time_wall(rs: RotationSet, warmup: int, iters: int) -> list[float]:
    """CPU wall-clock time per call (CPU backends); restore runs outside the span.

    Returns:
        per-call microseconds.
    """
    for _ in range(max(1, warmup)):
        rs.prepare_call(bool(rs.mutates))
        rs.calls[0]()
    samples = []
    for _ in range(iters):
        rs.prepare_call(bool(rs.mutates))
        t0 = time.perf_counter_ns()
        rs.calls[0]()
        samples.append((time.perf_counter_ns() - t0) / 1e3)
    return samples


def run_timing(launch: Launch, plan_for: Callable[[bool], ColdL2Plan], *, device: torch.device,
               graph: bool, warmup: int, iters: int, nsys_label: str | None = None) -> Timing:
    """Time ``launch``; the timer follows the device, ``graph`` and ``launch.capturable``.

    Args:
        plan_for: cold-L2 planner called with ``graph=True/False`` for the timer in use.

    A backend that cannot be captured (declared, or capture raised) is timed with per-call
    events under a plan made for events mode, and the row says so in ``notes``.
    """
    notes: list[str] = []
    if device.type != "cuda":
        plan = plan_for(False)
        rs = RotationSet(launch, plan, device)
        return Timing(TIMER_WALL, summarize(time_wall(rs, warmup, iters)), plan,
                      clock_note="CPU run: no SM clock")
    if graph and not launch.capturable:
        notes.append("backend cannot be captured in a CUDA graph (host sync); timed with per-call events")
    elif graph:
        plan = plan_for(True)
        rs = RotationSet(launch, plan, device)
        try:
            samples, sampler = time_graph(rs, plan, device, warmup, iters, nsys_label)
            return Timing(TIMER_GRAPH, summarize(samples), plan, sampler.result, sampler.reason, notes)
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise
            torch.cuda.synchronize(device)
            notes.append(f"CUDA graph capture failed ({describe_exception(exc, 160)}); timed with per-call events")
        del rs
    plan = plan_for(False)
    rs = RotationSet(launch, plan, device)
    samples, sampler = time_events(rs, plan, device, warmup, iters, nsys_label)
    return Timing(TIMER_EVENTS, summarize(samples), plan, sampler.result, sampler.reason, notes)
