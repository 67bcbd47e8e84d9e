"""Bandwidth of a collective, as nccl-tests reports it (nccl-tests doc/PERFORMANCE.md).

algbw = S / t, with S the bytes of the buffer each rank holds (nccl-tests' "size") and t the
time of one call; busbw = algbw x the collective's bus factor (all-reduce: 2(n-1)/n), a
number that compares with the link's bandwidth whatever the rank count. Both in GB/s
(1e9 bytes/s), as nccl-tests prints them.
"""

from __future__ import annotations


def bandwidths_gbps(nbytes: int, time_us: float, bus_factor: float) -> tuple[float, float]:
    """(algbw, busbw) in GB/s of one call moving an ``nbytes`` buffer in ``time_us``.

    Raises:
        ValueError: a non-positive time or negative byte count.
    """
    if time_us <= 0 or nbytes < 0:
        raise ValueError(f"bandwidth needs time > 0 and bytes >= 0, got {time_us} us, {nbytes} B")
    algbw = nbytes / (time_us * 1e-6) / 1e9
    return algbw, algbw * bus_factor
