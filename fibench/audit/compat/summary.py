"""Rich console output for `fibench audit compat`: a line per probe as it finishes, the
probe list for ``--list``, and the end-of-run summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from fibench.audit.compat.catalog import Probe
from fibench.audit.compat.model import CompatReport, ProbeResult, Status

STYLE = {
    Status.WORKS: "green",
    Status.FAILS: "red",
    Status.NOT_BUILT: "yellow",
    Status.NOT_APPLICABLE: "dim",
    Status.SKIPPED: "dim",
}
FLAG_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def print_start(console: Console, name: str, timeout_s: float) -> None:
    """A dim line when a probe subprocess starts (compiles can take minutes)."""
    console.print(f"  [dim]running {name} (up to {timeout_s:g} s)...[/]", highlight=False)


def print_progress(console: Console, result: ProbeResult) -> None:
    """One line for a finished probe."""
    what = f" ({result.category.value})" if result.category else ""
    why = result.reason or result.detail
    console.print(f"  [{STYLE[result.status]}]{result.status.value:<14}[/] {result.name:<24} "
                  f"{what}{' ' if what else ''}[dim]{why}[/]", highlight=False, no_wrap=True, overflow="ellipsis")


def print_probe_list(console: Console, probes: list[Probe]) -> None:
    """``--list``: every probe, the API it calls, the JIT modules and arch it needs."""
    table = Table(title="fibench audit compat probes", show_lines=False)
    for col in ("probe", "family", "FlashInfer API", "JIT modules", "applies on"):
        table.add_column(col, overflow="fold")
    for p in probes:
        table.add_row(p.name, p.family, p.api, p.modules_doc, p.gate.requirement)
    console.print(table)


def print_summary(console: Console, report: CompatReport, paths: tuple[Path, Path]) -> None:
    """Counts, CUDA flags and where the files went."""
    counts = report.counts()
    table = Table(title="compat summary", show_header=False)
    table.add_column("status")
    table.add_column("probes", justify="right")
    for status in Status:
        if counts[status.value]:
            table.add_row(f"[{STYLE[status]}]{status.value}[/]", str(counts[status.value]))
    console.print(table)
    for flag in report.flags:
        console.print(f"[{FLAG_STYLE.get(flag.severity, '')}]{flag.severity}[/] {flag.code}: {flag.message}",
                      highlight=False)
    console.print(f"wrote {paths[0]} and {paths[1]}", highlight=False)
