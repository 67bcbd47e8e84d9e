"""Markdown table pieces shared by the reports (run report, parity, phases, timing, compare)."""

from __future__ import annotations

from typing import Any, Mapping

from fibench.report.formatting import fmt_num
from fibench.sweep.results import Row


def md_table(header: list[str], lines: list[list[str]]) -> list[str]:
    """A Markdown table (``|`` inside cells escaped)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return out


def varying_keys(axes: list[Mapping[str, Any]]) -> list[str]:
    """Keys whose value differs between the given axis dicts (the ones worth a column)."""
    names = list(dict.fromkeys(k for a in axes for k in a))
    return [n for n in names if len({repr(a.get(n)) for a in axes}) > 1]


def varying_axes(rows: list[Row]) -> list[str]:
    """Axes whose value differs between rows of the run (the swept ones worth a column)."""
    return varying_keys([r.axes for r in rows])


def axis_cell(value: Any) -> str:
    """One axis value for a table cell."""
    return value if isinstance(value, str) else fmt_num(value)


class CaseColumns:
    """The columns that identify a case in a table: op, size, then every varying axis."""

    def __init__(self, rows: list[Row], size_name: str = "size") -> None:
        self.axes = varying_axes(rows)
        self.header = ["op", size_name, *self.axes]

    def cells(self, r: Row) -> list[str]:
        """The case cells of one row."""
        return [r.op, str(r.size), *(axis_cell(r.axes.get(a)) for a in self.axes)]
