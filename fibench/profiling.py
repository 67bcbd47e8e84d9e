"""Per-kernel pass: record every GPU activity (kernels, memcpy, memset) of each call with
torch.profiler (CUPTI underneath) and split them into calls.

Segmentation is causal, not positional: each call runs inside a profiler range
``fibench.call.<i>`` that starts after the GPU is idle (synchronize) and ends after the
call's work is finished (synchronize inside the range). A device activity belongs to call
``i`` when it starts inside that range; restores and L2 flushes between calls fall outside
every range and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

from fibench.coldl2 import ColdL2Plan
from fibench.suites.base import Launch
from fibench.timing import RotationSet

MARKER = "fibench.call."


@dataclass(frozen=True)
class RawEvent:
    """A profiler event reduced to what segmentation needs (times in ns, one clock)."""

    name: str
    device: bool
    start_ns: int
    dur_ns: int
    stream: int = 0


@dataclass(frozen=True)
class KernelRecord:
    """One GPU activity of one call.

    Attributes:
        name: kernel name as CUPTI reports it (memcpy/memset activities keep their
            profiler names, e.g. "Memset (Device)").
        start_us: start relative to the call's first activity (us).
        dur_us: duration (us).
        stream: CUDA stream id.
    """

    name: str
    start_us: float
    dur_us: float
    stream: int


@dataclass
class KernelTrace:
    """GPU activities per call, each call's list sorted by start time."""

    calls: list[list[KernelRecord]]

    def kernel_sum_us(self, i: int) -> float:
        """Sum of activity durations of call ``i`` (excludes idle gaps)."""
        return sum(k.dur_us for k in self.calls[i])

    def span_us(self, i: int) -> float:
        """First start to last end of call ``i`` (includes gaps and other streams)."""
        ks = self.calls[i]
        return max(k.start_us + k.dur_us for k in ks) - min(k.start_us for k in ks)


class TraceError(RuntimeError):
    """The profiler trace could not be split into calls."""


def segment(events: Iterable[RawEvent], n_calls: int) -> KernelTrace:
    """Split device events into calls using the ``fibench.call.<i>`` CPU ranges.

    Args:
        events: all profiler events (CPU ranges and device activities).
        n_calls: how many call ranges the pass opened.

    Raises:
        TraceError: a range is missing or a call recorded no GPU activity.
    """
    events = list(events)
    windows: dict[int, tuple[int, int]] = {}
    for e in events:
        if not e.device and e.name.startswith(MARKER):
            windows[int(e.name[len(MARKER):])] = (e.start_ns, e.start_ns + e.dur_ns)
    missing = [i for i in range(n_calls) if i not in windows]
    if missing:
        raise TraceError(f"profiler ranges missing for calls {missing[:5]}")
    order = sorted(windows.items(), key=lambda kv: kv[1][0])
    starts = [w[0] for _, w in order]
    per_call: dict[int, list[RawEvent]] = {i: [] for i in windows}
    for e in events:
        if not e.device or e.name.startswith(MARKER):
            continue
        # the last window starting at or before the event
        lo, hi = 0, len(starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if starts[mid] <= e.start_ns:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            continue
        idx, (w0, w1) = order[lo - 1]
        if e.start_ns <= w1:
            per_call[idx].append(e)
    calls = []
    for i in range(n_calls):
        evs = sorted(per_call[i], key=lambda e: e.start_ns)
        if not evs:
            raise TraceError(f"call {i} recorded no GPU activity inside its profiler range")
        t0 = evs[0].start_ns
        calls.append([KernelRecord(e.name, (e.start_ns - t0) / 1e3, e.dur_ns / 1e3, e.stream) for e in evs])
    return KernelTrace(calls)


def _raw_events(prof: torch.profiler.profile) -> list[RawEvent]:
    """Convert kineto events (torch.profiler) to :class:`RawEvent`."""
    from torch.autograd import DeviceType

    out = []
    for e in prof.profiler.kineto_results.events():
        device = e.device_type() == DeviceType.CUDA
        out.append(RawEvent(e.name(), device, int(e.start_ns()), int(e.duration_ns()),
                            int(e.device_resource_id()) if device else 0))
    return out


def trace_calls(launch: Launch, plan: ColdL2Plan, device: torch.device, n_calls: int) -> KernelTrace:
    """Run ``n_calls`` eager calls under torch.profiler and return their activities.

    Each call is preceded (outside its range) by the plan's restore and L2 flush, so the
    kernels see the same cold-L2, same-input conditions as the timed pass.

    Raises:
        TraceError: segmentation failed.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    rs = RotationSet(launch, plan, device)
    rs.prepare_call(plan.restore)
    rs.calls[0]()  # one eager call outside the profiler: lazy init stays out of the trace
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(n_calls):
            rs.prepare_call(plan.restore)
            torch.cuda.synchronize(device)
            with record_function(f"{MARKER}{i}"):
                rs.calls[i % len(rs.calls)]()
                torch.cuda.synchronize(device)
    return segment(_raw_events(prof), n_calls)
