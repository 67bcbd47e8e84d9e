"""Check a backend's :class:`~fibench.suites.base.Needs` against this machine.

A backend that cannot run here becomes a row with status ``unsupported`` and the reason
this module returns; nothing is allocated before the check passes.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

import torch

from fibench.errors import describe_exception

from fibench.suites.base import JitNeed, Needs

JIT_POLICIES = ("auto", "always", "never")
AUTO_JIT_LIMIT_S = 300.0
"""Under ``--jit auto`` modules that typically compile in at most this many seconds are
built on first use; longer ones (the SM90 CUTLASS fused MoE, ~20+ min) need ``--jit always``."""


@dataclass
class NeedsCheck:
    """Outcome of a needs check.

    Attributes:
        reason: why the backend cannot run here, or None when it can.
        notes: facts worth a column (e.g. "JIT fused_moe_90 will compile on first call").
    """

    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def jit_module_built(need: JitNeed) -> tuple[bool, str]:
    """Whether a FlashInfer JIT module is already built (AOT or in the JIT cache).

    Uses FlashInfer's ``JitSpec.is_aot`` and ``JitSpec.jit_library_path``
    (flashinfer/jit/core.py). Building the spec object itself compiles nothing.

    Returns:
        (built, where-or-why) — the .so path when built, else the reason.
    """
    module_name, func_name = need.spec.split(":")
    try:
        spec = getattr(importlib.import_module(module_name), func_name)()
    except Exception as exc:  # flashinfer missing, API renamed, generator failure
        return False, f"cannot build JitSpec {need.spec}: {type(exc).__name__}: {exc}"
    if spec.is_aot:
        return True, str(spec.aot_path)
    if spec.jit_library_path.exists():
        return True, str(spec.jit_library_path)
    return False, f"not built (expected {spec.jit_library_path})"


def check_needs(needs: Needs, device: torch.device, jit_policy: str = "auto") -> NeedsCheck:
    """Check ``needs`` against ``device`` and the installed packages.

    Args:
        needs: what the backend declares.
        device: the device the run uses.
        jit_policy: "auto" (build modules that compile in <= AUTO_JIT_LIMIT_S),
            "always" (build anything), "never" (only prebuilt modules).

    Returns:
        A :class:`NeedsCheck`; ``reason`` is None when the backend can run.
    """
    check = NeedsCheck()
    if needs.cuda and device.type != "cuda":
        check.reason = "needs a CUDA GPU (this run is on the CPU)"
        return check
    cc = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    if needs.min_cc and cc is not None and cc < needs.min_cc:
        check.reason = (f"needs compute capability >= {needs.min_cc[0]}.{needs.min_cc[1]}, "
                        f"this GPU is {cc[0]}.{cc[1]}")
        return check
    for module in needs.modules:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            check.reason = f"python module '{module}' is not installed"
            return check
        try:
            importlib.import_module(module)
        except Exception as exc:
            check.reason = f"import {module} failed: {describe_exception(exc)}"
            return check
    for need in needs.jit:
        if need.cc is not None and cc != need.cc:
            continue
        built, where = jit_module_built(need)
        if built:
            check.notes.append(f"JIT {need.name} prebuilt")
            continue
        if where.startswith("cannot"):
            check.reason = where
            return check
        if jit_policy == "never":
            check.reason = f"JIT module {need.name} is {where} and --jit never forbids compiling"
            return check
        if jit_policy == "auto" and need.compile_s > AUTO_JIT_LIMIT_S:
            check.reason = (f"JIT module {need.name} is {where}; compiling takes ~{need.compile_s / 60:.0f} min, "
                            "pass --jit always to build it")
            return check
        check.notes.append(f"JIT {need.name} compiled on first call")
    return check
