"""Run configuration, resolved in one place.

Precedence: built-in defaults < model preset < explicit command-line values. CLI options
default to None so an unset flag never masks the preset; :func:`resolve_run` is the only
function that merges them and validates the combination.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fibench.distributed.gpus import resolve_gpus
from fibench.distributed.group import launched_rank
from fibench.suites.collective import CollectiveSuite
from fibench.errors import UsageError
from fibench.measure.coldl2 import COLD_L2_MODES
from fibench.measure.stopping import DEFAULT_MAX_TIME_S, DEFAULT_MIN_SAMPLES, StopRule
from fibench.measure.throttle import DEFAULT_THRESHOLD_PCT, ON_THROTTLE, ThrottlePolicy
from fibench.measure.timers import AUTO, CHOICES as TIMER_CHOICES
from fibench.presets import get_preset
from fibench.suites import get_suite
from fibench.suites.base import DTYPES, Case, Suite
from fibench.suites.needs import JIT_POLICIES
from fibench.sweep.axes import axis_points, id_axes, resolve_axes
from fibench.sweep.parsing import parse_list, parse_percent, parse_sizes

DEFAULT_WARMUP = 5
DEFAULT_ITERS = 50
DEFAULT_ROUNDS = 3
"""Timing rounds per row, each over fresh input copies and a fresh graph capture
(:mod:`fibench.measure.timing`): two passes of a one-row rmsnorm on an H200 read 15%
apart, each with a +-0.05% interval, which one pass cannot see."""
DEFAULT_PROFILE_CALLS = 10
MAX_SEED = (1 << 64) - 1
"""Largest seed torch.Generator.manual_seed takes (a 64-bit unsigned integer)."""


@dataclass
class RunConfig:
    """Everything one ``fibench run`` needs, validated.

    Attributes:
        suite: the suite object; cases: expanded cases; backends: backend names in order
        (reference included); reference: reference backend; device: torch device;
        graph: time under CUDA graphs; cold_l2: requested cold-L2 mode; warmup/iters:
        warm-up replays (or calls) and timed samples; per_kernel: run the profiler pass;
        profile_calls: calls traced; jit: JIT policy; nsys: bracket timed loops for nsys;
        out_dir: run folder; baseline: backend for speedups in the report; timer: the
        ``--timer`` family (events | cupti | auto | wall); stop: when each row stops
        sampling; rounds: timing rounds per row (``--rounds``), the stopping rule shared
        out over them; throttle: throttling threshold and policy; shape: the
        model and every axis (a list for swept axes with several values) plus the preset's
        fixed parameters; command: the command line that reproduces the run; notice: a
        default the user should know about (e.g. the CPU preset), shown on the console and
        in the report; parity_against: backend every other backend is also compared with
        (run first in each case); save_tensors: store folder for inputs and outputs
        (:mod:`fibench.parity.store`); inputs_from: a store whose inputs replace the
        generated ones, checked before the run (its manifest in ``saved_inputs``).
        workers: one device per worker of a multi-GPU run (``--gpus``; empty:
        one process), each worker's rank in ``rank`` (None outside a worker); options: the
        arguments of :func:`resolve_run` a worker resolves its own configuration from;
        allow_mixed_gpus: several GPU models were allowed; gpu_note: what the report says
        about the GPUs of a multi-GPU run.
        isolate: run every case x backend in its own process
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
    parity_against: str | None = None
    save_tensors: Path | None = None
    inputs_from: Path | None = None
    saved_inputs: Any = None  # fibench.parity.store.Manifest of inputs_from
    timer: str = "events"
    stop: StopRule = field(default_factory=lambda: StopRule.fixed(DEFAULT_ITERS))
    rounds: int = DEFAULT_ROUNDS
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    workers: tuple[str, ...] = ()
    rank: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    allow_mixed_gpus: bool = False
    gpu_note: str = ""
    isolate: bool = False
    resume: bool = False

    def to_record(self) -> dict[str, Any]:
        """What run.json records about the run's configuration (the session adds when it
        started and finished)."""
        cases = self.cases
        record = {
            "suite": self.suite.name, "size_name": self.suite.size_name, "sizes": sorted({c.size for c in cases}),
            "ops": list(dict.fromkeys(c.op for c in cases)), "backends": self.backends,
            "reference": self.reference, "baseline": self.baseline, "dtype": cases[0].dtype if cases else "",
            "device": str(self.device), "graph": self.graph, "cold_l2": self.cold_l2, "warmup": self.warmup,
            "iters": self.iters, "per_kernel": self.per_kernel, "profile_calls": self.profile_calls, "jit": self.jit,
            "nsys": self.nsys, "shape": self.shape, "command": self.command, "notice": self.notice,
            "parity_against": self.parity_against, "save_tensors": str(self.save_tensors or "") or None,
            "inputs_from": str(self.inputs_from or "") or None,
            "timer": self.timer, "stop": dataclasses.asdict(self.stop), "stop_rule": self.stop.describe(),
            "rounds": self.rounds,
            "throttle": dataclasses.asdict(self.throttle), "isolate": self.isolate,
            "seed": cases[0].seed if cases else 0,
        }
        if self.workers:
            record.update(workers=list(self.workers), gpu_note=self.gpu_note)
        return record


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
    cases = []
    for op in ops:
        for size in sizes:
            for point in axis_points(suite.axes, values):
                params = {**fixed, **point}
                suite.check_point(params)
                cases.append(Case(suite.name, op, size, dtype, params, seed, id_axes(suite.axes, point)))
    shape = {**fixed, **{k: (v[0] if len(v) == 1 else v) for k, v in values.items()}}
    return cases, shape


def resolve_run(suite: str, sizes: str, *, model: str | None = None, backends: str | None = None,
                reference: str | None = None, ops: str | None = None, dtype: str = "bf16",
                warmup: int | None = None, iters: int | None = None, graph: bool = True,
                cold_l2: str | None = None, device: str | None = None, seed: int = 0,
                out: Path | None = None, per_kernel: bool | None = None, profile_calls: int | None = None,
                jit: str = "auto", nsys: bool = False, baseline: str | None = None,
                axes: dict[str, Any] | None = None, command: str = "", parity_against: str | None = None,
                save_tensors: Path | None = None, inputs_from: Path | None = None, timer: str | None = None,
                target_noise: str | float | None = None, max_time: float | None = None,
                min_samples: int | None = None, on_throttle: str = "flag",
                throttle_threshold: str | float | None = None, gpus: str | None = None,
                allow_mixed_gpus: bool = False, cpu_workers: int | None = None, isolate: bool = False,
                resume: bool = False, rounds: int | None = None) -> RunConfig:
    """Merge defaults, the preset and explicit options into a validated :class:`RunConfig`.

    Precedence: built-in defaults < the suite's defaults (cold L2, baseline) < model preset <
    explicit values (``axes`` holds the suite's own options; None means "not given").
    ``gpus`` (``--gpus``: ``N``, ``0,1`` or ``all``) makes a multi-GPU run, one worker per GPU
    (see :mod:`fibench.distributed`); a collective suite (allreduce) needs it or a torchrun launch.
    ``cpu_workers`` makes the same run with N workers on the CPU (gloo): the CPU path that
    tests and CI use.

    Raises:
        UsageError: any unknown name, malformed value or contradictory combination, GPUs
            of several models without ``allow_mixed_gpus``.
    """
    options = {k: v for k, v in locals().items()
               if k not in ("device", "out", "gpus", "allow_mixed_gpus", "cpu_workers")}
    s = get_suite(suite)
    cold_l2 = cold_l2 or s.default_cold_l2
    size_list = parse_sizes(sizes)
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    if cold_l2 not in COLD_L2_MODES:
        raise UsageError(f"--cold-l2 must be one of {', '.join(COLD_L2_MODES)}, got '{cold_l2}'")
    if jit not in JIT_POLICIES:
        raise UsageError(f"--jit must be one of {', '.join(JIT_POLICIES)}, got '{jit}'")
    for name, value, low in (("--warmup", warmup, 0), ("--iters", iters, 1), ("--profile-calls", profile_calls, 1),
                             ("--rounds", rounds, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED} (2**64 - 1, what torch.manual_seed takes), got {seed}")
    if model is not None and not model.strip():
        raise UsageError("--model is empty; give a preset name (see `fibench list`) or leave the option out")
    if resume and out is None:
        raise UsageError("--resume needs --out: the run folder to continue")
    workers: tuple[str, ...] = ()
    gpu_note = ""
    if gpus is not None or cpu_workers is not None:
        if device is not None:
            raise UsageError("--gpus and --device are exclusive (--gpus picks the devices)")
        if gpus is not None and cpu_workers is not None:
            raise UsageError("give GPUs or CPU workers, not both")
        if gpus is not None:
            indices, gpu_note = resolve_gpus(gpus, allow_mixed=allow_mixed_gpus)
            workers = tuple(f"cuda:{i}" for i in indices)
        elif cpu_workers < 1:
            raise UsageError(f"cpu_workers must be >= 1, got {cpu_workers}")
        else:
            workers, gpu_note = ("cpu",) * cpu_workers, f"{cpu_workers} CPU workers (gloo; no GPU)"
        device = workers[0]
    elif isinstance(s, CollectiveSuite) and launched_rank() is None:
        raise UsageError(f"{s.name} is a collective suite: pass --gpus N (N GPUs of this host, e.g. --gpus 2) "
                         "or launch fibench under torchrun")
    if workers and (isolate or resume):
        raise UsageError("--isolate and --resume apply to one process; they cannot be combined with --gpus")
    if isolate and (parity_against or save_tensors or inputs_from):
        raise UsageError("--isolate runs each row in a fresh process that regenerates its inputs; it cannot be "
                         "combined with --parity-against, --save-tensors or --inputs-from")
    dev = _device(device)
    timer_family = _timer_family(timer, dev)
    stop = _stop_rule(iters, target_noise, max_time, min_samples)
    if on_throttle not in ON_THROTTLE:
        raise UsageError(f"--on-throttle must be one of {', '.join(ON_THROTTLE)}, got '{on_throttle}'")
    throttle = ThrottlePolicy(
        threshold_pct=DEFAULT_THRESHOLD_PCT if throttle_threshold is None
        else parse_percent(throttle_threshold, "--throttle-threshold"), on_throttle=on_throttle)
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
    for name in [*names, ref] + ([baseline] if baseline else []) + ([parity_against] if parity_against else []):
        if name not in s.backends:
            raise UsageError(f"unknown backend '{name}' for suite {s.name}; known: {', '.join(s.backends)}")
    if len(set(names)) != len(names):
        raise UsageError("--backends lists a backend twice")
    if ref not in names:
        names.insert(0, ref)
    if baseline and baseline not in names:
        raise UsageError(f"--baseline {baseline} is not among the backends run")
    if parity_against:  # first in every case, so its outputs exist when the others are compared with it
        names = [parity_against] + [n for n in names if n != parity_against]
    notice = ""
    if model is None and dev.type == "cpu" and s.cpu_default_model:
        model = s.cpu_default_model
        notice = (f"no CUDA GPU: using the '{model}' preset on the CPU (CPU-capable backends only; "
                  "wall-clock CPU timings, not GPU kernel speed)")
    cases, resolved = build_cases(s, size_list, dtype, seed, chosen_ops, model,
                                  {k: v for k, v in (axes or {}).items() if v is not None})
    saved_inputs = None
    if save_tensors is not None:
        from fibench.parity.store import check_new_store

        check_new_store(save_tensors)
        if inputs_from is not None and Path(save_tensors).resolve() == Path(inputs_from).resolve():
            raise UsageError("--save-tensors and --inputs-from name the same folder")
    if inputs_from is not None:
        from fibench.parity.store import check_saved_inputs

        saved_inputs = check_saved_inputs(inputs_from, s.name, cases)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RunConfig(
        suite=s, cases=cases, backends=names, reference=ref, device=dev, graph=graph,
        cold_l2=cold_l2, warmup=DEFAULT_WARMUP if warmup is None else warmup,
        iters=DEFAULT_ITERS if iters is None else iters,
        per_kernel=(dev.type == "cuda") if per_kernel is None else per_kernel,
        profile_calls=profile_calls or DEFAULT_PROFILE_CALLS, jit=jit, nsys=nsys,
        out_dir=out or Path("fibench-results") / f"{s.name}-{stamp}",
        baseline=baseline or (s.default_baseline if s.default_baseline in names else None) or ref,
        shape=resolved, command=command, notice=notice, workers=workers, options=options,
        allow_mixed_gpus=allow_mixed_gpus, gpu_note=gpu_note,
        parity_against=parity_against, save_tensors=save_tensors, inputs_from=inputs_from,
        saved_inputs=saved_inputs,
        timer=timer_family, stop=stop, throttle=throttle, rounds=DEFAULT_ROUNDS if rounds is None else rounds,
        isolate=isolate, resume=resume,
    )


def _timer_family(timer: str | None, dev: torch.device) -> str:
    """``--timer`` resolved for the device (None: events on CUDA, wall on the CPU).

    Raises:
        UsageError: unknown timer, a GPU timer on the CPU (or wall on a GPU), or
            ``cupti`` where CUPTI cannot be used (the reason in one line).
    """
    if timer is None:
        return "events" if dev.type == "cuda" else "wall"
    if timer not in TIMER_CHOICES:
        raise UsageError(f"--timer must be one of {', '.join(TIMER_CHOICES)}, got '{timer}'")
    if dev.type == "cpu" and timer not in ("wall", AUTO):
        raise UsageError(f"--timer {timer} needs a CUDA GPU (CPU runs are timed with the wall clock)")
    if dev.type == "cuda" and timer == "wall":
        raise UsageError("--timer wall times CPU runs only (GPU calls return at launch)")
    if timer == "cupti":
        from fibench.measure.timers.cupti import cupti_unavailable_reason

        reason = cupti_unavailable_reason(dev)
        if reason:
            raise UsageError(f"--timer cupti cannot be used: {reason}")
    return timer


def _stop_rule(iters: int | None, target_noise: str | float | None, max_time: float | None,
               min_samples: int | None) -> StopRule:
    """Fixed ``--iters`` or adaptive ``--target-noise`` (with ``--min-samples``/``--max-time``).

    Raises:
        UsageError: the options of both modes mixed, or an out-of-range value.
    """
    if target_noise is None:
        if min_samples is not None or max_time is not None:
            raise UsageError("--min-samples and --max-time apply with --target-noise (adaptive stopping)")
        return StopRule.fixed(DEFAULT_ITERS if iters is None else iters)
    if iters is not None:
        raise UsageError("--iters (fixed sample count) and --target-noise (adaptive) exclude each other")
    if min_samples is not None and min_samples < 1:
        raise UsageError(f"--min-samples must be >= 1, got {min_samples}")
    if max_time is not None and not max_time > 0:
        raise UsageError(f"--max-time must be > 0 seconds, got {max_time}")
    return StopRule(min_samples=DEFAULT_MIN_SAMPLES if min_samples is None else min_samples,
                    target_pct=parse_percent(target_noise, "--target-noise", high=50.0),
                    max_time_s=DEFAULT_MAX_TIME_S if max_time is None else max_time)
