"""Environment snapshot: GPU, compute capability, caches, clocks and software versions.

Every field is collected defensively: a field that cannot be read is ``None`` and the
reason is kept in ``EnvSnapshot.notes`` so a report never silently omits it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from fibench import __version__


@dataclass
class EnvSnapshot:
    """What machine and software a measurement ran on.

    Units: bytes for sizes, MHz for clocks. Versions are strings as the component
    reports them. ``notes`` maps a field name to why it is ``None``.
    """

    fibench_version: str = __version__
    python_version: str = platform.python_version()
    platform: str = platform.platform()
    cuda_available: bool = False
    gpu_name: str | None = None
    compute_capability: str | None = None  # "9.0"
    sm_count: int | None = None
    l2_cache_bytes: int | None = None
    memory_bytes: int | None = None
    driver_version: str | None = None
    driver_cuda_version: str | None = None  # newest CUDA the driver supports (NVML)
    torch_version: str | None = None
    torch_cuda_runtime: str | None = None  # CUDA runtime torch was built with
    nvcc_version: str | None = None  # the nvcc FlashInfer's JIT would call
    nvcc_path: str | None = None
    flashinfer_version: str | None = None
    cupti_python_version: str | None = None
    nvtx_version: str | None = None
    sm_clock_mhz: int | None = None  # current SM clock when the snapshot was taken
    sm_clock_max_mhz: int | None = None
    memory_clock_mhz: int | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (env.json)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EnvSnapshot":
        """Inverse of :meth:`to_dict`; unknown keys are ignored (older/newer files)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def package_version(name: str) -> str | None:
    """Installed distribution version of ``name``, or None when not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def nvcc_for_flashinfer() -> tuple[str | None, str | None, str | None]:
    """Path and release of the nvcc FlashInfer's JIT would use, without importing FlashInfer.

    FlashInfer 0.6 (flashinfer/jit/cpp_ext.py ``get_cuda_path``) takes ``$CUDA_HOME``, else
    ``$CUDA_PATH``, else the directory above ``which nvcc``, else /usr/local/cuda, and runs
    ``<that>/bin/nvcc``.

    Returns:
        (path, release like "13.0", reason when not found or unreadable).
    """
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home is None:
        found = shutil.which("nvcc")
        home = os.path.dirname(os.path.dirname(found)) if found else "/usr/local/cuda"
    nvcc = os.path.join(home, "bin", "nvcc")
    if not os.path.exists(nvcc):
        return None, None, f"no nvcc at {nvcc} ($CUDA_HOME/$CUDA_PATH unset, none on PATH)"
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return nvcc, None, f"nvcc --version failed: {exc}"
    match = re.search(r"release (\d+\.\d+)", out)
    return nvcc, (match.group(1) if match else None), (None if match else "unparsed nvcc --version")


def _nvml_fields(snap: EnvSnapshot, device_index: int) -> None:
    """Fill driver and clock fields from NVML (nvidia-ml-py)."""
    try:
        import pynvml  # type: ignore
    except ImportError:
        snap.notes["driver_version"] = "nvidia-ml-py (pynvml) not installed"
        return
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError subclasses; no driver on this machine
        snap.notes["driver_version"] = f"NVML unavailable: {exc}"
        return
    try:
        snap.driver_version = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        snap.driver_cuda_version = f"{cuda // 1000}.{(cuda % 1000) // 10}"
        handle = nvml_handle(device_index)
        if handle is not None:
            snap.sm_clock_mhz = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)
            snap.sm_clock_max_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM)
            snap.memory_clock_mhz = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    except Exception as exc:
        snap.notes["sm_clock_mhz"] = f"NVML query failed: {exc}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_handle(device_index: int) -> Any | None:
    """NVML handle for torch's CUDA device ``device_index``, matched by PCI bus id.

    torch and NVML can number devices differently (CUDA_VISIBLE_DEVICES), so the
    handle is looked up by PCI address. Returns None when NVML or CUDA is missing.
    """
    try:
        import pynvml  # type: ignore
        import torch

        props = torch.cuda.get_device_properties(device_index)
        bus = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
        return pynvml.nvmlDeviceGetHandleByPciBusId(bus)
    except Exception:
        return None


def collect_env(device_index: int = 0) -> EnvSnapshot:
    """Take an :class:`EnvSnapshot` of this machine.

    Args:
        device_index: torch CUDA device to describe (ignored without CUDA).

    Never raises: every failure becomes a ``None`` field with a note.
    """
    snap = EnvSnapshot()
    snap.flashinfer_version = package_version("flashinfer-python")
    snap.cupti_python_version = package_version("cupti-python")
    snap.nvtx_version = package_version("nvtx")
    snap.nvcc_path, snap.nvcc_version, reason = nvcc_for_flashinfer()
    if reason:
        snap.notes["nvcc_version"] = reason
    try:
        import torch
    except ImportError:
        snap.notes["torch_version"] = "torch not installed"
        return snap
    snap.torch_version = torch.__version__
    snap.torch_cuda_runtime = torch.version.cuda
    snap.cuda_available = torch.cuda.is_available()
    if not snap.cuda_available:
        snap.notes["gpu_name"] = "torch.cuda.is_available() is False (no GPU or CPU-only torch)"
        return snap
    props = torch.cuda.get_device_properties(device_index)
    snap.gpu_name = props.name
    snap.compute_capability = f"{props.major}.{props.minor}"
    snap.sm_count = props.multi_processor_count
    snap.memory_bytes = props.total_memory
    snap.l2_cache_bytes = getattr(props, "L2_cache_size", None)
    _nvml_fields(snap, device_index)
    return snap
