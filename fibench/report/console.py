"""Rich console output: environment table, progress, end-of-run summary."""

from __future__ import annotations

from rich.console import Console
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
    for col in ("op", "size", "backend", "median", "speedup", "parity", "bitwise", "L2", "status"):
        table.add_column(col, justify="right" if col in ("size", "median", "speedup", "bitwise") else "left")
    for r in rows:
        s = sp.get((r.op, r.size, r.backend))
        style = "" if r.status.value == "ok" else ("yellow" if r.status.value == "unsupported" else "red")
        l2 = ("cold" if r.l2_cold else "warm") if r.cold_l2_method else "-"
        table.add_row(r.op, str(r.size), r.backend, fmt_us(r.median_us), f"{s:.2f}x" if s else "-",
                      r.parity_verdict or "-", fmt_num(r.bitwise_equal_frac), l2, r.status.value, style=style)
    return table


def print_summary(rows: list, baseline: str) -> None:
    """Summary table, then one line per distinct reason a row is not ok."""
    console.print(summary_table(rows, baseline))
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r.reason:
            reasons.setdefault(f"{r.backend} {r.status.value}: {r.reason}", []).append(f"{r.op}/{r.size}")
    for text, where in reasons.items():
        console.print(f"[yellow]{text}[/yellow] [dim]({', '.join(where)})[/dim]")


def print_catalog() -> None:
    """`fibench list`: suites with backends and needs, then presets."""
    from fibench.presets import PRESETS
    from fibench.suites import SUITES

    for s in SUITES.values():
        table = Table(title=f"suite {s.name}: {s.description} (sizes = {s.size_name}; ops {', '.join(s.ops)})")
        table.add_column("backend", style="bold")
        table.add_column("what")
        table.add_column("needs")
        for b in s.backends.values():
            ref = " [reference]" if b.name == s.default_reference else ""
            table.add_row(b.name + ref, b.description, b.needs.describe())
        console.print(table)
    table = Table(title="model presets")
    for col in ("preset", "hidden", "intermediate", "experts", "top-k", "routing", "note"):
        table.add_column(col)
    for p in PRESETS.values():
        table.add_row(p.name, str(p.hidden), str(p.intermediate or "-"), str(p.experts or "-"),
                      str(p.top_k or "-"), p.routing if p.is_moe else "-", p.note)
    console.print(table)
