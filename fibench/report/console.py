"""Rich console output: environment table, progress, end-of-run summary."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fibench.env import EnvSnapshot
from fibench.report.formatting import env_rows

console = Console(stderr=False)


def print_env(snap: EnvSnapshot) -> None:
    """Print an environment snapshot as a two-column table, then any notes."""
    table = Table(title="fibench env", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for label, value in env_rows(snap.to_dict()):
        table.add_row(label, value)
    console.print(table)
    for key, why in snap.notes.items():
        console.print(f"[dim]{key}: {why}[/dim]")


def summary_table(rows: list, baseline: str) -> Table:
    """End-of-run table: one line per case x backend (median, speedup, parity, cold L2,
    status); reasons of rows that are not ok are printed below it by :func:`print_summary`."""
    from fibench.report.formatting import fmt_num, fmt_us
    from fibench.report.markdown import speedup

    sp = speedup(rows, baseline)
    table = Table(title=f"fibench summary (speedup vs {baseline})")
    for col in ("case", "backend", "median", "speedup", "parity", "bitwise", "L2", "status"):
        table.add_column(col, justify="right" if col in ("median", "speedup", "bitwise") else "left")
    for r in rows:
        s = sp.get((r.case_id, r.backend))
        style = "" if r.status.value == "ok" else ("yellow" if r.status.value == "unsupported" else "red")
        l2 = ("cold" if r.l2_cold else "warm") if r.cold_l2_method else "-"
        table.add_row(r.case_id, r.backend, fmt_us(r.median_us), f"{s:.2f}x" if s else "-",
                      r.parity_verdict or "-", fmt_num(r.bitwise_equal_frac), l2, r.status.value, style=style)
    return table


def print_summary(rows: list, baseline: str) -> None:
    """Summary table, then one line per distinct reason a row is not ok."""
    console.print(summary_table(rows, baseline))
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r.reason:
            reasons.setdefault(f"{r.backend} {r.status.value}: {r.reason}", []).append(r.case_id)
    for text, where in reasons.items():
        console.print(f"[yellow]{escape(text)}[/yellow] [dim]({escape(', '.join(where))})[/dim]")
