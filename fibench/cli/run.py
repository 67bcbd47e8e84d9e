"""``fibench run <suite>``: one Typer command per registered suite, built from data.

The options every suite shares are the parameters of :func:`_common` (typed, with help);
each suite's own options come from its :class:`~fibench.sweep.axes.Axis` declarations, so
``fibench run decode --help`` lists exactly decode's options and adding a suite never edits
this file. Values reach the library as text; parsing and validation happen there
(:func:`fibench.sweep.config.resolve_run`).
"""

from __future__ import annotations

import inspect
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from fibench.cli.common import RegistryGroup, one_line_errors
from fibench.suites import SUITES
from fibench.suites.base import Suite
from fibench.sweep.axes import Axis

run_app = typer.Typer(
    cls=RegistryGroup,
    help="Benchmark a suite: latency per size and backend, parity against the reference, "
         "per-kernel rollup. `fibench run SUITE --help` lists the suite's own options.",
    no_args_is_help=True,
)

Opt = Optional


def _common(
    sizes: Annotated[str, typer.Option("--sizes", "-s", help="Comma-separated sizes (see the suite's size unit); 4k = 4096.")],
    model: Annotated[Opt[str], typer.Option("--model", "-m", help="Model preset (see `fibench list`).")] = None,
    backends: Annotated[Opt[str], typer.Option("--backends", "-b", help="Comma-separated backends (default: all of the suite).")] = None,
    reference: Annotated[Opt[str], typer.Option(help="Backend others are compared against (default: the suite's).")] = None,
    baseline: Annotated[Opt[str], typer.Option(help="Backend speedups are computed against (default: the reference).")] = None,
    op: Annotated[Opt[str], typer.Option("--op", help="Comma-separated ops of the suite (default: all).")] = None,
    dtype: Annotated[str, typer.Option(help="bf16, fp16 or fp32.")] = "bf16",
    warmup: Annotated[Opt[int], typer.Option(help="Warm-up replays (graph) or calls before timing (default 5).")] = None,
    iters: Annotated[Opt[int], typer.Option(help="Timed samples per row (default 50), shared out over the rounds.")] = None,
    rounds: Annotated[Opt[int], typer.Option("--rounds", help="Timing rounds per row (default 3), each over fresh input copies and a fresh CUDA graph: passes over different allocations have read a microsecond kernel 15% apart; the median's interval covers the spread between rounds.")] = None,
    graph: Annotated[bool, typer.Option("--graph/--no-graph", help="Time K calls captured in a CUDA graph, or each call with events and an L2 flush.")] = True,
    cold_l2: Annotated[Opt[str], typer.Option("--cold-l2", help="rotate (input copies, graph walks all of them), flush (clear L2 before each timed call) or off (warm); default: the suite's (rotate; allreduce: off).")] = None,
    device: Annotated[Opt[str], typer.Option(help="cuda, cuda:N or cpu (default: cuda when available).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for inputs (and routing, ragged lengths).")] = 0,
    out: Annotated[Opt[Path], typer.Option("--out", "-o", help="Run folder (default fibench-results/<suite>-<time>).")] = None,
    per_kernel: Annotated[Opt[bool], typer.Option("--per-kernel/--no-per-kernel", help="Trace kernels with torch.profiler and roll them up by logical op (default: on with CUDA).")] = None,
    profile_calls: Annotated[Opt[int], typer.Option(help="Calls traced in the per-kernel pass (default 10).")] = None,
    jit: Annotated[str, typer.Option(help="auto: compile JIT modules that build in minutes; always: also the long ones (SM90 fused MoE ~20+ min); never: prebuilt only.")] = "auto",
    nsys: Annotated[bool, typer.Option("--nsys", help="Bracket each timed loop with cudaProfilerStart/Stop and an NVTX range, for `nsys profile --capture-range=cudaProfilerApi`.")] = False,
    parity_against: Annotated[Opt[str], typer.Option("--parity-against", help="Also compare every backend with this one on the same inputs (bitwise, ULP distribution, tolerance): one table per pair in report.md, pair_* columns in results.csv.")] = None,
    save_tensors: Annotated[Opt[Path], typer.Option("--save-tensors", help="Save each case's inputs and each backend's outputs as safetensors in this new folder, with a manifest (shapes, sha256, versions, GPU) for `fibench parity` and --inputs-from.")] = None,
    inputs_from: Annotated[Opt[Path], typer.Option("--inputs-from", help="Run exactly the inputs saved in this folder by --save-tensors (same cases; every sha256 checked before the run) instead of generating them.")] = None,
    timer: Annotated[Opt[str], typer.Option(help="events (CUDA events), cupti (CUPTI kernel records: no event overhead; stops if CUPTI is unusable), auto (cupti if usable, else events, said per row) or wall (CPU runs) (default: events on CUDA, wall on CPU).")] = None,
    target_noise: Annotated[Opt[str], typer.Option("--target-noise", help="Adaptive stopping: sample each round until the 95% interval of its median is within +-this percent of it, e.g. 0.5% (default: fixed --iters).")] = None,
    min_samples: Annotated[Opt[int], typer.Option("--min-samples", help="With --target-noise: samples per round at least (default 10).")] = None,
    max_time: Annotated[Opt[float], typer.Option("--max-time", help="With --target-noise: seconds of sampling per row at most, shared out over the rounds (default 10).")] = None,
    on_throttle: Annotated[str, typer.Option("--on-throttle", help="flag: mark rows whose SM clock fell below the threshold; retry: wait 5 s and measure them again (twice at most).")] = "flag",
    throttle_threshold: Annotated[Opt[str], typer.Option("--throttle-threshold", help="Percent of the GPU's maximum SM clock below which a row is throttled (default 90).")] = None,
    gpus: Annotated[Opt[str], typer.Option("--gpus", help="Several GPUs of this host, one process each, started by torch.distributed's launcher: N (the first N), indices (0,1) or all. A collective suite (allreduce) runs on all of them at once; any other suite shares its cases out, into one run folder.")] = None,
    allow_mixed_gpus: Annotated[bool, typer.Option("--allow-mixed-gpus", help="Let --gpus mix GPU models (refused by default: rows would not be comparable).")] = False,
    isolate: Annotated[bool, typer.Option("--isolate", help="Run each case x backend in its own process: a crash (device-side assert, segfault, killed process) becomes an error row and the sweep goes on. Costs a process start, CUDA context and inputs per row (isolation_s column). Without it, the sweep moves to child processes only once its CUDA context is lost.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out: rows already finished with the same settings are kept and skipped.")] = False,
) -> None:
    """Template of the shared options (never called; its signature is reused)."""


COMMON = tuple(inspect.signature(_common, eval_str=True).parameters.values())
COMMON_NAMES = frozenset(p.name for p in COMMON)


def _axis_parameter(axis: Axis) -> inspect.Parameter:
    """A keyword-only Typer option for one axis: a flag for fixed booleans, else text."""
    default = axis.default if not isinstance(axis.default, (list, tuple)) else ",".join(map(str, axis.default))
    where = f"default: from the preset's {axis.preset}" if axis.preset else (
        f"default: {default}" if axis.default is not None else "required")
    parts = [axis.help + (f" ({axis.unit})" if axis.unit else "")]
    if axis.choices:
        parts.append("one of " + ", ".join(axis.choices))
    if axis.swept:
        parts.append("comma-separated values are swept")
    help_text = "; ".join(parts) + f" ({where})."
    if axis.is_flag:
        annotation: Any = Annotated[Opt[bool], typer.Option(f"{axis.option}/--no-{axis.option[2:]}", help=help_text)]
    else:
        annotation = Annotated[Opt[str], typer.Option(axis.option, help=help_text)]
    return inspect.Parameter(axis.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def execute(suite: Suite, common: dict[str, Any], axes: dict[str, Any]) -> None:
    """Resolve the configuration, run the sweep with a progress bar (or through the
    distributed launcher for ``--gpus``), print the summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from fibench.distributed.group import launched_rank
    from fibench.report.console import console, print_summary
    from fibench.sweep.config import resolve_run
    from fibench.sweep.resume import Resume
    from fibench.sweep.rowfiles import case_key
    from fibench.sweep.session import execute_run

    cfg = resolve_run(suite.name, common.pop("sizes"), ops=common.pop("op"), axes=axes,
                      command="fibench " + " ".join(shlex.quote(a) for a in sys.argv[1:]), **common)
    where = str(cfg.device) if cfg.device.type == "cuda" else "CPU (no CUDA GPU: wall-clock timings of CPU-capable backends)"

    def header(where: str, extra: str = "") -> None:
        if cfg.notice:
            console.print(f"[yellow]{cfg.notice}[/yellow]")
        console.print(f"[bold]fibench run {cfg.suite.name}[/bold] model={cfg.shape.get('model')} on {where}; "
                      f"{len(cfg.cases)} cases x {len(cfg.backends)} backends{extra} -> {cfg.out_dir}")

    if cfg.workers or launched_rank() is not None:  # ranks print their own rows: no progress bar
        from fibench.distributed.launch import run_distributed

        header(f"{', '.join(cfg.workers)} ({cfg.gpu_note})" if cfg.workers else where)
        rows, report = run_distributed(cfg, on_step=lambda text: console.print(f"[dim]{text}[/dim]"))
        if report is not None:
            print_summary(rows, cfg.baseline)
            console.print(f"results: {cfg.out_dir / 'results.csv'}\nreport:  {report}")
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=console, transient=True)
    task = progress.add_task("starting", total=len(cfg.cases) * len(cfg.backends))

    def banner(resume: Resume | None) -> None:  # the folder is checked: nothing was printed before
        kept = f"; resuming: {len(resume.kept)} rows kept" if resume else ""
        header(where, kept + (" (each in its own process)" if cfg.isolate else ""))
        for line in resume.messages if resume else []:
            console.print(f"[yellow]{line}[/yellow]")
        if resume:
            todo = {case_key(c, b) for c in cfg.cases for b in cfg.backends} - resume.done
            progress.update(task, total=len(todo))
        progress.start()

    try:
        rows, report = execute_run(
            cfg, on_row=lambda row: progress.advance(task),
            on_step=lambda text: progress.update(task, description=text), on_start=banner)
    finally:
        if progress.live.is_started:
            progress.stop()
    if rows or not cfg.resume:
        print_summary(rows, cfg.baseline)
    else:
        console.print(f"nothing left to run: every row of this command is already in {cfg.out_dir}")
    console.print(f"results: {cfg.out_dir / 'results.csv'}\nreport:  {report}")


def make_command(suite: Suite):
    """The ``fibench run <suite>`` command function: shared options plus the suite's axes.

    Raises:
        ValueError: an axis name collides with a shared option (a suite definition bug).
    """
    clash = [a.name for a in suite.axes if a.name in COMMON_NAMES]
    if clash:
        raise ValueError(f"suite {suite.name}: axis {clash[0]!r} collides with a shared run option")
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in COMMON]
    params += [_axis_parameter(a) for a in suite.axes]

    @one_line_errors
    def command(**kwargs: Any) -> None:
        common = {k: v for k, v in kwargs.items() if k in COMMON_NAMES}
        axes = {a.name: kwargs.get(a.name) for a in suite.axes}
        execute(suite, common, axes)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = f"run_{suite.name}"
    command.__doc__ = (f"{suite.description} (sizes = {suite.size_name}; ops: {', '.join(suite.ops)}). "
                       f"Writes results.csv, results.jsonl, rollup.csv, kernels.csv (per-kernel pass; header only "
                       f"without it), env.json, run.json and report.md to the run folder. Ctrl-C or SIGTERM "
                       f"keeps the finished rows, writes report.md and exits 130 / 143.")
    return command


for _suite in SUITES.values():
    run_app.command(_suite.name)(make_command(_suite))
