"""What a collective suite declares beyond :class:`~fibench.suites.base.Suite`: every rank
runs each case together, and rows get bus bandwidth.
"""

from __future__ import annotations

import abc

import torch
import torch.distributed as dist

from fibench.suites.base import Case, Suite

ALIGN_SPIN_CYCLES = 2_000_000
"""SM cycles the device spins after the ranks meet in :meth:`CollectiveSuite.align_ranks`:
~1 ms at an H200's 1980 MHz. A 100 us spin was too short on an H200 x2 host: one rank
still enqueued its traced NCCL call after its spin ended (a 188 us kernel for a 12 us call)."""


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
        """Make every rank start its next traced eager call at the same device time; a
        no-op without a process group. The per-kernel pass calls it before each traced call.

        A host barrier alone left the ranks' launches tens of us apart (H200 x2, NCCL
        all-reduce of 16 tokens: traced kernel 61 us against 12 us per call in the graph;
        a collective kernel's time includes waiting for its peers). So, after the barrier,
        a one-element all-reduce meets on the device, a spin kernel of
        :data:`ALIGN_SPIN_CYCLES` follows it on the current stream, and the host waits
        only for the meeting: both ranks then enqueue the call while their spins run, and
        the calls start when the spins end, together. The spin starts before the call's
        profiler range opens, so it is not counted in the call.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return
        dist.barrier()
        if not torch.cuda.is_available():
            return
        torch.cuda.synchronize()
        flag = torch.zeros(1, device=torch.cuda.current_device())
        dist.all_reduce(flag)
        met = torch.cuda.Event()
        met.record()
        torch.cuda._sleep(ALIGN_SPIN_CYCLES)
        met.synchronize()

    def bus_factor(self, world_size: int) -> float:
        """Bus bandwidth / algorithm bandwidth of the collective on ``world_size`` ranks.

        All-reduce: 2(n-1)/n (nccl-tests doc/PERFORMANCE.md, "AllReduce"): each rank
        sends and receives 2(n-1)/n of the buffer in a bandwidth-optimal algorithm.
        """
        return 2.0 * (world_size - 1) / world_size if world_size > 0 else 0.0
