"""Cold-L2 planning: how many input copies to rotate, how many calls per CUDA graph,
or whether to flush instead — decided before anything is timed, and recorded per row.

Rule (own formulation; the threshold follows FlashInfer's ``calculate_rotation_count`` in
flashinfer/testing/utils.py, which treats >= 5x L2 as "cache effects negligible"):

* A call's L2 traffic is the bytes a perfect kernel reads plus writes (the suite's
  FLOP/byte model; for MoE only the experts actually hit). If that alone is
  >= ``FACTOR`` x L2, consecutive calls evict each other: no copies needed
  ("self-evicting").
* Otherwise rotate ``n = ceil(FACTOR * L2 / traffic) + 1`` copies of every tensor the
  kernel reads (weights included), so that between two uses of one copy at least
  FACTOR x L2 bytes pass through L2. Under a CUDA graph the captured graph must walk
  through all copies (flashinfer issue #4468: copies beyond the calls captured are never
  used), so K calls per graph is a multiple of ``n`` and at least ``n``; time per call =
  replay time / K.
* In-place kernels must see the same input values on every call: each replay holds one
  call per copy (at least ``MIN_CALLS_PER_GRAPH`` copies), and between replays, outside
  the timed span, every copy is restored and then L2 is flushed (the restore itself
  writes into L2).
* When the copies do not fit the memory budget or exceed the calls one graph may hold,
  or when ``flush`` is requested, L2 is flushed (FACTOR x L2 bytes written) before each
  call *inside* the graph, and each call is bracketed by its own graph-captured events
  (``torch.cuda.Event(external=True)``) so the flush stays outside its span. The event
  nodes cost about 2.5-3 us per call on H200 (seen while developing this: one-row rmsnorm
  4.75 us vs 2.30 us kernel time; not part of the committed cross-check, which uses the
  rotation this module prefers), so "flush" suits kernels well above that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COLD_L2_MODES = ("rotate", "flush", "off")
FACTOR = 5
"""Bytes through L2 between two uses of one buffer, in multiples of the L2 size."""
MIN_CALLS_PER_GRAPH = 10
"""Calls captured per graph at least, to amortise the replay launch (FlashInfer's
``num_iters_within_graph`` default is also 10)."""
MAX_CALLS_PER_GRAPH = 32768
"""A graph this long (e.g. one-row rmsnorm: ~19k copies of 16 KiB) still captures in about
a second and replays in tens of milliseconds."""
MEMORY_FRACTION = 0.5
"""Share of free device memory the rotation copies may take."""


@dataclass(frozen=True)
class ColdL2Plan:
    """How a row is timed with respect to L2.

    Attributes:
        requested: what the user asked for (rotate | flush | off).
        method: what is done: rotate | self-evicting | flush | off | n/a.
        cold: True only when no input byte can be served from L2 at kernel start.
        copies: sets of read tensors used (1 = the originals only).
        calls_per_graph: K, calls captured in one graph (1 outside graph mode).
        restore: restore mutated tensors (every copy) before each replay, or before each
            call when ``per_call``.
        flush_bytes: bytes written by each L2 flush (0 = no flush); after the restore.
        note: why the method differs from the request, or other facts.
        per_call: restore/flush before every call inside the graph, each call with its own
            graph-captured events (else restore/flush run between replays).
    """

    requested: str
    method: str
    cold: bool
    copies: int
    calls_per_graph: int
    restore: bool
    flush_bytes: int
    note: str = ""
    per_call: bool = False


def rotation_copies(traffic_bytes: int, l2_bytes: int, factor: int = FACTOR) -> int:
    """Copies needed so FACTOR x L2 bytes pass between two uses of one copy.

    Args:
        traffic_bytes: L2 traffic of one call (bytes read + written), > 0.
        l2_bytes: L2 size in bytes.

    Returns:
        1 when one call's traffic already reaches ``factor`` x L2, else
        ``ceil(factor * l2 / traffic) + 1``.
    """
    traffic = max(1, traffic_bytes)
    if traffic >= factor * l2_bytes:
        return 1
    return math.ceil(factor * l2_bytes / traffic) + 1


def plan_cold_l2(
    requested: str,
    *,
    graph: bool,
    l2_bytes: int,
    traffic_bytes: int,
    set_bytes: int,
    free_bytes: int,
    mutates: bool,
    min_calls: int = MIN_CALLS_PER_GRAPH,
    max_calls: int = MAX_CALLS_PER_GRAPH,
    memory_fraction: float = MEMORY_FRACTION,
) -> ColdL2Plan:
    """Decide the cold-L2 method of one row.

    Args:
        requested: "rotate", "flush" or "off".
        graph: timing under a CUDA graph (else per-call events).
        l2_bytes: L2 cache size (bytes).
        traffic_bytes: bytes one call reads plus writes (suite's byte model).
        set_bytes: allocated bytes of one set of read tensors (what a copy costs).
        free_bytes: free device memory (bytes) before the copies are made.
        mutates: the kernel writes some of its inputs in place.

    Raises:
        ValueError: unknown ``requested``.
    """
    if requested not in COLD_L2_MODES:
        raise ValueError(f"unknown cold-L2 mode {requested!r}")
    flush = FACTOR * l2_bytes
    if not graph:  # per-call events; restore and flush before each call, outside the events
        if requested == "off":
            return ColdL2Plan(requested, "off", False, 1, 1, mutates, 0)
        note = "no-graph mode flushes L2 before each call" if requested == "rotate" else ""
        return ColdL2Plan(requested, "flush", True, 1, 1, mutates, flush, note)

    def why_not(n: int) -> str:
        if n > max_calls:
            return f"rotation needs {n} copies > {max_calls} calls per graph"
        if n * set_bytes > memory_fraction * free_bytes:
            return (f"rotation needs {n * set_bytes / 2**30:.1f} GiB for {n} copies; "
                    f"{free_bytes / 2**30:.1f} GiB free")
        return ""

    def per_call_flush(why: str) -> ColdL2Plan:
        return ColdL2Plan(requested, "flush", True, 1, min_calls, mutates, flush,
                          "; ".join(filter(None, [why, "flush + per-call events inside the graph"])),
                          per_call=True)

    if requested == "flush":
        return per_call_flush("")
    if requested == "off":
        if not mutates:
            return ColdL2Plan(requested, "off", False, 1, min_calls, False, 0)
        if why_not(min_calls):
            return ColdL2Plan(requested, "off", False, 1, min_calls, True, 0,
                              "in-place kernel: inputs restored before each call", per_call=True)
        return ColdL2Plan(requested, "off", False, min_calls, min_calls, True, 0,
                          f"in-place kernel: {min_calls} copies restored between replays")
    copies = rotation_copies(traffic_bytes, l2_bytes)
    if mutates:
        n = max(copies, min_calls)
        why = why_not(n)
        if why:
            return per_call_flush(why)
        return ColdL2Plan(requested, "rotate", True, n, n, True, flush,
                          f"in-place kernel: {n} copies restored, then L2 flushed, between replays")
    if copies == 1:
        return ColdL2Plan(requested, "self-evicting", True, 1, min_calls, False, 0,
                          f"one call moves >= {FACTOR}x L2; no copies needed")
    why = why_not(copies)
    if why:
        return per_call_flush(why)
    calls = copies * math.ceil(max(min_calls, copies) / copies)
    return ColdL2Plan(requested, "rotate", True, copies, calls, False, 0)
