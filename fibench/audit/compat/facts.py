"""What the installed FlashInfer says about itself (collected inside a subprocess by
``python -m fibench.audit.compat.probe facts``): version and git commit, the CUDA
version its own version gates read, where it looks for AOT / JIT-cached modules and
cubins, how many modules are already compiled, and which optional paths (CuTe DSL,
cuDNN Python) are importable.

Sources (FlashInfer 0.6.13): flashinfer/_build_meta.py (version, git commit; no CUDA
field), flashinfer/jit/cpp_ext.py ``get_cuda_version`` (nvcc under CUDA_HOME, else
torch.version.cuda) and ``get_cuda_path``, flashinfer/jit/env.py (directories,
flashinfer-jit-cache and flashinfer-cubin packages), flashinfer/compilation_context.py
(target archs).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

ENV_VARS = (
    "CUDA_HOME", "CUDA_PATH", "FLASHINFER_CUDA_ARCH_LIST", "FLASHINFER_NVCC", "FLASHINFER_WORKSPACE_BASE",
    "FLASHINFER_DISABLE_JIT", "FLASHINFER_USE_CUDA_NORM", "FLASHINFER_CUBIN_DIR", "MAX_JOBS",
    "FLASHINFER_NVCC_THREADS",
)


def _count_modules(root: Path) -> int:
    """Number of ``<root>/<name>/<name>.so`` modules."""
    if not root.is_dir():
        return 0
    return sum(1 for d in root.iterdir() if (d / f"{d.name}.so").exists())


def _field(facts: dict[str, Any], notes: dict[str, str], key: str, getter: Callable[[], Any]) -> None:
    try:
        facts[key] = getter()
    except Exception as exc:  # every fact is optional; say why it is missing
        facts[key] = None
        notes[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _build_meta() -> dict[str, Any]:
    import flashinfer._build_meta as meta  # type: ignore

    return {k: v for k, v in vars(meta).items() if not k.startswith("_") or k in ("__version__", "__git_version__")}


def _cuda_reported() -> str:
    from flashinfer.jit import cpp_ext  # type: ignore

    return str(cpp_ext.get_cuda_version())


def _nvcc_path() -> str:
    from flashinfer.jit import cpp_ext  # type: ignore

    return os.environ.get("FLASHINFER_NVCC") or f"{cpp_ext.get_cuda_path()}/bin/nvcc"


def _dirs() -> dict[str, str]:
    from flashinfer.jit import env as jit_env  # type: ignore

    return {
        "aot_dir": str(jit_env.FLASHINFER_AOT_DIR),
        "jit_dir": str(jit_env.FLASHINFER_JIT_DIR),
        "cubin_dir": str(jit_env.FLASHINFER_CUBIN_DIR),
    }


def _target_archs() -> list[str]:
    from flashinfer.compilation_context import CompilationContext  # type: ignore

    return sorted(f"{major}.{minor}" for major, minor in CompilationContext().TARGET_CUDA_ARCHS)


def _norm_path() -> str:
    import flashinfer.norm as norm  # type: ignore

    return "cuda-jit (norm module)" if getattr(norm, "_USE_CUDA_NORM", True) else "cute-dsl (nvidia-cutlass-dsl)"


def collect_facts() -> dict[str, Any]:
    """FlashInfer self-description as a JSON-able dict; never raises.

    Keys: flashinfer_version, git_version, build_meta, cuda_reported (+ cuda_reported_by),
    nvcc_path, aot_dir, jit_dir, cubin_dir, aot_modules, jit_cached_modules,
    target_archs, norm_path, has_cudnn_python, has_cutlass_dsl, env, notes.
    """
    facts: dict[str, Any] = {}
    notes: dict[str, str] = {}
    _field(facts, notes, "flashinfer_version", lambda: __import__("flashinfer").__version__)
    if facts["flashinfer_version"] is None:
        facts["notes"] = notes
        return facts
    _field(facts, notes, "git_version", lambda: getattr(__import__("flashinfer"), "__git_version__", None))
    _field(facts, notes, "build_meta", _build_meta)
    _field(facts, notes, "cuda_reported", _cuda_reported)
    facts["cuda_reported_by"] = ("flashinfer.jit.cpp_ext.get_cuda_version "
                                 "(nvcc under CUDA_HOME, else torch.version.cuda)")
    _field(facts, notes, "nvcc_path", _nvcc_path)
    _field(facts, notes, "dirs", _dirs)
    dirs = facts.pop("dirs") or {}
    facts.update(dirs)
    facts["aot_modules"] = _count_modules(Path(dirs["aot_dir"])) if dirs else None
    facts["jit_cached_modules"] = _count_modules(Path(dirs["jit_dir"])) if dirs else None
    _field(facts, notes, "target_archs", _target_archs)
    _field(facts, notes, "norm_path", _norm_path)
    facts["has_cudnn_python"] = importlib.util.find_spec("cudnn") is not None
    facts["has_cutlass_dsl"] = importlib.util.find_spec("cutlass") is not None
    facts["env"] = {k: os.environ[k] for k in ENV_VARS if k in os.environ}
    facts["notes"] = notes
    return facts
