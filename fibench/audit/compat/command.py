"""`fibench audit compat`: thin Typer command over :func:`fibench.audit.compat.audit.run_audit`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from fibench.audit.compat.model import CompatReport
from fibench.cli.common import one_line_errors
from fibench.errors import Interrupted
from fibench.interrupt import SignalGuard, StopRun
from fibench.outdir import prepare_out_dir

OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", help="Output directory for compat.md and compat.json (default: fibench-results/compat-<timestamp>).")]
BuildOpt = Annotated[bool, typer.Option(
    "--build", help="Allow probes to JIT-compile missing FlashInfer modules (slow; see --timeout-for).")]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", help="Per-probe wall-clock limit in seconds, compile time included.")]
TimeoutForOpt = Annotated[Optional[list[str]], typer.Option(
    "--timeout-for", help="Per-probe limit as PROBE=SECONDS (repeatable), e.g. moe.bf16=3600.")]
OnlyOpt = Annotated[Optional[str], typer.Option(
    "--only", help="Comma-separated probe names or families to run, e.g. decode,norm.rmsnorm.")]
ListOpt = Annotated[bool, typer.Option("--list", help="List the probes and what each needs, then exit.")]
DeviceOpt = Annotated[int, typer.Option("--device-index", help="CUDA device index the probes run on.")]


@one_line_errors
def compat_command(
    out: OutOpt = None,
    build: BuildOpt = False,
    timeout: TimeoutOpt = 300.0,
    timeout_for: TimeoutForOpt = None,
    only: OnlyOpt = None,
    list_probes: ListOpt = False,
    device_index: DeviceOpt = 0,
) -> None:
    """Probe which FlashInfer features work on this GPU and why not.

    Each feature path (attention backends, sinks, MLA, norm, activations, RoPE,
    sampling, fused MoE, FP4 quantize, allreduce fusion) runs a tiny call in its own
    subprocess and ends as works / fails (with a category) / not built / not
    applicable. Also reports the CUDA versions that matter and their mismatches.
    Writes compat.md and compat.json as each probe finishes (--out is checked first: a file,
    an uncreatable path or an earlier audit there is refused); exits 0 even when features
    fail, 2 on bad input, 130/143 when stopped by SIGINT/SIGTERM (finished probes kept).
    """
    from fibench.audit.compat.audit import (
        CompatOptions, default_out_dir, parse_timeout_overrides, run_audit, validate,
    )
    from fibench.audit.compat.catalog import select
    from fibench.audit.compat.report import write_report
    from fibench.audit.compat.summary import print_probe_list, print_progress, print_start, print_summary

    console = Console()
    if list_probes:
        print_probe_list(console, select(only))
        return
    options = CompatOptions(
        out_dir=out or default_out_dir(), build=build, timeout_s=timeout,
        timeout_overrides=parse_timeout_overrides(timeout_for), only=only, device_index=device_index,
    )
    probes = validate(options)
    prepare_out_dir(options.out_dir, owned=("compat.json", "compat.md"), what="compat audit")
    console.print(f"fibench audit compat: {len(probes)} probes, timeout {timeout:g} s, "
                  f"build {'on' if build else 'off'} -> {options.out_dir}", highlight=False)
    with SignalGuard() as guard:

        def save(partial: CompatReport) -> None:
            with guard.hold():  # files are rewritten whole: a signal waits for the write
                write_report(partial, options.out_dir)

        try:
            report = run_audit(options, on_result=lambda r: print_progress(console, r),
                               on_start=lambda name, t: print_start(console, name, t), on_progress=save)
        except StopRun as stop:
            raise Interrupted(f"{signal.Signals(stop.signum).name}: the probes finished so far are in "
                              f"{options.out_dir / 'compat.md'} (marked incomplete)", stop.signum) from None
    print_summary(console, report, write_report(report, options.out_dir))
