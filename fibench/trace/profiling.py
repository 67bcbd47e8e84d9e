"""Per-kernel pass: record every GPU activity (kernels, memcpy, memset) of each call with
torch.profiler (CUPTI underneath) and split them into calls.

Segmentation is causal, not positional: each call runs inside a profiler range
``fibench.call.<i>`` that starts after the GPU is idle (synchronize) and ends after the
call's work is finished (synchronize inside the range). A device activity belongs to call
``i`` when it starts inside that range; restores and L2 flushes between calls fall outside
every range and are dropped.

Backends may mark their steps with :func:`fibench.trace.markers.op_range` (``fibench.op:<name>`` ranges). Each
activity is linked to the CUDA API call that launched it by CUPTI's correlation id; the
innermost op range open at that launch is recorded, so kernel maps can attribute generic
kernels (elementwise, copies) by the step that launched them rather than by name.
"""

from __future__ import annotations

import bisect
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from fibench.measure.timers.cupti_state import note_profiler_session
from fibench.measure.coldl2 import ColdL2Plan
from fibench.trace.markers import CALL_MARKER, OP_MARKER
from fibench.suites.base import Launch
from fibench.measure.rotation import RotationSet

MARKER = CALL_MARKER
_LAUNCH_KINDS = ("cuda_runtime", "cuda_driver")  # API calls carrying the CUPTI correlation id
_NOT_ACTIVITY = ("gpu_user_annotation",)  # GPU-side copies of profiler ranges, not GPU work
ANNOTATION_PREFIXES = ("fibench.", "nccl:", "gloo:")
"""Names of profiler ranges that kineto also reports on the GPU timeline (as
gpu_user_annotation, spanning the kernels launched inside them): fibench's own markers and
torch.distributed's per-collective ranges (``nccl:all_reduce``, ``gloo:...``,
torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp). No CUDA kernel is named like this; real
NCCL kernels are ``ncclDevKernel_*`` / ``ncclKernel_*``. Used where torch does not expose
the activity type (torch < 2.12) and to clean kernels.csv files recorded before."""


def is_annotation_name(name: str) -> bool:
    """True for a GPU-timeline entry that is a profiler range, not GPU work (by name)."""
    return name.startswith(ANNOTATION_PREFIXES)


def _is_activity(e: RawEvent) -> bool:
    return e.device and e.kind not in _NOT_ACTIVITY and not e.name.startswith(MARKER)


def _is_launch(e: RawEvent) -> bool:
    return e.kind in _LAUNCH_KINDS or (not e.kind and e.name.startswith(("cuda", "cu")))


@dataclass(frozen=True)
class RawEvent:
    """A profiler event reduced to what segmentation needs (times in ns, one clock)."""

    name: str
    device: bool
    start_ns: int
    dur_ns: int
    stream: int = 0
    corr: int = 0  # CUPTI correlation id (launch API call <-> device activity)
    kind: str = ""  # kineto activity type: kernel, gpu_memcpy, gpu_user_annotation, cuda_runtime, ...


@dataclass(frozen=True)
class KernelRecord:
    """One GPU activity of one call.

    Attributes:
        name: kernel name as CUPTI reports it (memcpy/memset activities keep their
            profiler names, e.g. "Memset (Device)").
        start_us: start relative to the call's first activity (us).
        dur_us: duration (us).
        stream: CUDA stream id.
        op_range: innermost ``fibench.op:`` range open when it was launched ("" if none).
    """

    name: str
    start_us: float
    dur_us: float
    stream: int
    op_range: str = ""


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
    ranges: list[tuple[int, int, str]] = []
    launch_ns: dict[int, int] = {}
    for e in events:
        if e.device:
            continue
        if e.name.startswith(MARKER):
            windows[int(e.name[len(MARKER):])] = (e.start_ns, e.start_ns + e.dur_ns)
        elif e.name.startswith(OP_MARKER):
            ranges.append((e.start_ns, e.start_ns + e.dur_ns, e.name[len(OP_MARKER):]))
        elif e.corr and _is_launch(e):
            launch_ns[e.corr] = e.start_ns
    missing = [i for i in range(n_calls) if i not in windows]
    if missing:
        raise TraceError(f"profiler ranges missing for calls {missing[:5]}")
    order = sorted(windows.items(), key=lambda kv: kv[1][0])
    starts = [w[0] for _, w in order]
    per_call: dict[int, list[RawEvent]] = {i: [] for i in windows}
    for e in events:
        if not _is_activity(e):
            continue
        lo = bisect.bisect_right(starts, e.start_ns)  # windows starting at or before the event
        if lo == 0:
            continue
        idx, (_, w1) = order[lo - 1]
        if e.start_ns <= w1:
            per_call[idx].append(e)
    calls = []
    for i in range(n_calls):
        evs = sorted(per_call[i], key=lambda e: e.start_ns)
        if not evs:
            raise TraceError(f"call {i} recorded no GPU activity inside its profiler range")
        t0 = evs[0].start_ns
        calls.append([KernelRecord(e.name, (e.start_ns - t0) / 1e3, e.dur_ns / 1e3, e.stream,
                                   _innermost(ranges, launch_ns.get(e.corr))) for e in evs])
    return KernelTrace(calls)


def _innermost(ranges: list[tuple[int, int, str]], t: int | None) -> str:
    """Name of the latest-starting range containing time ``t`` ("" if none or t is None)."""
    if t is None:
        return ""
    best = None
    for start, end, name in ranges:
        if start <= t <= end and (best is None or start >= best[0]):
            best = (start, name)
    return best[1] if best else ""


def _kind(e, device: bool) -> str:
    """Kineto activity type; torch < 2.12 does not expose it, so GPU-side copies of profiler
    ranges are recognised there by ``is_user_annotation()`` where torch has it, or by name
    (:data:`ANNOTATION_PREFIXES`; on an H200 with torch 2.11, ``nccl:all_reduce`` was
    counted as a second kernel and doubled every NCCL row's kernel-sum)."""
    if hasattr(e, "activity_type"):
        return str(e.activity_type())
    flagged = getattr(e, "is_user_annotation", None)
    if device and (is_annotation_name(e.name()) or (flagged is not None and flagged())):
        return "gpu_user_annotation"
    return ""


def _raw_events(prof: torch.profiler.profile) -> list[RawEvent]:
    """Convert kineto events (torch.profiler) to :class:`RawEvent`."""
    from torch.autograd import DeviceType

    out = []
    for e in prof.profiler.kineto_results.events():
        device = e.device_type() == DeviceType.CUDA
        out.append(RawEvent(e.name(), device, int(e.start_ns()), int(e.duration_ns()),
                            int(e.device_resource_id()) if device else 0, int(e.correlation_id()),
                            _kind(e, device)))
    return out


def trace_calls(launch: Launch, plan: ColdL2Plan, device: torch.device, n_calls: int,
                align: Callable[[], None] | None = None) -> KernelTrace:
    """Run ``n_calls`` eager calls under torch.profiler and return their activities.

    Each call is preceded (outside its range) by the plan's restore and L2 flush, so the
    kernels see the same cold-L2, same-input conditions as the timed pass, and by ``align``
    when given (collective suites: a barrier, so every rank launches the call together; a
    collective kernel spins until the last rank arrives, and on two H200s without it the
    traced NCCL all-reduce of 1024 tokens read 510 us against a graph-timed 80 us).

    Raises:
        TraceError: segmentation failed.
    """
    rs = RotationSet(launch, plan, device)
    rs.prepare_call(plan.restore)
    rs.calls[0]()  # one eager call outside the profiler: lazy init stays out of the trace
    torch.cuda.synchronize(device)
    with warnings.catch_warnings():  # "Profiler clears events at the end of each cycle" (one cycle here)
        warnings.filterwarnings("ignore", message="Profiler clears events")
        return _trace(rs, plan, device, n_calls, align)


def _trace(rs: RotationSet, plan: ColdL2Plan, device: torch.device, n_calls: int,
           align: Callable[[], None] | None = None) -> KernelTrace:
    from torch.profiler import ProfilerActivity, profile, record_function

    note_profiler_session()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(n_calls):
            rs.prepare_call(plan.restore)
            torch.cuda.synchronize(device)
            if align is not None:
                align()
            with record_function(f"{MARKER}{i}"):
                rs.calls[i % len(rs.calls)]()
                torch.cuda.synchronize(device)
    return segment(_raw_events(prof), n_calls)


def trace_graph_replays(launch: Launch, plan: ColdL2Plan, device: torch.device, replays: int) -> KernelTrace:
    """Profile ``replays`` replays of the same CUDA graph the timed pass uses; each
    returned "call" is one replay holding ``plan.calls_per_graph`` calls. Only for plans
    without per-call work (a per-call flush or restore would sit inside the replay). Used
    to compare the timed pass with the kernels of exactly the calls it timed.

    Raises:
        TraceError: segmentation failed.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    from fibench.measure.timers.events import capture_graph

    rs = RotationSet(launch, plan, device)
    graph = capture_graph(rs, plan, device, warmup=1, events=None)
    graph.replay()
    torch.cuda.synchronize(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Profiler clears events")
        note_profiler_session()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for i in range(replays):
                torch.cuda.synchronize(device)
                with record_function(f"{MARKER}{i}"):
                    graph.replay()
                    torch.cuda.synchronize(device)
    return segment(_raw_events(prof), replays)
