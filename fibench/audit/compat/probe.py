"""Probe subprocess entry point (``python -m fibench.audit.compat.probe``).

    python -m fibench.audit.compat.probe run NAME [--build] [--device-index N] [--max-compile-s S]
    python -m fibench.audit.compat.probe facts

``run`` executes one catalog probe and prints one line ``FIBENCH_COMPAT_RESULT {json}``
(a :class:`ProbeResult`) on stdout; ``facts`` prints ``FIBENCH_COMPAT_FACTS {json}``
with what the FlashInfer install says about itself. The parent never imports torch or
flashinfer; a crash or hang here only costs this one row.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from fibench.audit.compat.catalog import CALLS_PACKAGE, Probe, get_probe
from fibench.audit.compat.categorize import categorize, first_error_line, tail
from fibench.audit.compat.facts import collect_facts
from fibench.audit.compat.guard import ModuleNotBuilt, install_guard, module_state
from fibench.audit.compat.model import Category, ModuleUse, ProbeResult, Status
from fibench.audit.compat.runner import FACTS_MARKER, RESULT_MARKER


@dataclass
class ProbeContext:
    """What a call function gets: the CUDA device and whether compiling is allowed."""

    device: Any
    build: bool


def resolve(target: str) -> Callable[..., Any]:
    """``"attention:decode"`` -> ``fibench.audit.compat.calls_attention.decode``."""
    module, func = target.split(":")
    return getattr(importlib.import_module(f"{CALLS_PACKAGE}.calls_{module}"), func)


def _failure(probe: Probe, exc: BaseException, uses: list[ModuleUse], t0: float) -> ProbeResult:
    text = f"{type(exc).__name__}: {exc}"
    category = Category.WRONG_RESULT if type(exc).__name__ == "CheckFailed" else categorize(text)
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    print(trace, file=sys.stderr, flush=True)
    return ProbeResult(probe.name, probe.family, Status.FAILS, first_error_line(text, category), category,
                       modules=uses, elapsed_s=time.monotonic() - t0, log_tail=tail(trace, lines=20))


def _needs(probe: Probe) -> list[ModuleUse]:
    if not probe.modules:
        return []
    names = resolve(probe.modules)(**probe.kwargs)
    return [ModuleUse(n, module_state(n)) for n in names]


def not_built_reason(probe: Probe, missing: list[str], build: bool, max_compile_s: float) -> str | None:
    """Why ``probe`` must stop as NOT_BUILT before calling, or None to go ahead.

    Missing modules stop it without --build; with --build they stop it only when the
    probe's cold-compile estimate exceeds its timeout (``max_compile_s``, seconds).
    """
    if not missing:
        return None
    names = ", ".join(missing)
    if not build:
        return f"JIT module(s) not compiled yet: {names} (rerun with --build to compile)"
    if probe.compile_estimate_s > max_compile_s:
        return (f"JIT module(s) not compiled yet: {names}; a cold compile takes ~{probe.compile_estimate_s / 60:.0f} "
                f"min on 16 cores, more than the {max_compile_s:.0f} s timeout "
                f"(rerun with --build --timeout-for {probe.name}={int(probe.compile_estimate_s * 2)})")
    return None


def merge_modules(declared: list[ModuleUse], uses: list[ModuleUse]) -> list[ModuleUse]:
    """Declared modules in order, each replaced by what the guard saw load, then any
    module the call loaded that was not declared."""
    loaded = {u.name: u for u in uses}
    merged = [loaded.pop(d.name, d) for d in declared]
    return merged + list(loaded.values())


def run_probe(name: str, build: bool, device_index: int, max_compile_s: float) -> ProbeResult:
    """Run probe ``name`` here and now; every failure of the probe becomes a result.

    Raises:
        UsageError: ``name`` is not in the catalog.
    """
    probe = get_probe(name)
    t0 = time.monotonic()
    uses: list[ModuleUse] = []
    try:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("no CUDA device visible to the probe process (torch.cuda.is_available() is False)")
        device = torch.device("cuda", device_index)
        torch.cuda.set_device(device)
        import flashinfer  # noqa: F401  (import errors are a result, not a crash)

        install_guard(build, uses)
        try:
            declared = _needs(probe)
        except Exception as exc:  # names drifted in this FlashInfer: the guard still decides
            declared, note = [], f"module pre-check skipped ({type(exc).__name__}: {exc}); "
        else:
            note = ""
        why = not_built_reason(probe, [d.name for d in declared if d.state == "missing"], build, max_compile_s)
        if why:
            return ProbeResult(probe.name, probe.family, Status.NOT_BUILT, why, modules=declared,
                               elapsed_s=time.monotonic() - t0)
        detail = note + resolve(probe.call)(ProbeContext(device, build), **probe.kwargs)
    except ModuleNotBuilt as exc:
        return ProbeResult(probe.name, probe.family, Status.NOT_BUILT,
                           f"JIT module(s) not compiled yet: {', '.join(exc.names)} (rerun with --build to compile)",
                           modules=uses, elapsed_s=time.monotonic() - t0)
    except BaseException as exc:  # noqa: BLE001 - a probe must end as a result, whatever happened
        return _failure(probe, exc, uses, t0)
    modules = merge_modules(declared, uses)
    unused = [d.name for d in declared if uses and d.name not in {u.name for u in uses}]
    if unused:
        detail += f"; note: expected module(s) {', '.join(unused)} were not the ones loaded (catalog may be stale)"
    return ProbeResult(probe.name, probe.family, Status.WORKS, "", detail=detail, modules=modules,
                       elapsed_s=time.monotonic() - t0)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; prints the marker line and returns 0 (2 on bad arguments)."""
    parser = argparse.ArgumentParser(prog="python -m fibench.audit.compat.probe")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("name")
    run.add_argument("--build", action="store_true")
    run.add_argument("--device-index", type=int, default=0)
    run.add_argument("--max-compile-s", type=float, default=float("inf"))
    sub.add_parser("facts")
    args = parser.parse_args(argv)
    if args.cmd == "facts":
        print(FACTS_MARKER + json.dumps(collect_facts()), flush=True)
        return 0
    result = run_probe(args.name, args.build, args.device_index, args.max_compile_s)
    print(RESULT_MARKER + json.dumps(result.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: CUDA/cuDNN/TVM exit handlers can crash or hang after the
    # result is out, which would turn a finished probe into a timeout.
    os._exit(code)
