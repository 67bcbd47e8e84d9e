"""Telling failures apart: memory exhaustion (GPU or host) and a lost CUDA context.

Both decide what a failed row is and what the sweep does next: out of memory is status
``oom`` and the sweep goes on in this process; a lost context (a sticky error such as a
device-side assert or an illegal memory access) means no later CUDA call of this process
can succeed, so the rest of the sweep has to run in fresh processes
(:func:`fibench.sweep.loop.run_sweep`).
"""

from __future__ import annotations

import contextlib
import gc

import torch

from fibench.errors import describe_exception


class ContextLost(Exception):
    """The CUDA context of this process no longer works (a sticky error such as a
    device-side assert or an illegal memory access); every later CUDA call would fail."""


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is memory exhaustion: GPU (``torch.OutOfMemoryError``) or host
    (``MemoryError``; torch's CPU allocator raises a RuntimeError "DefaultCPUAllocator:
    can't allocate memory", c10/core/impl/alloc_cpu.cpp)."""
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def check_context(device: torch.device) -> None:
    """Raise :class:`ContextLost` when a tiny CUDA operation fails on ``device`` (no-op on
    the CPU); called after a row or reference failed, to tell a sticky error from an
    ordinary one."""
    if device.type != "cuda":
        return
    try:
        torch.cuda.synchronize(device)
        torch.ones(1, device=device).add_(1).item()
    except RuntimeError as exc:
        raise ContextLost(describe_exception(exc, 200)) from None


def release(device: torch.device) -> None:
    """Give the GPU memory of the last step back to the driver: collect reference cycles
    that may hold tensors, then empty torch's cache (a lost context cannot even do that:
    ignored). On the CPU freed tensors are returned at once and a full collection (about
    half a second with torch loaded) buys nothing."""
    if device.type == "cuda":
        gc.collect()
        with contextlib.suppress(RuntimeError):
            torch.cuda.empty_cache()
