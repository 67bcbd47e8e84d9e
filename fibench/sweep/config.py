"""Run configuration, resolved in one place.

Precedence: built-in defaults < model preset < explicit command-line values. CLI options
default to None so an unset flag never masks the preset; :func:`resolve_run` is the only
function that merges them and validates the combination.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fibench.errors import UsageError
from fibench.measure.coldl2 import COLD_L2_MODES
from fibench.presets import get_preset
from fibench.suites import get_suite
from fibench.suites.base import DTYPES, Case, Suite
from fibench.suites.needs import JIT_POLICIES
from fibench.sweep.axes import axis_points, resolve_axes, swept_names

DEFAULT_WARMUP = 5
DEFAULT_ITERS = 50
DEFAULT_PROFILE_CALLS = 10
MAX_SIZE = 1 << 24
MAX_SEED = (1 << 64) - 1
"""Largest seed torch.Generator.manual_seed takes (a 64-bit unsigned integer)."""


def parse_sizes(text: str) -> list[int]:
    """Parse ``--sizes``: comma-separated positive integers, ``k`` = x1024 (``4k`` = 4096).

    Raises:
        UsageError: empty, malformed, non-positive, too large or repeated sizes.
    """
    if not text or not text.strip():
        raise UsageError("--sizes is empty; give comma-separated positive integers, e.g. 1,16,128")
    sizes: list[int] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        m = re.fullmatch(r"(\d+)(k?)", item)
        if not m:
            raise UsageError(f"--sizes: '{raw.strip()}' is not a positive integer (e.g. 1,16,128 or 4k)")
        value = int(m.group(1)) * (1024 if m.group(2) else 1)
        if value <= 0:
            raise UsageError(f"--sizes: {value} is not positive")
        if value > MAX_SIZE:
            raise UsageError(f"--sizes: {value} exceeds the limit {MAX_SIZE}")
        if value in sizes:
            raise UsageError(f"--sizes: {value} given twice")
        sizes.append(value)
    return sizes


def parse_list(text: str | None, option: str) -> list[str] | None:
    """Split a comma-separated option value; None stays None.

    Raises:
        UsageError: an empty item (e.g. ``a,,b``).
    """
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise UsageError(f"{option}: empty item in '{text}'")
    return items


@dataclass
class RunConfig:
    """Everything one ``fibench run`` needs, validated.

    Attributes:
        suite: the suite object; cases: expanded cases; backends: backend names in order
        (reference included); reference: reference backend; device: torch device;
        graph: time under CUDA graphs; cold_l2: requested cold-L2 mode; warmup/iters:
        warm-up replays (or calls) and timed samples; per_kernel: run the profiler pass;
        profile_calls: calls traced; jit: JIT policy; nsys: bracket timed loops for nsys;
        out_dir: run folder; baseline: backend for speedups in the report; shape: the
        model and every axis (a list for swept axes with several values) plus the preset's
        fixed parameters; command: the command line that reproduces the run; notice: a
        default the user should know about (e.g. the CPU preset), shown on the console and
        in the report; isolate: run every case x backend in its own process
        (:mod:`fibench.sweep.isolate`); resume: continue the run already in ``out_dir``
        (:mod:`fibench.sweep.resume`).
    """

    suite: Suite
    cases: list[Case]
    backends: list[str]
    reference: str
    device: torch.device
    graph: bool
    cold_l2: str
    warmup: int
    iters: int
    per_kernel: bool
    profile_calls: int
    jit: str
    nsys: bool
    out_dir: Path
    baseline: str
    shape: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    notice: str = ""
    isolate: bool = False
    resume: bool = False


def _device(requested: str | None) -> torch.device:
    cuda = torch.cuda.is_available()
    if requested is None:
        return torch.device("cuda" if cuda else "cpu")
    if requested not in ("cuda", "cpu") and not re.fullmatch(r"cuda:\d+", requested):
        raise UsageError(f"--device must be cuda, cuda:N or cpu, got '{requested}'")
    if requested.startswith("cuda"):
        if not cuda:
            raise UsageError("--device cuda requested but no CUDA GPU is available "
                             f"(torch {torch.__version__}, CUDA runtime {torch.version.cuda})")
        dev = torch.device(requested)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"--device {requested}: only {torch.cuda.device_count()} GPU(s)")
        return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def build_cases(suite: Suite, sizes: list[int], dtype: str, seed: int, ops: list[str],
                model: str | None, axes: dict[str, Any]) -> tuple[list[Case], dict[str, Any]]:
    """Expand ops x sizes x the product of the suite's swept axes into cases.

    Args:
        model: preset name (None: the suite's default); axes: axis name -> command-line
            text, typed value, list of values, or None (see
            :func:`fibench.sweep.axes.resolve_axes`).

    Returns:
        (cases, shape) where shape holds the model, the preset's fixed parameters and each
        axis (its single value, or the list of values when swept over several).

    Raises:
        UsageError: unknown or unsuitable preset, bad axis values, contradictory values.
    """
    preset = get_preset(suite.default_model if model is None else model)
    suite.check_preset(preset)
    values = resolve_axes(suite.axes, axes, preset)
    fixed = {"model": preset.name, **suite.preset_params(preset)}
    swept = swept_names(suite.axes)
    cases = []
    for op in ops:
        for size in sizes:
            for point in axis_points(suite.axes, values):
                params = {**fixed, **point}
                suite.check_point(params)
                cases.append(Case(suite.name, op, size, dtype, params, seed, swept))
    shape = {**fixed, **{k: (v[0] if len(v) == 1 else v) for k, v in values.items()}}
    return cases, shape


def resolve_run(suite: str, sizes: str, *, model: str | None = None, backends: str | None = None,
                reference: str | None = None, ops: str | None = None, dtype: str = "bf16",
                warmup: int | None = None, iters: int | None = None, graph: bool = True,
                cold_l2: str = "rotate", device: str | None = None, seed: int = 0,
                out: Path | None = None, per_kernel: bool | None = None, profile_calls: int | None = None,
                jit: str = "auto", nsys: bool = False, baseline: str | None = None,
                axes: dict[str, Any] | None = None, command: str = "", isolate: bool = False,
                resume: bool = False) -> RunConfig:
    """Merge defaults, the preset and explicit options into a validated :class:`RunConfig`.

    Precedence: built-in defaults < model preset < explicit values (``axes`` holds the
    suite's own options; None means "not given").

    Raises:
        UsageError: any unknown name, malformed value or contradictory combination.
    """
    s = get_suite(suite)
    size_list = parse_sizes(sizes)
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if cold_l2 not in COLD_L2_MODES:
        raise UsageError(f"--cold-l2 must be one of {', '.join(COLD_L2_MODES)}, got '{cold_l2}'")
    if jit not in JIT_POLICIES:
        raise UsageError(f"--jit must be one of {', '.join(JIT_POLICIES)}, got '{jit}'")
    for name, value, low in (("--warmup", warmup, 0), ("--iters", iters, 1), ("--profile-calls", profile_calls, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED} (2**64 - 1, what torch.manual_seed takes), got {seed}")
    if model is not None and not model.strip():
        raise UsageError("--model is empty; give a preset name (see `fibench list`) or leave the option out")
    if resume and out is None:
        raise UsageError("--resume needs --out: the run folder to continue")
    dev = _device(device)
    if dev.type == "cpu" and per_kernel:
        raise UsageError("--per-kernel needs a CUDA GPU (kernel traces come from CUPTI)")
    if dev.type == "cpu" and nsys:
        raise UsageError("--nsys needs a CUDA GPU")
    chosen_ops = parse_list(ops, "--op") or list(s.ops)
    unknown_ops = [o for o in chosen_ops if o not in s.ops]
    if unknown_ops:
        raise UsageError(f"unknown op {unknown_ops[0]!r} for suite {s.name}; known: {', '.join(s.ops)}")
    ref = reference or s.default_reference
    names = parse_list(backends, "--backends") or list(s.backends)
    for name in [*names, ref] + ([baseline] if baseline else []):
        if name not in s.backends:
            raise UsageError(f"unknown backend '{name}' for suite {s.name}; known: {', '.join(s.backends)}")
    if len(set(names)) != len(names):
        raise UsageError("--backends lists a backend twice")
    if ref not in names:
        names.insert(0, ref)
    if baseline and baseline not in names:
        raise UsageError(f"--baseline {baseline} is not among the backends run")
    notice = ""
    if model is None and dev.type == "cpu" and s.cpu_default_model:
        model = s.cpu_default_model
        notice = (f"no CUDA GPU: using the '{model}' preset on the CPU (CPU-capable backends only; "
                  "wall-clock CPU timings, not GPU kernel speed)")
    cases, resolved = build_cases(s, size_list, dtype, seed, chosen_ops, model,
                                  {k: v for k, v in (axes or {}).items() if v is not None})
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RunConfig(
        suite=s, cases=cases, backends=names, reference=ref, device=dev, graph=graph,
        cold_l2=cold_l2, warmup=DEFAULT_WARMUP if warmup is None else warmup,
        iters=DEFAULT_ITERS if iters is None else iters,
        per_kernel=(dev.type == "cuda") if per_kernel is None else per_kernel,
        profile_calls=profile_calls or DEFAULT_PROFILE_CALLS, jit=jit, nsys=nsys,
        out_dir=out or Path("fibench-results") / f"{s.name}-{stamp}",
        baseline=baseline or ref, shape=resolved, command=command, notice=notice, isolate=isolate,
        resume=resume,
    )
