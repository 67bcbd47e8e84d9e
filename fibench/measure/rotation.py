"""The tensors a timed pass cycles through: the cold-L2 plan's input copies, the calls
bound to each, and the restore / L2-flush steps that run outside every timed span."""

from __future__ import annotations

from typing import Callable

import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.suites.base import Launch, Outputs


class RotationSet:
    """The copies a plan asks for, their bound calls, and the restore/flush helpers.

    Args:
        launch: the backend's launch (``reads`` are the first copy).
        plan: cold-L2 plan (``copies``, ``restore``, ``flush_bytes``).
        device: device for the flush buffer.
    """

    def __init__(self, launch: Launch, plan: ColdL2Plan, device: torch.device) -> None:
        self.sets = [dict(launch.reads)]
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
