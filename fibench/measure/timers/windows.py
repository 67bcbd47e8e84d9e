"""Attribute GPU activity records to calls by the marker kernels around each timed window.

Pure functions over plain records, so the attribution is tested on the CPU. A window is
everything that starts between an opening marker's start and the next (closing) marker's
start: markers are launched on the timed stream before and after each call (or each graph
replay), so stream order puts every activity of the call between them, aux-stream work
that the call joins back included, while restores and L2 flushes sit between a closing
and the next opening marker and belong to no window.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable

from fibench.measure.timers.base import MARKER_KERNEL


@dataclass(frozen=True, slots=True)
class Activity:
    """One GPU activity record (CUPTI kernel, memcpy or memset), times in ns on one clock.

    Attributes:
        name: kernel name ("memcpy" / "memset" for copies and sets).
        start_ns / end_ns: GPU timestamps.
        kind: "kernel", "memcpy" or "memset".
        stream: CUDA stream id.
    """

    name: str
    start_ns: int
    end_ns: int
    kind: str = "kernel"
    stream: int = 0

    @property
    def is_marker(self) -> bool:
        """A record of the marker kernel (:data:`~fibench.measure.timers.base.MARKER_KERNEL`)."""
        return self.kind == "kernel" and MARKER_KERNEL in self.name


@dataclass(frozen=True)
class Window:
    """What ran between one pair of markers.

    Attributes:
        span_ns: first activity start to last activity end (idle gaps and overlap included).
        kernel_sum_ns: sum of activity durations (gaps excluded, overlap counted twice).
        activities: records in the window.
    """

    span_ns: int
    kernel_sum_ns: int
    activities: int


class WindowError(RuntimeError):
    """The records cannot be split into the expected windows (dropped records, a call that
    ran nothing on the GPU)."""


def split_windows(records: Iterable[Activity], expected: int | None = None) -> list[Window]:
    """Split activity records into marker-bounded windows, in time order.

    Args:
        records: every record of one batch (markers included; order does not matter).
        expected: number of windows the batch opened; checked when given.

    Raises:
        WindowError: an odd number of markers, a count other than ``expected``, or a
            window with no activity.
    """
    ordered = sorted(records, key=lambda a: (a.start_ns, a.end_ns))
    markers = [a for a in ordered if a.is_marker]
    work = [a for a in ordered if not a.is_marker]
    if len(markers) % 2:
        raise WindowError(f"{len(markers)} marker records: not pairs (records dropped?)")
    count = len(markers) // 2
    if expected is not None and count != expected:
        raise WindowError(f"expected {expected} timed windows, CUPTI delivered {count} (records dropped?)")
    starts = [a.start_ns for a in work]
    windows = []
    for i in range(count):
        lo = bisect.bisect_left(starts, markers[2 * i].start_ns)
        hi = bisect.bisect_left(starts, markers[2 * i + 1].start_ns)
        inside = work[lo:hi]
        if not inside:
            raise WindowError(f"window {i} recorded no GPU activity between its markers")
        windows.append(Window(max(a.end_ns for a in inside) - inside[0].start_ns,
                              sum(a.end_ns - a.start_ns for a in inside), len(inside)))
    return windows
