"""Formatting for people (console and Markdown); CSV keeps raw numbers."""

from __future__ import annotations

import math
from typing import Any


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; '-' for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    mag = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - mag)
    return f"{value:.{decimals}f}"


def fmt_us(value: float | None) -> str:
    """Microseconds, switching to ms above 10 000 us."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value / 1e3:.3g} ms" if value >= 1e4 else f"{fmt_num(value)} us"


def fmt_bytes(n: int | None) -> str:
    """Binary-prefixed bytes ("50.0 MiB")."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def env_rows(env: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs describing an environment dict (EnvSnapshot.to_dict())."""
    cc = env.get("compute_capability")
    clock = env.get("sm_clock_mhz")
    notes = env.get("notes", {})
    return [
        ("GPU", env.get("gpu_name") or f"none ({notes.get('gpu_name', 'no CUDA')})"),
        ("compute capability", f"SM {cc}" if cc else "-"),
        ("SMs", str(env.get("sm_count") or "-")),
        ("L2 cache", fmt_bytes(env.get("l2_cache_bytes"))),
        ("GPU memory", fmt_bytes(env.get("memory_bytes"))),
        ("driver", f"{env.get('driver_version') or '-'} (supports CUDA {env.get('driver_cuda_version') or '-'})"),
        ("torch", f"{env.get('torch_version') or '-'} (CUDA runtime {env.get('torch_cuda_runtime') or 'none'})"),
        ("nvcc (FlashInfer JIT)", f"{env.get('nvcc_version') or '-'} {env.get('nvcc_path') or ''}".strip()),
        ("flashinfer", env.get("flashinfer_version") or "not installed"),
        ("cupti-python", env.get("cupti_python_version") or "not installed"),
        ("nvtx", env.get("nvtx_version") or "not installed"),
        ("SM clock at start", f"{clock} MHz (max {env.get('sm_clock_max_mhz')})" if clock else "-"),
        ("python", env.get("python_version") or "-"),
        ("fibench", env.get("fibench_version") or "-"),
    ]
