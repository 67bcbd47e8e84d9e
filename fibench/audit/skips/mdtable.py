"""Markdown table pieces shared by the skips report's sections."""

from __future__ import annotations

from pathlib import PurePosixPath

MAX_REASON_CHARS = 160


def cell(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """Text made safe for one Markdown table cell: one line, pipes escaped, cut."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("|", "\\|")


def code(text: str) -> str:
    """``text`` in backticks, or "" when empty."""
    return f"`{text}`" if text else ""


def signed(value: int | None) -> str:
    """``+3`` / ``-2`` / ``+0``; "" for None."""
    return "" if value is None else f"{value:+d}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table, with a blank line after it."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def files(counts: tuple[tuple[str, int], ...], shown: int = 3) -> str:
    """``a.py`` (3), ``b.py`` (1), +2 more."""
    parts = [f"`{cell(PurePosixPath(name).as_posix(), 80)}` ({n})" for name, n in counts[:shown]]
    if len(counts) > shown:
        parts.append(f"+{len(counts) - shown} more")
    return ", ".join(parts)


def where(file: str, line: int) -> str:
    """``file:line`` in backticks."""
    return f"`{cell(file, 80)}:{line}`"


def count(n: int, noun: str) -> str:
    """``1 site`` / ``3 sites`` (``noun`` given in the singular, plural by adding s)."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
