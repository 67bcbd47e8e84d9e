"""``fibench compare BASE NEW``: thin command over :mod:`fibench.report.compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fibench.cli.common import one_line_errors


@one_line_errors
def compare(
    base: Annotated[Path, typer.Argument(help="Run folder of the baseline (written by `fibench run`).")],
    new: Annotated[Path, typer.Argument(help="Run folder to judge against it.")],
    threshold: Annotated[str, typer.Option(help="Smallest change that counts, in percent (3 or 3%).")] = "3%",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for compare.csv, compare.md and compare_ratios.png (default: NEW/compare-vs-<BASE folder name>).")] = None,
) -> None:
    """Match the rows of two runs (suite, case, backend) and give per row the ratio of
    medians with its 95% interval and a verdict: faster, slower, same or unsure. Exit 1
    when any row is confidently slower than the threshold, 0 otherwise, 2 on bad input."""
    from fibench.report.compare import compare_runs
    from fibench.report.compare_files import compare_table, summary_line, write_compare
    from fibench.report.console import console
    from fibench.sweep.parsing import parse_percent
    from fibench.sweep.sinks import load_run

    pct = parse_percent(threshold, "--threshold")
    cmp = compare_runs(load_run(base), load_run(new), pct)
    paths = write_compare(cmp, out or Path(new) / f"compare-vs-{Path(base).resolve().name}")
    console.print(compare_table(cmp))
    for warning in cmp.warnings:
        typer.echo(f"warning: {warning}", err=True)
    console.print(summary_line(cmp))
    console.print("\n".join(f"{name}: {path}" for name, path in paths.items()))
    raise typer.Exit(cmp.exit_code)
