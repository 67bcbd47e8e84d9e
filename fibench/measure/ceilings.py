"""Measured speed-of-light ceilings of this GPU, for SOL percentages.

Measured once per run (about a second) rather than taken from a datasheet: a large
device-to-device copy (bytes read + written over time) and a large bf16 GEMM. On the
workplace's H100/H200, DESIGN.md records ~3.0 / ~4.3 TB/s and ~790 TFLOP/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Ceilings:
    """Measured ceilings: copy bandwidth (TB/s, read+write) and bf16 GEMM (TFLOP/s)."""

    copy_tbps: float
    gemm_tflops: float
    method: str


def _median_ms(fn, iters: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def measure_ceilings(device: torch.device, copy_bytes: int = 1 << 30, gemm_n: int = 8192) -> Ceilings:
    """Measure copy bandwidth and bf16 GEMM throughput on ``device`` (median of 10).

    Args:
        copy_bytes: bytes per copy (1 GiB: far beyond L2).
        gemm_n: square GEMM size (8192^3, 2*n^3 FLOP).
    """
    src = torch.empty(copy_bytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    copy_ms = _median_ms(lambda: dst.copy_(src), 10)
    del src, dst
    a = torch.randn(gemm_n, gemm_n, device=device, dtype=torch.bfloat16)
    b = torch.randn(gemm_n, gemm_n, device=device, dtype=torch.bfloat16)
    gemm_ms = _median_ms(lambda: a @ b, 10)
    del a, b
    torch.cuda.empty_cache()
    return Ceilings(
        copy_tbps=2 * copy_bytes / (copy_ms * 1e-3) / 1e12,
        gemm_tflops=2 * gemm_n ** 3 / (gemm_ms * 1e-3) / 1e12,
        method=f"median of 10: {copy_bytes >> 20} MiB device copy (read+write); bf16 {gemm_n}^3 GEMM on random data",
    )
