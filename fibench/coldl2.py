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
  used), so K calls per graph is a multiple of ``n`` and at least ``n``.
* When ``n`` copies do not fit the memory budget or ``n`` exceeds the calls one graph may
  hold, flush L2 (write FACTOR x L2 bytes) before each call instead.
* Flushes and input restores (in-place kernels) run before each call *inside* the graph
  but outside that call's timed span: each call is bracketed by its own pair of
  graph-captured events (``torch.cuda.Event(external=True)``), so no launch overhead and
  no flush time enter the per-call time.
* In-place kernels are restored before every call; the restore writes into L2, so unless
  the user asked for warm L2 a flush follows it (method "flush").
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
MAX_CALLS_PER_GRAPH = 4096
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
        restore: restore mutated tensors before each call.
        flush_bytes: bytes written by the L2 flush before each call (0 = no flush).
        note: why the method differs from the request, or other facts.
    """

    requested: str
    method: str
    cold: bool
    copies: int
    calls_per_graph: int
    restore: bool
    flush_bytes: int
    note: str = ""

    @property
    def per_call_events(self) -> bool:
        """Each call needs work before it (restore, flush) that must stay outside its
        timed span, so each call gets its own events (else time = replay / K)."""
        return self.restore or self.flush_bytes > 0


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
    per_call = min_calls if graph else 1
    if requested == "off":
        note = "in-place kernel: inputs restored before each call (warm L2)" if mutates else ""
        return ColdL2Plan(requested, "off", False, 1, per_call, mutates, 0, note)
    if not graph:
        note = "no-graph mode flushes L2 before each call" if requested == "rotate" else ""
        return ColdL2Plan(requested, "flush", True, 1, 1, mutates, flush, note)
    if requested == "flush":
        return ColdL2Plan(requested, "flush", True, 1, per_call, mutates, flush)
    if mutates:
        return ColdL2Plan(requested, "flush", True, 1, per_call, True, flush,
                          "in-place kernel: inputs restored, then L2 flushed, before each call")
    copies = rotation_copies(traffic_bytes, l2_bytes)
    if copies == 1:
        return ColdL2Plan(requested, "self-evicting", True, 1, min_calls, False, 0,
                          f"one call moves >= {FACTOR}x L2; no copies needed")
    if copies > max_calls:
        return ColdL2Plan(requested, "flush", True, 1, per_call, False, flush,
                          f"rotation needs {copies} copies > {max_calls} calls per graph")
    need = copies * set_bytes
    if need > memory_fraction * free_bytes:
        return ColdL2Plan(requested, "flush", True, 1, per_call, False, flush,
                          f"rotation needs {need / 2**30:.1f} GiB for {copies} copies; "
                          f"{free_bytes / 2**30:.1f} GiB free")
    calls = copies * math.ceil(max(min_calls, copies) / copies)
    return ColdL2Plan(requested, "rotate", True, copies, calls, False, 0)
