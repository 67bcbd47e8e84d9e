"""Writers of a :class:`~fibench.report.compare.Comparison`: compare.csv (one line per
matched row, raw numbers), compare.md (warnings, counts, the table and the ratio PNG) and
the rich table printed on the console. Pure over the comparison: nothing is recomputed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from rich.table import Table

from fibench.report.compare import VERDICTS, Comparison, RowComparison
from fibench.report.formatting import fmt_us
from fibench.report.tables import md_table

CSV_NAME, MD_NAME, PNG_NAME = "compare.csv", "compare.md", "compare_ratios.png"
STYLE = {"faster": "green", "slower": "bold red", "same": "", "unsure": "yellow", "n/a": "dim"}


def _interval(r: RowComparison) -> str:
    if r.low is None or r.high is None or r.low != r.low:
        return "-"
    return f"{r.low:.3f}-{r.high:.3f}"


def _ratio(r: RowComparison) -> str:
    return "-" if r.ratio is None else f"{r.ratio:.3f}"


def summary_line(cmp: Comparison) -> str:
    """"N rows: a faster, b slower, ..." plus the threshold."""
    counts = ", ".join(f"{cmp.count(v)} {v}" for v in VERDICTS if cmp.count(v))
    return f"{len(cmp.rows)} matched rows at threshold {cmp.threshold_pct:g}%: {counts}"


def render_markdown(cmp: Comparison, png: str | None, png_note: str = "") -> str:
    """compare.md text."""
    out = ["# fibench compare", "", f"- base: `{cmp.base_dir}`", f"- new: `{cmp.new_dir}`",
           f"- {summary_line(cmp)}; exit code {cmp.exit_code}.",
           "- ratio = new median / base median with its 95% interval; verdict: slower if the whole interval "
           f"is above 1 + {cmp.threshold_pct:g}%, faster if below 1 / (1 + {cmp.threshold_pct:g}%), same if inside "
           "that band, else unsure (fibench/report/compare.py).", ""]
    if cmp.warnings:
        out += ["## Warnings", "", *[f"- {w}" for w in cmp.warnings], ""]
    if png:
        out += [f"![ratios]({png})", ""]
    elif png_note:
        out += [f"> {png_note}", ""]
    lines = [[r.case_id, r.backend, fmt_us(r.base_us), fmt_us(r.new_us), _ratio(r), _interval(r), r.method or "-",
              f"**{r.verdict}**" if r.verdict == "slower" else r.verdict, r.notes or ""] for r in cmp.rows]
    out += ["## Rows", ""] + md_table(["case", "backend", "base", "new", "ratio", "95% interval", "method",
                                       "verdict", "notes"], lines) + [""]
    for title, keys in (("Only in base", cmp.only_base), ("Only in new", cmp.only_new)):
        if keys:
            out += [f"## {title}", "", *[f"- {k}" for k in keys], ""]
    return "\n".join(out).rstrip() + "\n"


def write_compare(cmp: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write compare.csv, compare_ratios.png (when matplotlib is there) and compare.md.

    Returns:
        name -> path of each file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {CSV_NAME: out_dir / CSV_NAME}
    pd.DataFrame([dataclasses.asdict(r) for r in cmp.rows]).to_csv(paths[CSV_NAME], index=False)
    png, note = None, ""
    plotted = [r for r in cmp.rows if r.ratio is not None]
    if plotted:
        try:
            from fibench.report.plots import ratio_figure, save

            fig = ratio_figure([r.label for r in plotted], [r.ratio for r in plotted],
                               [r.low if r.low is not None else float("nan") for r in plotted],
                               [r.high if r.high is not None else float("nan") for r in plotted],
                               [r.verdict for r in plotted], cmp.threshold_pct)
            paths[PNG_NAME] = save(fig, out_dir / PNG_NAME)
            png = PNG_NAME
        except ImportError as exc:
            note = f"ratio picture not drawn: {exc} (pip install matplotlib)"
    paths[MD_NAME] = out_dir / MD_NAME
    paths[MD_NAME].write_text(render_markdown(cmp, png, note))
    return paths


def compare_table(cmp: Comparison) -> Table:
    """The rich table of the matched rows (verdicts coloured)."""
    table = Table(title=f"fibench compare (threshold {cmp.threshold_pct:g}%)")
    for col in ("case", "backend", "base", "new", "ratio", "95% interval", "verdict"):
        table.add_column(col, justify="right" if col in ("base", "new", "ratio") else "left")
    for r in cmp.rows:
        table.add_row(r.case_id, r.backend, fmt_us(r.base_us), fmt_us(r.new_us), _ratio(r), _interval(r),
                      r.verdict, style=STYLE.get(r.verdict, ""))
    return table


__all__ = ["compare_table", "render_markdown", "summary_line", "write_compare"]
