"""fibench command line (Typer). Thin commands: parse, call the library, map errors.

Library errors (:class:`fibench.errors.FibenchError`) become one line on stderr and
their exit code (2 for bad input); the library itself never imports Typer.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from fibench.audit.cli import audit_app
from fibench.cli.common import one_line_errors

app = typer.Typer(
    help="Benchmark FlashInfer kernels under CUDA graphs with cold L2 and audit their parity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(audit_app, name="audit")


@app.command()
@one_line_errors
def env(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Print an environment snapshot: GPU, compute capability, SMs, L2, memory, driver and
    CUDA versions, torch / flashinfer / cupti versions, SM clock."""
    from fibench.report.console import print_env
    from fibench.env import collect_env

    snap = collect_env()
    if json_out:
        typer.echo(json.dumps(snap.to_dict(), indent=2))
    else:
        print_env(snap)


Sizes = Annotated[str, typer.Option("--sizes", "-s", help="Comma-separated sizes (rows for norm, tokens for moe); 4k = 4096.")]
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Model preset (see `fibench list`).")]
Backends = Annotated[Optional[str], typer.Option("--backends", "-b", help="Comma-separated backends (default: all of the suite).")]
Reference = Annotated[Optional[str], typer.Option(help="Backend others are compared against (default: the suite's).")]
Baseline = Annotated[Optional[str], typer.Option(help="Backend speedups are computed against (default: the reference).")]
Ops = Annotated[Optional[str], typer.Option("--op", help="Comma-separated ops of the suite (default: all).")]
Dtype = Annotated[str, typer.Option(help="bf16, fp16 or fp32.")]
Warmup = Annotated[Optional[int], typer.Option(help="Warm-up replays (graph) or calls before timing (default 5).")]
Iters = Annotated[Optional[int], typer.Option(help="Timed samples per row (default 50).")]
Graph = Annotated[bool, typer.Option("--graph/--no-graph", help="Time K calls captured in a CUDA graph (default) or each call with events and an L2 flush.")]
ColdL2 = Annotated[str, typer.Option("--cold-l2", help="rotate (input copies, graph walks all of them), flush (clear L2 before each timed call) or off (warm).")]
Device = Annotated[Optional[str], typer.Option(help="cuda, cuda:N or cpu (default: cuda when available).")]
Seed = Annotated[int, typer.Option(help="Seed for inputs and routing.")]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default fibench-results/<suite>-<time>).")]
PerKernel = Annotated[Optional[bool], typer.Option("--per-kernel/--no-per-kernel", help="Trace kernels with torch.profiler and roll them up by logical op (default: on with CUDA).")]
ProfileCalls = Annotated[Optional[int], typer.Option(help="Calls traced in the per-kernel pass (default 10).")]
Jit = Annotated[str, typer.Option(help="auto: compile JIT modules that build in minutes; always: also the long ones (SM90 fused MoE ~20+ min); never: prebuilt only.")]
Nsys = Annotated[bool, typer.Option("--nsys", help="Bracket each timed loop with cudaProfilerStart/Stop and an NVTX range, for `nsys profile --capture-range=cudaProfilerApi`.")]
IntOpt = Optional[int]


@app.command()
@one_line_errors
def run(
    suite: Annotated[str, typer.Argument(help="Suite to run: norm or moe.")],
    sizes: Sizes,
    model: Model = None,
    backends: Backends = None,
    reference: Reference = None,
    op: Ops = None,
    dtype: Dtype = "bf16",
    warmup: Warmup = None,
    iters: Iters = None,
    graph: Graph = True,
    cold_l2: ColdL2 = "rotate",
    device: Device = None,
    seed: Seed = 0,
    out: Out = None,
    per_kernel: PerKernel = None,
    profile_calls: ProfileCalls = None,
    jit: Jit = "auto",
    nsys: Nsys = False,
    baseline: Baseline = None,
    hidden: Annotated[IntOpt, typer.Option(help="Hidden size (overrides the preset).")] = None,
    intermediate: Annotated[IntOpt, typer.Option(help="MoE: per-expert intermediate size.")] = None,
    experts: Annotated[IntOpt, typer.Option(help="MoE: routed experts.")] = None,
    top_k: Annotated[IntOpt, typer.Option("--top-k", help="MoE: experts per token.")] = None,
    ep: Annotated[IntOpt, typer.Option(help="MoE: benchmark the expert slice rank 0 of N holds.")] = None,
) -> None:
    """Benchmark a suite: latency per size and backend, parity against the reference,
    per-kernel rollup; writes results.csv, results.jsonl, rollup.csv, kernels.csv,
    env.json and report.md to the run folder."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from fibench.sweep.config import resolve_run
    from fibench.report.console import console, print_summary
    from fibench.sweep.session import execute_run

    shape = {k: v for k, v in dict(hidden=hidden, intermediate=intermediate, experts=experts,
                                   top_k=top_k, ep=ep).items() if v is not None}
    cfg = resolve_run(suite, sizes, model=model, backends=backends, reference=reference, ops=op, dtype=dtype,
                      warmup=warmup, iters=iters, graph=graph, cold_l2=cold_l2, device=device, seed=seed,
                      out=out, per_kernel=per_kernel, profile_calls=profile_calls, jit=jit, nsys=nsys,
                      baseline=baseline, shape=shape,
                      command="fibench " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if cfg.notice:
        console.print(f"[yellow]{cfg.notice}[/yellow]")
    where = str(cfg.device) if cfg.device.type == "cuda" else "CPU (no CUDA GPU: wall-clock timings of CPU-capable backends)"
    console.print(f"[bold]fibench run {cfg.suite.name}[/bold] model={cfg.shape.get('model')} on {where}; "
                  f"{len(cfg.cases)} cases x {len(cfg.backends)} backends -> {cfg.out_dir}")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(cfg.cases) * len(cfg.backends))
        rows, report = execute_run(
            cfg, on_row=lambda row: progress.advance(task),
            on_step=lambda text: progress.update(task, description=text))
    print_summary(rows, cfg.baseline)
    console.print(f"results: {cfg.out_dir / 'results.csv'}\nreport:  {report}")


@app.command("list")
@one_line_errors
def list_(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List suites, their backends (with what each needs) and the model presets."""
    from fibench.report.console import print_catalog
    from fibench.presets import PRESETS
    from fibench.suites import SUITES

    if json_out:
        typer.echo(json.dumps({
            "suites": {s.name: {"description": s.description, "sizes": s.size_name, "ops": list(s.ops),
                                "reference": s.default_reference, "default_model": s.default_model,
                                "backends": {b.name: {"description": b.description, "needs": b.needs.describe()}
                                             for b in s.backends.values()}}
                       for s in SUITES.values()},
            "presets": {p.name: p.__dict__ for p in PRESETS.values()}}, indent=2))
    else:
        print_catalog()


@app.command()
@one_line_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `fibench run`.")],
    reroll: Annotated[bool, typer.Option("--reroll", help="First re-apply the current kernel maps to the recorded kernels.csv (timings and parity unchanged).")] = False,
) -> None:
    """Re-render report.md of a finished (or interrupted) run from its files."""
    from fibench.report.markdown import write_report

    if reroll:
        from fibench.trace.reroll import reroll as reroll_run

        typer.echo(f"re-rolled {reroll_run(run_dir)} rows with the current kernel maps")
    typer.echo(str(write_report(run_dir)))


def main() -> None:
    """Console-script entry point (``fibench`` and ``python -m fibench``)."""
    app()
