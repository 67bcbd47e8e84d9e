"""The tensors a timed pass cycles through: the cold-L2 plan's input copies, the calls
bound to each, and the restore / L2-flush steps that run outside every timed span."""

from __future__ import annotations

from typing import Callable

import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.suites.base import Launch, Outputs


LAYOUTS = ("alloc", "slab")
"""Where the copies live. ``alloc``: one caching-allocator block per tensor per copy (the
timed default). ``slab``: per input name, one allocation holding every copy in order, each
at a multiple of :data:`SLAB_ALIGN` bytes, so the copies' addresses (and the order the graph
walks them in) do not depend on the allocator's state. On an H200 both layouts read the same
time in every round (investigation/rotation_layout.py, audits/h200-2026-11-30-c): the split
between a process's first rounds and later ones that led here has another cause
(:mod:`fibench.measure.warmup`). Kept for the investigations that compare the two."""
SLAB_ALIGN = 256
"""Byte alignment of each copy in a slab (the CUDA caching allocator rounds blocks to 512
bytes; 256 keeps every vectorised access of a kernel aligned as ``cudaMalloc`` does)."""


def _slab_copies(reads: dict[str, torch.Tensor], n: int) -> list[dict[str, torch.Tensor]]:
    """``n`` copies of ``reads`` laid out per input name in one allocation, copy i at byte
    ``i * round_up(nbytes, SLAB_ALIGN)``; non-contiguous tensors are cloned one by one."""
    copies: list[dict[str, torch.Tensor]] = [{} for _ in range(n)]
    for name, t in reads.items():
        if not t.is_contiguous() or t.numel() == 0:
            for c in copies:
                c[name] = t.clone()
            continue
        nbytes = t.numel() * t.element_size()
        stride = -(-nbytes // SLAB_ALIGN) * SLAB_ALIGN
        slab = torch.empty(n, stride, dtype=torch.uint8, device=t.device)
        slab[:, :nbytes].copy_(t.reshape(-1).view(torch.uint8).expand(n, nbytes))  # one copy kernel
        for i, c in enumerate(copies):
            c[name] = slab[i, :nbytes].view(t.dtype).view(t.shape)
    return copies


class RotationSet:
    """The copies a plan asks for, their bound calls, and the restore/flush helpers.

    Args:
        launch: the backend's launch (``reads`` are the first copy).
        plan: cold-L2 plan (``copies``, ``restore``, ``flush_bytes``).
        device: device for the flush buffer.
        layout: where copies 2..N live (:data:`LAYOUTS`; default ``alloc``).

    Raises:
        ValueError: an unknown layout.
    """

    def __init__(self, launch: Launch, plan: ColdL2Plan, device: torch.device, *, layout: str = "alloc") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.sets = [dict(launch.reads)]
        if layout == "slab" and plan.copies > 1:
            self.sets += _slab_copies(dict(launch.reads), plan.copies - 1)
        else:
            for _ in range(plan.copies - 1):
                self.sets.append({k: v.clone() for k, v in launch.reads.items()})
        self.calls: list[Callable[[], Outputs]] = [launch.bind(s) for s in self.sets]
        self.mutates = launch.mutates
        self.pristine = {k: launch.reads[k].clone() for k in launch.mutates}
        self.flush_buf = (torch.empty(plan.flush_bytes, dtype=torch.uint8, device=device)
                          if plan.flush_bytes else None)

    def restore(self) -> None:
        """Copy the pristine values back into every copy's mutated tensors (one
        multi-tensor launch when torch has ``_foreach_copy_``)."""
        dst = [s[k] for s in self.sets for k in self.mutates]
        src = [self.pristine[k] for s in self.sets for k in self.mutates]
        if hasattr(torch, "_foreach_copy_") and dst and dst[0].is_cuda:
            torch._foreach_copy_(dst, src)
        else:
            for d, p in zip(dst, src):
                d.copy_(p)

    def flush(self) -> None:
        """Write ``flush_bytes`` bytes so no earlier data stays in L2."""
        if self.flush_buf is not None:
            self.flush_buf.zero_()

    def prepare_call(self, restore: bool) -> None:
        """What runs before a timed replay/call: restore (if needed), then flush."""
        if restore:
            self.restore()
        self.flush()
