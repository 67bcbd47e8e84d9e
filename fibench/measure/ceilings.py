"""Measured speed-of-light ceilings of this GPU, for SOL percentages.

Measured once per run (about a second) rather than taken from a datasheet: a large
device-to-device copy (bytes read + written over time), a large bf16 GEMM and, where the GPU
has fp8 tensor cores (compute capability 8.9 and up), a large fp8 e4m3 GEMM
(``torch._scaled_mm``, cuBLASLt). On the workplace's H100/H200, DESIGN.md records ~3.0 / ~4.3
TB/s and ~790 TFLOP/s bf16; Hopper's datasheet fp8 dense rate is twice its bf16 rate (NVIDIA
H100 / H200 datasheets: 1979 vs 989 TFLOP/s for the SXM parts), so fp8 rows measured against
the bf16 ceiling read up to ~200%.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Ceilings:
    """Measured ceilings: copy bandwidth (TB/s, read+write), bf16 GEMM (TFLOP/s) and fp8
    e4m3 GEMM (TFLOP/s; None where the GPU or torch has no fp8 GEMM)."""

    copy_tbps: float
    gemm_tflops: float
    method: str
    fp8_gemm_tflops: float | None = None

    def flops_ceiling(self, flop_dtype: str) -> float:
        """The GEMM ceiling in TFLOP/s for FLOPs of ``flop_dtype`` ("bf16" or "fp8"); an
        fp8 row on a GPU without a measured fp8 ceiling gets the bf16 one (its SOL % then
        reads high, and the report's ceilings line says no fp8 ceiling was measured)."""
        if flop_dtype == "fp8" and self.fp8_gemm_tflops:
            return self.fp8_gemm_tflops
        return self.gemm_tflops


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
    fp8_ms, fp8_note = _fp8_gemm_ms(a, b, device)
    del a, b
    torch.cuda.empty_cache()
    flop = 2 * gemm_n ** 3
    return Ceilings(
        copy_tbps=2 * copy_bytes / (copy_ms * 1e-3) / 1e12,
        gemm_tflops=flop / (gemm_ms * 1e-3) / 1e12,
        method=(f"median of 10: {copy_bytes >> 20} MiB device copy (read+write); bf16 {gemm_n}^3 GEMM on random "
                f"data; {fp8_note}"),
        fp8_gemm_tflops=flop / (fp8_ms * 1e-3) / 1e12 if fp8_ms else None,
    )


def _fp8_gemm_ms(a: torch.Tensor, b: torch.Tensor, device: torch.device) -> tuple[float | None, str]:
    """Median ms of an e4m3 x e4m3 -> bf16 ``torch._scaled_mm`` of the bf16 operands'
    shape (unit per-tensor scales), or (None, why not)."""
    if torch.cuda.get_device_capability(device) < (8, 9) or not hasattr(torch, "float8_e4m3fn"):
        return None, "no fp8 GEMM ceiling (needs compute capability 8.9+)"
    try:
        a8 = a.to(torch.float8_e4m3fn)
        b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()  # cuBLASLt wants b column-major
        one = torch.ones((), device=device)
        ms = _median_ms(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16), 10)
    except (RuntimeError, TypeError) as exc:
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            raise
        return None, f"no fp8 GEMM ceiling (torch._scaled_mm failed: {str(exc).splitlines()[0][:100]})"
    return ms, f"fp8 e4m3 {a.shape[0]}^3 torch._scaled_mm (unit scales)"
