"""``fibench parity A B``: compare the saved outputs of two runs (a CI gate for "this port
still matches"). Thin: parse, call :func:`fibench.parity.runs.compare_runs`, write, print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from fibench.cli.common import one_line_errors


@one_line_errors
def parity(
    a: Annotated[Path, typer.Argument(help="Saved tensors of the run compared against (a --save-tensors folder, or a run folder that saved some).")],
    b: Annotated[Path, typer.Argument(help="Saved tensors of the other run.")],
    pair: Annotated[Optional[list[str]], typer.Option("--pair", help="BACKEND_A=BACKEND_B: compare backend A of run A with backend B of run B on every case both hold (repeatable; default: same backend names).")] = None,
    require: Annotated[str, typer.Option(help="What every comparison must meet: bitwise, ulp:N (no element more than N ULP apart) or tolerance (the dtype tolerance table).")] = "tolerance",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for parity.csv and parity.md (default fibench-results/parity-<time>).")] = None,
) -> None:
    """Compare the outputs two runs saved with --save-tensors, matched by suite, case and
    backend (or --pair). Refuses (exit 2) when the inputs of a matched case differ. Writes
    parity.csv and parity.md; exits 1 when any comparison fails --require, 0 otherwise."""
    from rich.table import Table

    from fibench.parity.pairwise import Requirement
    from fibench.parity.runs import compare_runs, parse_pairs
    from fibench.report.console import console
    from fibench.report.formatting import fmt_num
    from fibench.report.parity_md import write_runs_parity

    req = Requirement.parse(require)
    result = compare_runs(a, b, pairs=parse_pairs(pair), require=req)
    folder = out or Path("fibench-results") / f"parity-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    csv_path, md_path = write_runs_parity(result, folder)
    table = Table(title=f"fibench parity {result.a.suite}: B against A (--require {req})")
    numeric = ("bitwise", "ULP p99", "max ULP", "above floor")
    for col in ("case", "A", "B", *numeric, "verdict", "meets"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for o in result.outcomes:
        u = o.result.ulp
        table.add_row(o.case.case_id, o.backend_a, o.backend_b, fmt_num(o.result.bitwise_equal_frac),
                      fmt_num(u.percentiles.get("p99") if u else None), fmt_num(o.result.max_ulp),
                      fmt_num(u.max_above_floor if u else None), o.result.verdict, "yes" if o.met else "no",
                      style="" if o.met else "red")
    console.print(table)
    for o in result.failed:
        console.print(f"[red]{o.case.case_id} {o.backend_b} (B) vs {o.backend_a} (A): {o.why}[/red]"
                      + (f" [yellow]({o.caveat})[/yellow]" if o.caveat else ""))
    for line in result.not_compared:
        console.print(f"[yellow]not compared: {line}[/yellow]")
    console.print(f"{len(result.outcomes) - len(result.failed)} of {len(result.outcomes)} comparisons meet "
                  f"--require {req}\nparity.csv: {csv_path}\nparity.md:  {md_path}")
    if result.failed:
        raise typer.Exit(1)
