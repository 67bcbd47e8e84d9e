"""Which CUPTI client touched this process last: torch.profiler (kineto) or fibench's
CUPTI timer. Kept free of other imports so the per-kernel pass and the timer can both use
it without a cycle.

Why it matters: on the H200 (driver 580, CUDA 13.0, torch 2.11) a CUPTI activity session
opened in a process after a torch.profiler session read single kernels at about twice
their profiler kernel time (3.5 us kernel: 7.4 us) for as long as it ran, while the same
session before any profiler read them right (fibench smoke run, 2026-11-30). CUPTI before
13.2 / drivers before r610 allow one activity subscriber per process
(CUPTI documentation, "Legacy Initialization"), and kineto leaves its configuration behind
when its session ends. The CUPTI timer therefore detaches CUPTI (``cuptiFinalize``) before
its first session after any profiler session, so it starts from a clean CUPTI state.
"""

from __future__ import annotations

_STATE = {"profiler_sessions": 0, "reset_after": 0}


def note_profiler_session() -> None:
    """Record that a torch.profiler (kineto) session is about to run in this process."""
    _STATE["profiler_sessions"] += 1


def profiler_used_since_reset() -> bool:
    """Whether a profiler session ran since the CUPTI timer last reset CUPTI."""
    return _STATE["profiler_sessions"] > _STATE["reset_after"]


def mark_reset() -> None:
    """Record that CUPTI was detached and its state is clean again."""
    _STATE["reset_after"] = _STATE["profiler_sessions"]

