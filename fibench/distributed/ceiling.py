"""The all-reduce ceiling of the GPUs of a run, measured at its start: a large all-reduce
over the run's process group (NCCL on CUDA, gloo on the CPU), its bus bandwidth the
reference for the ``busbw_sol_pct`` column.

On the workplace's two H200s of one host, DESIGN.md records ~280 GB/s NCCL all-reduce bus
bandwidth for 128 MiB of bf16.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from fibench.distributed.busbw import bandwidths_gbps
from fibench.distributed.group import all_gather

GPU_BYTES = 256 << 20
"""Buffer of the GPU measurement (256 MiB: well past the size where NCCL reaches its peak)."""
CPU_BYTES = 4 << 20
"""Buffer of the gloo measurement on the CPU (a smoke test of the arithmetic, not a ceiling
anyone should quote)."""


@dataclass(frozen=True)
class CommCeiling:
    """Measured all-reduce bandwidth of the run's ranks.

    Attributes:
        busbw_gbps, algbw_gbps: GB/s at the slowest rank's median time.
        median_us: that time (us); nbytes: buffer per rank; world_size: ranks.
        method: how it was measured (one line for the report).
    """

    busbw_gbps: float
    algbw_gbps: float
    median_us: float
    nbytes: int
    world_size: int
    method: str


def _time_us(call, device: torch.device, iters: int) -> list[float]:
    if device.type != "cuda":
        out = []
        for _ in range(iters):
            t0 = time.perf_counter_ns()
            call()
            out.append((time.perf_counter_ns() - t0) / 1e3)
        return out
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for s, e in zip(starts, ends):
        s.record()
        call()
        e.record()
    torch.cuda.synchronize(device)
    return [s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends)]


def measure_allreduce_ceiling(device: torch.device, bus_factor: float, *, nbytes: int | None = None,
                              warmup: int = 5, iters: int = 20) -> CommCeiling:
    """Time ``iters`` all-reduces of ``nbytes`` (bf16 on CUDA, fp32 on the CPU) on every
    rank after ``warmup`` untimed ones; every rank must call it.

    Each call is bracketed by CUDA events on the current stream (the wall clock on the CPU);
    the ceiling is the busbw at the slowest rank's median.
    """
    cuda = device.type == "cuda"
    nbytes = nbytes or (GPU_BYTES if cuda else CPU_BYTES)
    dtype = torch.bfloat16 if cuda else torch.float32
    buf = torch.ones(nbytes // torch.empty((), dtype=dtype).element_size(), dtype=dtype, device=device)
    for _ in range(warmup):
        dist.all_reduce(buf)
    if cuda:
        torch.cuda.synchronize(device)
    dist.barrier()
    median = float(np.median(_time_us(lambda: dist.all_reduce(buf), device, iters)))
    slowest = max(all_gather(median))
    del buf
    n = dist.get_world_size()
    algbw, busbw = bandwidths_gbps(nbytes, slowest, bus_factor)
    what = f"{dist.get_backend()} all-reduce of {nbytes >> 20} MiB {str(dtype).replace('torch.', '')}"
    return CommCeiling(busbw, algbw, slowest, nbytes, n,
                       f"{what} on {n} ranks, median of {iters} per rank, slowest rank")
