"""Discarded timing rounds at the start of a process.

On an H200 (audits/h200-2026-11-30-c, investigation/first_round.py) the first one or two
timing rounds of a process read 12-15% below every later round for 2 us kernels (one-row
rmsnorm: 2.00 us, then 2.34 us; 16 rows: 2.11 us, then 2.39 us), while the profiler's
kernel time agrees with the later rounds. Ruled out: where the copies land (one slab per
input against allocator blocks), fresh ``cudaMalloc`` memory (``empty_cache`` between
rounds), GPU idle time (5 s and 20 s sleeps), L2 survival between replays (twice the
copies). What removed it: two throwaway rounds of another case before the timed one. So the
first timed row of each process (and of each device in it) runs
:data:`PROCESS_WARMUP_ROUNDS` rounds first and drops them; the row says so in its notes. The
cause is not known, and one exception was seen: in one process, the first round of a
128-row case, the first case whose 1 MiB copies came from the allocator's large pool, also
read 12% low after 16 rounds of smaller cases (investigation/rotation_layout.py). The
rounds of every row still show such a split (round spread in the report).
"""

from __future__ import annotations

from typing import Callable, Hashable

PROCESS_WARMUP_ROUNDS = 2
"""Rounds dropped before the first timed row of a process: in nine fresh processes on two
H200 hosts only the first one or two rounds read low."""

_warmed: set[Hashable] = set()


def warm_process(key: Hashable, run_round: Callable[[], object]) -> str | None:
    """Run ``run_round`` :data:`PROCESS_WARMUP_ROUNDS` times the first time ``key`` (a
    device) is seen in this process, and discard what it returns.

    Returns:
        The note for the row that paid for the rounds, or None when ``key`` was warm.
    """
    if key in _warmed:
        return None
    for _ in range(PROCESS_WARMUP_ROUNDS):
        run_round()
    _warmed.add(key)
    return (f"first timed row on this device in this process: {PROCESS_WARMUP_ROUNDS} timing rounds run and "
            "dropped first (the first rounds of a process read up to 15% low on an H200; fibench/measure/warmup.py)")


def forget() -> None:
    """Treat every device as cold again (tests)."""
    _warmed.clear()
