"""Rich console output: environment table, progress, end-of-run summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from fibench.env import EnvSnapshot

console = Console(stderr=False)


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def env_rows(snap: EnvSnapshot) -> list[tuple[str, str]]:
    """(label, value) pairs describing an environment, for console and Markdown."""
    cc = snap.compute_capability
    return [
        ("GPU", snap.gpu_name or f"none ({snap.notes.get('gpu_name', 'no CUDA')})"),
        ("compute capability", f"SM {cc}" if cc else "-"),
        ("SMs", str(snap.sm_count or "-")),
        ("L2 cache", _fmt_bytes(snap.l2_cache_bytes)),
        ("GPU memory", _fmt_bytes(snap.memory_bytes)),
        ("driver", f"{snap.driver_version or '-'} (supports CUDA {snap.driver_cuda_version or '-'})"),
        ("torch", f"{snap.torch_version or '-'} (CUDA runtime {snap.torch_cuda_runtime or 'none'})"),
        ("nvcc (FlashInfer JIT)", f"{snap.nvcc_version or '-'} {snap.nvcc_path or ''}".strip()),
        ("flashinfer", snap.flashinfer_version or "not installed"),
        ("cupti-python", snap.cupti_python_version or "not installed"),
        ("nvtx", snap.nvtx_version or "not installed"),
        ("SM clock", f"{snap.sm_clock_mhz} MHz (max {snap.sm_clock_max_mhz})" if snap.sm_clock_mhz else "-"),
        ("python", snap.python_version),
        ("fibench", snap.fibench_version),
    ]


def print_env(snap: EnvSnapshot) -> None:
    """Print an environment snapshot as a two-column table, then any notes."""
    table = Table(title="fibench env", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for label, value in env_rows(snap):
        table.add_row(label, value)
    console.print(table)
    for key, why in snap.notes.items():
        console.print(f"[dim]{key}: {why}[/dim]")
