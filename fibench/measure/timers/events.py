"""CUDA-event timers: graph replays timed with events, and per-call events without a graph.

Per-call events measure more than the kernel: the span from the start event to the end
event includes the dependency between the event nodes and the kernel (H200, one-row
rmsnorm: 5.38 us flushed in the graph and 5.57 us without a graph, against a 2.30 us
kernel; issue 8). :func:`empty_call_floor` measures that floor under the same plan so a
row can say how much of its median is overhead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar

import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet
from fibench.measure.timers.base import Timer, empty_kernel
from fibench.suites.base import Launch

class CaptureError(RuntimeError):
    """CUDA graph capture of the calls failed (e.g. a host synchronisation inside the
    call); the original error is chained as ``__cause__``."""


Bracket = tuple[Callable[[int], None], Callable[[int], None]]
"""(before call i, after call i): run inside the capture right around each call."""


def capture_graph(rs: RotationSet, plan: ColdL2Plan, device: torch.device, warmup: int,
                  events: list[tuple[torch.cuda.Event, torch.cuda.Event]] | None = None, *,
                  bracket: Bracket | None = None) -> torch.cuda.CUDAGraph:
    """Warm up eagerly on a side stream, then capture ``plan.calls_per_graph`` calls,
    walking through every copy.

    Args:
        events: per-call (start, end) events recorded around each call (per-call plans).
        bracket: hooks run around each call instead (e.g. marker kernels); with either,
            each call is preceded by its restore and flush inside the graph.

    Raises:
        CaptureError: capture failed (e.g. the call synchronises with the host).
        torch.cuda.OutOfMemoryError: out of memory while capturing.
    """
    if events is not None:
        bracket = (lambda i: events[i][0].record(), lambda i: events[i][1].record())
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(max(1, warmup)):
            rs.prepare_call(plan.restore)
            rs.calls[0]()
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            for i in range(plan.calls_per_graph):
                if bracket is not None:
                    rs.prepare_call(plan.restore)
                    bracket[0](i)
                rs.calls[i % len(rs.calls)]()
                if bracket is not None:
                    bracket[1](i)
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as exc:
        raise CaptureError(str(exc)) from exc
    return graph


def _event_pairs(n: int, *, external: bool = False) -> list[tuple[torch.cuda.Event, torch.cuda.Event]]:
    return [(torch.cuda.Event(enable_timing=True, external=external),
             torch.cuda.Event(enable_timing=True, external=external)) for _ in range(n)]


def capture_and_warm(rs: RotationSet, plan: ColdL2Plan, device: torch.device, warmup: int,
                     events: list[tuple[torch.cuda.Event, torch.cuda.Event]] | None = None, *,
                     bracket: Bracket | None = None) -> tuple[torch.cuda.CUDAGraph, bool]:
    """:func:`capture_graph`, then ``warmup`` (at least one) untimed replays.

    Returns:
        (the graph, whether restore/flush run between replays: a replay plan that needs
        them; per-call plans run them inside the graph).

    Raises:
        as :func:`capture_graph`.
    """
    graph = capture_graph(rs, plan, device, warmup, events, bracket=bracket)
    between = not plan.per_call and (plan.restore or plan.flush_bytes > 0)
    for _ in range(max(1, warmup)):
        if between:
            rs.prepare_call(plan.restore)
        graph.replay()
    return graph, between


class GraphEventsTimer(Timer):
    """K calls captured in one CUDA graph, timed with CUDA events.

    Replay plans (rotation, self-evicting, warm): each replay is timed with a pair of
    events; per-call time = replay time / K; a restore + flush the plan asks for runs
    between replays, outside the events. Per-call plans: every call carries its
    restore/flush and its own graph-captured events inside the graph; replays continue
    until enough calls are timed, with a synchronize between replays (outside every span).
    """

    name: ClassVar[str] = "cuda-graph+events"
    family: ClassVar[str] = "events"
    graph: ClassVar[bool] = True
    basis: ClassVar[str] = ("K calls captured in one CUDA graph, each replay timed with CUDA events, "
                            "per call = replay / K; per-call plans put an event pair around each call inside the graph")

    def start(self, warmup: int) -> None:  # noqa: D102
        self.events = _event_pairs(self.plan.calls_per_graph, external=True) if self.plan.per_call else None
        self.cuda_graph, self.between = capture_and_warm(self.rs, self.plan, self.device, warmup, self.events)
        torch.cuda.synchronize(self.device)

    def sample(self, n: int) -> list[float]:  # noqa: D102
        if self.events is not None:
            samples: list[float] = []
            while len(samples) < n:
                self.cuda_graph.replay()
                torch.cuda.synchronize(self.device)
                samples += [s.elapsed_time(e) * 1e3 for s, e in self.events]
            return samples
        pairs = _event_pairs(n)
        for start, end in pairs:
            if self.between:
                self.rs.prepare_call(self.plan.restore)
            start.record()
            self.cuda_graph.replay()
            end.record()
        torch.cuda.synchronize(self.device)
        return [s.elapsed_time(e) * 1e3 / self.plan.calls_per_graph for s, e in pairs]

    def close(self) -> None:  # noqa: D102
        self.cuda_graph = None

    def details(self) -> dict[str, Any]:  # noqa: D102
        if self.plan.per_call:
            return {"note": "per-call CUDA events inside the graph"}
        return {"note": f"events around each replay of K={self.plan.calls_per_graph} calls (launch amortised over K)"}


class EventsTimer(Timer):
    """Each call timed with its own pair of events (no graph); restore/flush before each
    call, outside the events. Host launch overhead is inside the span when the GPU is
    idle at the start event (no flush queued ahead of it)."""

    name: ClassVar[str] = "cuda-events"
    family: ClassVar[str] = "events"
    graph: ClassVar[bool] = False
    basis: ClassVar[str] = "each call between its own pair of CUDA events, launched eagerly (no graph)"

    def start(self, warmup: int) -> None:  # noqa: D102
        for _ in range(max(1, warmup)):
            self.rs.prepare_call(self.plan.restore)
            self.rs.calls[0]()
        torch.cuda.synchronize(self.device)

    def sample(self, n: int) -> list[float]:  # noqa: D102
        pairs = _event_pairs(n)
        for start, end in pairs:
            self.rs.prepare_call(self.plan.restore)
            start.record()
            self.rs.calls[0]()
            end.record()
        torch.cuda.synchronize(self.device)
        return [s.elapsed_time(e) * 1e3 for s, e in pairs]

    def details(self) -> dict[str, Any]:  # noqa: D102
        return {"note": "per-call CUDA events, eager launches"}


FLOOR_SAMPLES = 20
"""Samples of the empty-call calibration (its median is the floor)."""


def empty_call_floor(timer_cls: type[Timer], plan: ColdL2Plan, device: torch.device) -> float:
    """Median per-call time the timer reports for an empty kernel under ``plan`` (same
    graph shape, same per-call flush), in us: the part of every sample that is not the
    backend's work (event dependencies, launch), plus the empty kernel itself (~1 us).

    Raises:
        RuntimeError: the calibration could not run (capture failed).
    """
    def bind(tensors):
        def call():
            empty_kernel()
            return {}
        return call

    launch = Launch({"probe": torch.zeros(1, device=device)}, bind)
    empty = dataclasses.replace(plan, copies=1, restore=False)
    with timer_cls(RotationSet(launch, empty, device), empty, device) as timer:
        timer.start(1)
        samples = timer.sample(FLOOR_SAMPLES)
    samples.sort()
    return samples[len(samples) // 2] if samples else math.nan
