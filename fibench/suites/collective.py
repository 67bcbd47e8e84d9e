"""What a collective suite declares beyond :class:`~fibench.suites.base.Suite`: every rank
runs each case together, and rows get bus bandwidth.
"""

from __future__ import annotations

import abc

import torch
import torch.distributed as dist

from fibench.suites.base import Case, Suite


class CollectiveSuite(Suite):
    """A suite whose backends communicate between ranks (one rank per GPU).

    ``fibench run`` starts one rank per GPU (``--gpus``); every rank runs every case and
    backend, and rank 0 writes one row per case x backend merged from all ranks
    (:mod:`fibench.distributed.merge`).
    """

    @abc.abstractmethod
    def collective_bytes(self, case: Case) -> int:
        """Bytes of the buffer one collective call reduces (nccl-tests' "size"), per rank."""

    def finish(self) -> None:
        """Release what the backends kept across cases (a communication workspace); every
        rank calls it together once the run's cases are done."""

    def align_ranks(self) -> None:
        """Block until every rank arrives (``torch.distributed.barrier``, then a device
        synchronize), so the ranks launch the next traced eager call together; a no-op
        without a process group. The per-kernel pass calls it before each traced call."""
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            if torch.cuda.is_available():
                torch.cuda.synchronize()

    def bus_factor(self, world_size: int) -> float:
        """Bus bandwidth / algorithm bandwidth of the collective on ``world_size`` ranks.

        All-reduce: 2(n-1)/n (nccl-tests doc/PERFORMANCE.md, "AllReduce"): each rank
        sends and receives 2(n-1)/n of the buffer in a bandwidth-optimal algorithm.
        """
        return 2.0 * (world_size - 1) / world_size if world_size > 0 else 0.0
