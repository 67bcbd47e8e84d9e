"""The process group of one rank: who am I, on which device, and the helpers every rank
calls together (gather, broadcast). One process group per process, as torch.distributed
keeps it; this module adds the device of every rank, gathered once at start.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from fibench.distributed.env import apply_comm_env

TIMEOUT_S = 900
"""Process-group timeout: a rank waiting longer than this in a collective fails (the
FlashInfer TensorRT-LLM all-reduce module builds in ~140 s on first use, while the other
ranks wait in the workspace rendezvous)."""


@dataclass(frozen=True)
class GroupInfo:
    """This rank's place in the run.

    Attributes:
        rank, world_size, local_rank: as torch.distributed / torchrun number them.
        devices: every rank's device ("cuda:0", "cuda:1" or "cpu"), by rank.
        backend: the process group's backend ("nccl", "gloo"; "none" outside a group).
        env_notes: communication variables fibench overrode at start (see fibench.distributed.env).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    devices: tuple[str, ...] = ()
    backend: str = "none"
    env_notes: tuple[str, ...] = ()

    @property
    def cuda_indices(self) -> tuple[int, ...]:
        """CUDA device indices of every rank (empty on the CPU)."""
        return tuple(int(d.split(":")[1]) for d in self.devices if d.startswith("cuda:"))


_CURRENT = GroupInfo()


def launched_rank() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from the variables torchrun / the elastic launcher set
    for each rank (RANK, WORLD_SIZE, LOCAL_RANK), or None outside such a launch."""
    try:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    except (KeyError, ValueError):
        return None


def current_group() -> GroupInfo:
    """This process's :class:`GroupInfo` (one rank of one when no group was started)."""
    return _CURRENT


def init_group(device: torch.device, *, collective: bool, timeout_s: float = TIMEOUT_S) -> GroupInfo:
    """Join the process group of this launch: communication environment first (multicast
    off), then ``init_process_group`` and a gather of every rank's device.

    Args:
        device: this rank's device (made current on CUDA).
        collective: the ranks communicate GPU tensors (NCCL on CUDA); otherwise the group
            only coordinates the workers (gloo, CPU objects).

    Raises:
        RuntimeError: not launched by torchrun / the elastic launcher, or the rendezvous failed.
    """
    global _CURRENT
    notes = apply_comm_env()
    if launched_rank() is None:
        raise RuntimeError("not a torch.distributed rank (RANK / WORLD_SIZE / LOCAL_RANK unset)")
    backend = "nccl" if collective and device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=dt.timedelta(seconds=timeout_s))
    devices = all_gather(str(device))
    _CURRENT = GroupInfo(dist.get_rank(), dist.get_world_size(), launched_rank()[2], tuple(devices), backend,
                         tuple(notes))
    return _CURRENT


def close_group() -> None:
    """Leave the process group (idempotent)."""
    global _CURRENT
    if dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = GroupInfo()


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), by rank; every rank must call it."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank; every rank must call it."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
