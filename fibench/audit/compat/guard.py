"""Inside a probe subprocess: know whether FlashInfer JIT modules exist without
compiling them, and stop any compile that --build did not allow.

Facts from FlashInfer 0.6.13 flashinfer/jit/core.py: a ``JitSpec`` named N loads
``<FLASHINFER_AOT_DIR>/N/N.so`` when it exists (``is_aot``, ``aot_path``), otherwise it
runs ninja in ``<FLASHINFER_JIT_DIR>/N`` and loads ``N.so`` from there
(``jit_library_path``); every module getter goes through ``JitSpec.build_and_load``.
The directories come from flashinfer/jit/env.py (the JIT dir depends on the FlashInfer
version and the compute capabilities of the visible GPUs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fibench.audit.compat.model import ModuleUse


COMPILING_NOTE = "fibench-compat: compiling JIT module "


class ModuleNotBuilt(Exception):
    """A JIT module would have to be compiled and --build was not given."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        super().__init__("not compiled yet: " + ", ".join(self.names))


def module_dirs() -> tuple[Path, Path]:
    """(AOT dir, JIT cache dir) FlashInfer uses in this process."""
    from flashinfer.jit import env as jit_env  # type: ignore

    return Path(jit_env.FLASHINFER_AOT_DIR), Path(jit_env.FLASHINFER_JIT_DIR)


def module_state(name: str, dirs: tuple[Path, Path] | None = None) -> str:
    """Where module ``name`` would load from: ``aot``, ``jit-cache`` or ``missing``.

    Mirrors ``JitSpec.aot_path`` / ``jit_library_path`` by name, so no JitSpec needs to
    be built (some gen_* functions write sources or download cubins).
    """
    aot_dir, jit_dir = dirs or module_dirs()
    if (aot_dir / name / f"{name}.so").exists():
        return "aot"
    if (jit_dir / name / f"{name}.so").exists():
        return "jit-cache"
    return "missing"


def install_guard(allow_build: bool, uses: list[ModuleUse], spec_cls: Any = None) -> None:
    """Patch ``JitSpec.build_and_load`` so every module load is recorded in ``uses``.

    Without ``allow_build`` a module with neither an AOT nor a JIT-cache .so raises
    :class:`ModuleNotBuilt` instead of compiling, and a cached .so is loaded directly
    (ninja is not run, so nothing can be recompiled). With ``allow_build`` FlashInfer's
    own method runs (compiling when needed) and the module is recorded as ``compiled``
    when it had no .so before.

    Args:
        allow_build: --build was given.
        uses: list the guard appends to (one :class:`ModuleUse` per load).
        spec_cls: the class to patch; FlashInfer's ``JitSpec`` when None (tests pass a
            stand-in with ``name``, ``aot_path``, ``jit_library_path`` and ``load``).

    Raises:
        RuntimeError: the installed FlashInfer's JitSpec lacks the attributes relied on
            (so "not built" could not be told apart from "built"); the probe then fails
            rather than compile silently.
    """
    if spec_cls is None:
        from flashinfer.jit.core import JitSpec as spec_cls  # type: ignore
    for attr in ("aot_path", "jit_library_path", "load", "build_and_load"):
        if not hasattr(spec_cls, attr):
            raise RuntimeError(f"this FlashInfer's JitSpec has no {attr!r}; cannot tell built from unbuilt modules")
    original = spec_cls.build_and_load

    def guarded(self: Any) -> Any:
        if Path(self.aot_path).exists():
            uses.append(ModuleUse(self.name, "aot"))
            return original(self)
        cached = Path(self.jit_library_path).exists()
        if not allow_build:
            if not cached:
                uses.append(ModuleUse(self.name, "missing"))
                raise ModuleNotBuilt([self.name])
            uses.append(ModuleUse(self.name, "jit-cache"))
            return self.load(self.jit_library_path)
        if not cached:
            print(f"{COMPILING_NOTE}{self.name}", file=sys.stderr, flush=True)
        result = original(self)
        uses.append(ModuleUse(self.name, "jit-cache" if cached else "compiled"))
        return result

    spec_cls.build_and_load = guarded
