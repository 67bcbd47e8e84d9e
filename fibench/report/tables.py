"""Table pieces shared by the Markdown renderers (report, phases, timing, compare)."""

from __future__ import annotations

from fibench.report.formatting import fmt_num
from fibench.sweep.results import Row


def md_table(header: list[str], lines: list[list[str]]) -> list[str]:
    """A Markdown table (pipes in cells escaped)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return out


def varying_axes(rows: list[Row]) -> list[str]:
    """Axes whose value differs between rows of the run (the swept ones worth a column)."""
    names = list(dict.fromkeys(k for r in rows for k in r.axes))
    return [n for n in names if len({repr(r.axes.get(n)) for r in rows}) > 1]


class CaseColumns:
    """The columns that identify a case in a table: op, size, then every varying axis."""

    def __init__(self, rows: list[Row], size_name: str = "size") -> None:
        self.axes = varying_axes(rows)
        self.header = ["op", size_name, *self.axes]

    def cells(self, r: Row) -> list[str]:
        """The case cells of one row."""
        return [r.op, str(r.size), *(fmt_num(r.axes.get(a)) if not isinstance(r.axes.get(a), str)
                                     else r.axes[a] for a in self.axes)]
