"""CUPTI timers: per-call kernel time from CUPTI activity records (cupti-python).

Kernel, memcpy and memset activity records carry GPU start/end timestamps of the work
itself, so nothing the timer adds between calls (events, restores, flushes, launch gaps
before the first kernel) is counted. Calls are delimited by marker kernels
(:func:`~fibench.measure.timers.base.empty_kernel`) launched on the timed stream right
before and after each call, captured into the graph with it for per-call plans, or around
each replay of K calls for replay plans (per call = replay / K), and attributed by
timestamp (:func:`~fibench.measure.timers.windows.split_windows`). Each sample is the
call's span (first activity start to last end: what the call occupies on the GPU, gaps
between its kernels included); the median kernel-sum (gaps excluded) is kept beside it.

CUPTI has one set of activity callbacks per process; torch.profiler (kineto) registers its
own each time it starts (libkineto CuptiActivityApi::enableCuptiActivities), so this timer
registers its callbacks at every session. In one process, CUPTI measurements after a
torch.profiler session have read 2x the kernel time (H200: FlashInfer's bench_gpu_time
with CUPTI, issue 8; fibench's own first GPU run, where every window of the session was
inflated, not only the first: see :mod:`fibench.measure.timers.cupti_state`). So a session
that opens after any profiler session first detaches CUPTI (``cuptiFinalize``: CUPTI
starts again from a clean state; kineto re-registers at its next start) and disables
activity kinds it does not use (a serialized ``KERNEL`` kind left enabled would slow every
kernel). Every session then runs warm-up and a priming window whose samples are
discarded; the priming median is reported so a first-window effect stays visible per row.
"""

from __future__ import annotations

import math
import statistics
import threading
from typing import Any, ClassVar

import torch

from fibench.errors import describe_exception
from fibench.measure.timers.base import Timer, empty_kernel
from fibench.measure.timers.cupti_state import mark_reset, profiler_used_since_reset
from fibench.measure.timers.events import capture_and_warm
from fibench.measure.timers.windows import Activity, Window, split_windows

BUFFER_BYTES = 16 << 20
"""Activity buffer handed to CUPTI (CUPTI recommends 1-10 MB; larger buffers mean fewer
callbacks for graphs of thousands of calls)."""
MAX_RECORDS = 100_000
"""Records held at once before a drain (memory and callback latency stay bounded)."""
PRIME_SAMPLES = 3
"""Windows timed and discarded after CUPTI is enabled, before any sample is kept."""
TRAP_RATIO = 1.5
"""A priming median this many times the kept median is reported as the first-window trap."""


def _cupti():
    from cupti import cupti  # cupti-python >= 13 layout

    return cupti


class CuptiSession:
    """Collect kernel, memcpy and memset activity records while open (context manager).

    Records arrive through CUPTI's buffer-completed callback, possibly on a CUPTI thread;
    :meth:`drain` synchronises the device, forces a flush and returns what arrived.

    Raises (on entry):
        ImportError: cupti-python is not installed.
        Exception: CUPTI refused to enable activity tracing (its own error type).
    """

    def __init__(self) -> None:
        self._api = _cupti()
        kind = self._api.ActivityKind
        self._kinds = {kind.CONCURRENT_KERNEL: "kernel", kind.MEMCPY: "memcpy", kind.MEMSET: "memset"}
        self._records: list[Activity] = []
        self._lock = threading.Lock()

    def _requested(self) -> tuple[int, int]:
        return BUFFER_BYTES, 0

    def _completed(self, activities: list) -> None:
        out = []
        for a in activities:
            label = self._kinds.get(a.kind)
            if label is None:
                continue
            name = a.name if label == "kernel" else label
            out.append(Activity(name, int(a.start), int(a.end), label, int(getattr(a, "stream_id", 0))))
        with self._lock:
            self._records.extend(out)

    def __enter__(self) -> "CuptiSession":
        self.reset = reset_after_profiler(self._api)
        self._api.activity_register_callbacks(self._requested, self._completed)
        for k in self._kinds:
            self._api.activity_enable(k)
        return self

    def drain(self, device: torch.device) -> list[Activity]:
        """Everything recorded since the last drain (device synchronised first)."""
        torch.cuda.synchronize(device)
        self._api.activity_flush_all(self._api.ActivityFlag.FLUSH_FORCED)
        with self._lock:
            records, self._records = self._records, []
        return records

    def __exit__(self, *exc: object) -> None:
        try:
            torch.cuda.synchronize()
            self._api.activity_flush_all(self._api.ActivityFlag.FLUSH_FORCED)
        finally:
            for k in self._kinds:
                self._api.activity_disable(k)


LEFTOVER_KINDS = ("KERNEL", "RUNTIME", "DRIVER", "OVERHEAD", "EXTERNAL_CORRELATION", "CUDA_EVENT",
                  "SYNCHRONIZATION", "MARKER", "MARKER_DATA", "NAME", "MEMORY", "MEMORY2", "MEMORY_POOL",
                  "GRAPH_TRACE", "DEVICE_GRAPH_TRACE")
"""Activity kinds another CUPTI client (kineto) may have enabled; this timer uses none."""


def reset_after_profiler(api: Any) -> str:
    """Before a session: after a torch.profiler session in this process, flush and detach
    CUPTI (``cuptiFinalize``); always disable the kinds in :data:`LEFTOVER_KINDS`.

    Returns:
        what was done, for the row's timer note ("" when nothing).
    """
    done = ""
    if profiler_used_since_reset():
        torch.cuda.synchronize()
        api.activity_flush_all(api.ActivityFlag.FLUSH_FORCED)
        api.finalize()
        mark_reset()
        done = "CUPTI detached (cuptiFinalize) after a torch.profiler session in this process"
    for name in LEFTOVER_KINDS:
        kind = getattr(api.ActivityKind, name, None)
        if kind is None:
            continue
        try:
            api.activity_disable(kind)
        except Exception:  # not enabled / not supported here: nothing to undo
            pass
    return done


_PROBED: dict[int, str | None] = {}


def cupti_unavailable_reason(device: torch.device) -> str | None:
    """Why the CUPTI timers cannot run on ``device`` (one line), or None.

    Checks the device, the marker kernel, the cupti-python import, and once per device and
    process that CUPTI delivers the records of two probe marker kernels.
    """
    if device.type != "cuda":
        return "CUPTI times CUDA kernels; this run is on the CPU"
    if not hasattr(torch.cuda, "_sleep"):
        return "torch.cuda._sleep (the marker kernel) is missing in this torch build"
    try:
        _cupti()
    except ImportError as exc:
        return f"cupti-python is not importable ({describe_exception(exc, 120)}); pip install cupti-python"
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _PROBED:
        _PROBED[index] = _probe(torch.device("cuda", index))
    return _PROBED[index]


def _probe(device: torch.device) -> str | None:
    try:
        with CuptiSession() as session, torch.cuda.device(device):
            session.drain(device)
            empty_kernel()
            empty_kernel()
            records = session.drain(device)
    except Exception as exc:  # CUPTI's own error types; any failure means "cannot use"
        return f"CUPTI activity tracing failed: {describe_exception(exc, 200)}"
    if sum(r.is_marker for r in records) < 2:
        return ("CUPTI delivered no kernel records for two probe kernels "
                "(another tool holding CUPTI, e.g. nsys or a running profiler?)")
    return None


class _CuptiTimer(Timer):
    """What the graph and eager CUPTI timers share: the session, priming and bookkeeping.

    Args:
        prime_samples: windows timed and discarded after enabling CUPTI (0 turns the guard
            off, for showing the first-window trap).
    """

    family: ClassVar[str] = "cupti"

    def __init__(self, rs, plan, device, *, prime_samples: int = PRIME_SAMPLES) -> None:
        super().__init__(rs, plan, device)
        self.prime_samples = prime_samples
        self.session: CuptiSession | None = None
        self.kernel_sums: list[float] = []
        self.samples: list[float] = []
        self.prime_us: float | None = None
        self.reset_note = ""

    @classmethod
    def unavailable(cls, device: torch.device) -> str | None:  # noqa: D102
        return cupti_unavailable_reason(device)

    def _open(self) -> None:
        self.session = CuptiSession().__enter__()
        self.reset_note = self.session.reset

    def _launch(self, n: int) -> int:
        """Launch the work of at least ``n`` samples with markers; returns the windows opened."""
        raise NotImplementedError

    def _calls_per_window(self) -> int:
        return 1

    def _windows(self, n: int) -> list[Window]:
        """At least ``n`` windows, launched and drained in chunks of at most about
        :data:`MAX_RECORDS` records (a 12801-call replay is 12801 records)."""
        assert self.session is not None
        self.session.drain(self.device)  # drop warm-up / earlier records
        chunk = max(1, MAX_RECORDS // self._calls_per_window())
        windows: list[Window] = []
        while len(windows) < n:
            expected = self._launch(min(chunk, n - len(windows)))
            windows += split_windows(self.session.drain(self.device), expected)
        return windows

    def _prime(self) -> None:
        if self.prime_samples > 0:
            per = self._calls_per_window()
            self.prime_us = statistics.median(w.span_ns / 1e3 / per for w in self._windows(self.prime_samples))

    def sample(self, n: int) -> list[float]:  # noqa: D102
        per = self._calls_per_window()
        windows = self._windows(n)
        spans = [w.span_ns / 1e3 / per for w in windows]
        self.kernel_sums += [w.kernel_sum_ns / 1e3 / per for w in windows]
        self.samples += spans
        return spans

    def close(self) -> None:  # noqa: D102
        if self.session is not None:
            session, self.session = self.session, None
            session.__exit__(None, None, None)

    def details(self) -> dict[str, Any]:  # noqa: D102
        kernel_sum = statistics.median(self.kernel_sums) if self.kernel_sums else None
        median = statistics.median(self.samples) if self.samples else math.nan
        parts = [f"median = CUPTI span per call; kernel-sum median {kernel_sum:.3f} us" if kernel_sum is not None
                 else "median = CUPTI span per call"]
        if self.reset_note:
            parts.append(self.reset_note)
        if self.prime_us is not None:
            parts.append(f"priming window (discarded) {self.prime_us:.3f} us")
            if median > 0 and self.prime_us > TRAP_RATIO * median:
                parts.append(f"first CUPTI window read {self.prime_us / median:.1f}x the kept median "
                             "(the first-measurement trap; discarded)")
        return {"kernel_sum_us": kernel_sum, "prime_us": self.prime_us, "note": "; ".join(parts)}


class GraphCuptiTimer(_CuptiTimer):
    """K calls captured in one CUDA graph, timed from CUPTI records of the replays.

    Per-call plans capture a marker before and after each call (after its restore and
    flush); replay plans launch a marker before and after each replay (per call = span /
    K, like the events timer, minus the replay launch)."""

    name: ClassVar[str] = "cuda-graph+cupti"
    graph: ClassVar[bool] = True
    basis: ClassVar[str] = ("K calls captured in one CUDA graph; CUPTI activity span between marker kernels, "
                            "per call (per-call plans) or per replay / K (replay plans)")

    def start(self, warmup: int) -> None:  # noqa: D102
        self._open()
        plan = self.plan
        bracket = (lambda i: empty_kernel(), lambda i: empty_kernel()) if plan.per_call else None
        self.cuda_graph, self.between = capture_and_warm(self.rs, plan, self.device, warmup, bracket=bracket)
        self._prime()

    def _calls_per_window(self) -> int:
        return 1 if self.plan.per_call else self.plan.calls_per_graph

    def _launch(self, n: int) -> int:
        if self.plan.per_call:
            replays = math.ceil(n / self.plan.calls_per_graph)
            for _ in range(replays):
                self.cuda_graph.replay()
            return replays * self.plan.calls_per_graph
        for _ in range(n):
            if self.between:
                self.rs.prepare_call(self.plan.restore)
            empty_kernel()
            self.cuda_graph.replay()
            empty_kernel()
        return n

    def close(self) -> None:  # noqa: D102
        self.cuda_graph = None
        super().close()


class CuptiTimer(_CuptiTimer):
    """Each call launched eagerly (no graph) between two marker kernels, after its
    restore and flush; timed from CUPTI records."""

    name: ClassVar[str] = "cupti"
    graph: ClassVar[bool] = False
    basis: ClassVar[str] = "each call launched eagerly between marker kernels; CUPTI activity span per call"

    def start(self, warmup: int) -> None:  # noqa: D102
        self._open()
        for _ in range(max(1, warmup)):
            self.rs.prepare_call(self.plan.restore)
            self.rs.calls[0]()
        self._prime()

    def _launch(self, n: int) -> int:
        for _ in range(n):
            self.rs.prepare_call(self.plan.restore)
            empty_kernel()
            self.rs.calls[0]()
            empty_kernel()
        return n
