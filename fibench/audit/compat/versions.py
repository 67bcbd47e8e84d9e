"""The CUDA version matrix of this machine and the mismatches worth flagging.

Four versions decide whether FlashInfer kernels build and run: the newest CUDA the
driver supports (NVML), the CUDA runtime torch was built with (torch.version.cuda),
the nvcc FlashInfer's JIT calls, and the CUDA FlashInfer's own version gates read
(flashinfer/jit/cpp_ext.py get_cuda_version: that nvcc, else torch.version.cuda). The
FlashInfer wheel itself records no CUDA version (flashinfer/_build_meta.py holds only
version and git commit); a flashinfer-jit-cache wheel does, as a ``+cuXYZ`` suffix.
"""

from __future__ import annotations

import re
from typing import Any

from fibench.audit.compat.arch import parse_cc, parse_version
from fibench.audit.compat.model import CudaVersions, VersionFlag
from fibench.env import EnvSnapshot

NOT_REPORTED = "not reported"

# Minimum CUDA for the arch-specific ("a"/"f") targets FlashInfer compiles for, from
# flashinfer/utils.py is_sm90a_supported / is_sm100a_supported / is_sm110a_supported /
# is_sm120a_supported / is_sm121a_supported (checked against torch.version.cuda there).
ARCH_MIN_CUDA: dict[tuple[int, int], tuple[int, int]] = {
    (9, 0): (12, 3), (10, 0): (12, 8), (10, 3): (12, 9), (11, 0): (13, 0), (12, 0): (12, 8), (12, 1): (12, 9),
}
# FP8 block-scale MoE needs nvcc >= 12.8 (flashinfer/fused_moe/core.py cutlass_fused_moe,
# is_cuda_version_at_least("12.8")); the fused_moe_90 module drops it below that.
FP8_BLOCK_MOE_MIN_CUDA = (12, 8)


def cuda_versions(env: EnvSnapshot, facts: dict[str, Any], packages: dict[str, str | None]) -> CudaVersions:
    """Assemble the matrix from an env snapshot, FlashInfer's facts and package versions.

    Args:
        env: :func:`fibench.env.collect_env` of this machine.
        facts: :func:`fibench.audit.compat.facts.collect_facts` output (may hold only
            ``error``).
        packages: installed versions of ``flashinfer-jit-cache`` and ``flashinfer-cubin``.
    """
    v = CudaVersions(
        driver_version=env.driver_version,
        driver_cuda=env.driver_cuda_version,
        torch_cuda=env.torch_cuda_runtime,
        nvcc=env.nvcc_version,
        nvcc_path=env.nvcc_path,
        flashinfer_version=facts.get("flashinfer_version") or env.flashinfer_version,
        flashinfer_cuda=_short(facts.get("cuda_reported")),
        jit_cache_package=packages.get("flashinfer-jit-cache"),
        cubin_package=packages.get("flashinfer-cubin"),
        compute_capability=env.compute_capability,
    )
    v.sources = {
        "driver_cuda": "NVML nvmlSystemGetCudaDriverVersion",
        "torch_cuda": "torch.version.cuda",
        "nvcc": "nvcc --version of $CUDA_HOME/bin/nvcc (flashinfer/jit/cpp_ext.py get_cuda_path), else PATH",
        "flashinfer_cuda": facts.get("cuda_reported_by", "flashinfer.jit.cpp_ext.get_cuda_version"),
        "flashinfer_wheel_cuda": "flashinfer/_build_meta.py has no CUDA field: " + NOT_REPORTED,
        "jit_cache_package": "importlib.metadata version of flashinfer-jit-cache (+cuXYZ suffix)",
    }
    for key in ("driver_version", "driver_cuda_version", "nvcc_version", "torch_version", "gpu_name"):
        if key in env.notes:
            v.notes[key] = env.notes[key]
    if v.flashinfer_cuda is None:
        v.notes["flashinfer_cuda"] = facts.get("error") or facts.get("notes", {}).get("cuda_reported", NOT_REPORTED)
    return v


def _short(text: Any) -> str | None:
    ver = parse_version(text)
    return f"{ver[0]}.{ver[1]}" if ver else None


def jit_cache_cuda(package_version: str | None) -> tuple[int, int] | None:
    """``0.6.13+cu129`` -> (12, 9); ``+cu130`` -> (13, 0); None without a suffix."""
    if not package_version:
        return None
    match = re.search(r"cu(\d+?)(\d)$", package_version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def version_flags(v: CudaVersions) -> list[VersionFlag]:
    """Mismatches between the four CUDA versions and the GPU, most severe first.

    Rules and why they matter:
      * torch CUDA newer than the driver: torch cannot initialise CUDA (error).
      * nvcc major newer than the driver: JIT-compiled modules will not load (error);
        same major but newer minor: SASS loads under minor-version compatibility, PTX
        does not (warning).
      * torch CUDA major != nvcc major: JIT modules link a different CUDA runtime than
        torch in the same process (error); minor differs (info).
      * FlashInfer's version gates read nvcc (or torch) while its arch gates read
        torch.version.cuda; different values can enable a path one gate denies (info).
      * nvcc missing: nothing can be JIT-compiled; only AOT/cached modules work.
      * the GPU's arch target needs a newer CUDA than torch or nvcc provide.
      * flashinfer-jit-cache built for another CUDA major than torch.
      * SM 9.0 with nvcc < 12.8: FP8 block-scale MoE is compiled out.
    """
    flags: list[VersionFlag] = []
    driver, torch_cu, nvcc = parse_version(v.driver_cuda), parse_version(v.torch_cuda), parse_version(v.nvcc)
    fi_cu, cc = parse_version(v.flashinfer_cuda), parse_cc(v.compute_capability)
    if torch_cu is None:
        flags.append(VersionFlag("error", "torch-no-cuda",
                                 "torch has no CUDA runtime (CPU-only build): no kernel can run"))
    if driver and torch_cu and torch_cu > driver:
        flags.append(VersionFlag("error", "torch-newer-than-driver",
                                 f"torch CUDA {v.torch_cuda} is newer than the driver supports ({v.driver_cuda}); "
                                 "CUDA initialisation fails unless forward-compat libraries are installed"))
    if nvcc is None:
        flags.append(VersionFlag("warning", "nvcc-missing",
                                 "no nvcc found for FlashInfer's JIT: only AOT or already cached modules can load"))
    if driver and nvcc and nvcc[0] > driver[0]:
        flags.append(VersionFlag("error", "nvcc-major-newer-than-driver",
                                 f"nvcc {v.nvcc} targets a newer CUDA major than the driver supports "
                                 f"({v.driver_cuda}): JIT-compiled modules will not load"))
    elif driver and nvcc and nvcc > driver:
        flags.append(VersionFlag("warning", "nvcc-newer-than-driver",
                                 f"nvcc {v.nvcc} is newer than the driver's CUDA {v.driver_cuda}: SASS modules load "
                                 "under minor-version compatibility, PTX-only code does not"))
    if torch_cu and nvcc and torch_cu[0] != nvcc[0]:
        flags.append(VersionFlag("error", "torch-nvcc-major-mismatch",
                                 f"torch CUDA {v.torch_cuda} and nvcc {v.nvcc} differ in major version: JIT modules "
                                 "link a different CUDA runtime than torch in the same process"))
    elif torch_cu and nvcc and torch_cu != nvcc:
        flags.append(VersionFlag("info", "torch-nvcc-minor-mismatch",
                                 f"torch CUDA {v.torch_cuda} vs nvcc {v.nvcc}: same major, different minor"))
    if fi_cu and torch_cu and fi_cu != torch_cu:
        flags.append(VersionFlag("info", "flashinfer-gates-split",
                                 f"FlashInfer's CUDA version gates read {v.flashinfer_cuda} (nvcc) while its arch "
                                 f"gates read torch CUDA {v.torch_cuda} (flashinfer/utils.py is_sm*_supported)"))
    flags.extend(_arch_flags(v, cc, torch_cu, nvcc, fi_cu))
    cache_cu = jit_cache_cuda(v.jit_cache_package)
    if cache_cu and torch_cu and cache_cu[0] != torch_cu[0]:
        flags.append(VersionFlag("error", "jit-cache-cuda-mismatch",
                                 f"flashinfer-jit-cache {v.jit_cache_package} was built for CUDA "
                                 f"{cache_cu[0]}.{cache_cu[1]}, torch uses {v.torch_cuda}"))
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(flags, key=lambda f: order.get(f.severity, 3))


def _arch_flags(v: CudaVersions, cc, torch_cu, nvcc, fi_cu) -> list[VersionFlag]:
    flags: list[VersionFlag] = []
    if cc is None:
        return flags
    if cc < (7, 5):
        flags.append(VersionFlag("error", "gpu-too-old",
                                 f"SM {v.compute_capability} is below FlashInfer's minimum SM 7.5 "
                                 "(flashinfer/jit/core.py check_cuda_arch)"))
    need = ARCH_MIN_CUDA.get(cc)
    if need:
        for label, have, text in (("torch CUDA", torch_cu, v.torch_cuda), ("nvcc", nvcc, v.nvcc)):
            if have and have < need:
                flags.append(VersionFlag("error", "cuda-too-old-for-arch",
                                         f"SM {v.compute_capability} arch-specific kernels need CUDA >= "
                                         f"{need[0]}.{need[1]}; {label} is {text}"))
    gate_cu = fi_cu or nvcc
    if cc == (9, 0) and gate_cu and gate_cu < FP8_BLOCK_MOE_MIN_CUDA:
        flags.append(VersionFlag("warning", "fp8-block-moe-disabled",
                                 f"FP8 block-scale MoE needs CUDA >= 12.8 at JIT time; FlashInfer sees "
                                 f"{v.flashinfer_cuda or v.nvcc} (flashinfer/fused_moe/core.py)"))
    return flags
