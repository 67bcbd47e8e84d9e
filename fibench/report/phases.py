"""Phases side by side: for a pair of backends, each phase's mean time per call in both
and the difference in percent, case by case, the way port audits lay out a kernel port
against the original (one line per phase, then the kernel-sum and the timed median).

The pair is (baseline, other) for every other traced backend of the run; when the
baseline has no rollup, the first traced backend stands in for it.
"""

from __future__ import annotations

from fibench.report.formatting import fmt_num
from fibench.report.tables import CaseColumns, md_table
from fibench.sweep.results import Row


def diff_pct(base: float | None, other: float | None) -> float | None:
    """100 x (other - base) / base; None when either is missing or base is 0."""
    if base is None or other is None or base == 0:
        return None
    return 100 * (other - base) / base


def fmt_diff(pct: float | None) -> str:
    """Signed percent with one decimal ("+12.5%"), "-" when missing."""
    return "-" if pct is None else f"{pct:+.1f}%"


def phase_pairs(rows: list[Row], baseline: str) -> list[tuple[str, str]]:
    """(A, B) backend pairs to put side by side: the baseline against each other traced
    backend, in run order."""
    traced = list(dict.fromkeys(r.backend for r in rows if r.extra.get("phases_us")))
    if len(traced) < 2:
        return []
    first = baseline if baseline in traced else traced[0]
    return [(first, b) for b in traced if b != first]


def phase_lines(a: Row, b: Row) -> list[tuple[str, float | None, float | None]]:
    """(label, A us, B us) per phase (A's phases first, then B's own), then kernel-sum and
    the timed median."""
    pa, pb = a.extra.get("phases_us", {}), b.extra.get("phases_us", {})
    lines = [(p, pa.get(p), pb.get(p)) for p in dict.fromkeys([*pa, *pb])]
    lines.append(("kernel-sum", a.kernel_sum_us, b.kernel_sum_us))
    lines.append(("median (timed)", a.median_us, b.median_us))
    return lines


def single_table(rows: list[Row], size_name: str = "size") -> list[str]:
    """Markdown: phases of the one traced backend, each with its share of the kernel-sum."""
    traced = [r for r in rows if r.extra.get("phases_us")]
    if not traced:
        return []
    cols = CaseColumns(traced, size_name)
    lines = []
    for r in traced:
        for i, (phase, us) in enumerate(r.extra["phases_us"].items()):
            share = 100 * us / r.kernel_sum_us if r.kernel_sum_us else None
            lines.append([*(cols.cells(r) if i == 0 else [""] * len(cols.header)), phase, fmt_num(us),
                          "-" if share is None else f"{share:.1f}%"])
    return [f"### Phases of {traced[0].backend}", ""] + md_table(
        [*cols.header, "phase", f"{traced[0].backend} us", "share of kernel-sum"], lines) + [""]


def phase_tables(rows: list[Row], baseline: str, size_name: str = "size") -> list[str]:
    """Markdown: one side-by-side table per backend pair (a single-backend table when only
    one backend was traced)."""
    pairs = phase_pairs(rows, baseline)
    if not pairs:
        return single_table(rows, size_name)
    out: list[str] = []
    by = {(r.case_id, r.backend): r for r in rows if r.extra.get("phases_us")}
    order = list(dict.fromkeys(r.case_id for r in rows))
    for a_name, b_name in pairs:
        cases = [c for c in order if (c, a_name) in by and (c, b_name) in by]
        if not cases:
            continue
        cols = CaseColumns([by[(c, a_name)] for c in cases], size_name)
        lines = []
        for case in cases:
            a, b = by[(case, a_name)], by[(case, b_name)]
            for i, (label, ua, ub) in enumerate(phase_lines(a, b)):
                cells = cols.cells(a) if i == 0 else [""] * len(cols.header)
                lines.append([*cells, label, fmt_num(ua), fmt_num(ub), fmt_diff(diff_pct(ua, ub))])
        out += [f"### {b_name} vs {a_name}", "",
                f"Mean us per call per phase; `{b_name} vs {a_name}` = ({b_name} - {a_name}) / {a_name}.", ""]
        out += md_table([*cols.header, "phase", f"{a_name} us", f"{b_name} us", f"{b_name} vs {a_name}"],
                        lines) + [""]
    return out
