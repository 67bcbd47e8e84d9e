"""Counts both writers show (Markdown report and console summary), computed once.

Pure functions over an :class:`~fibench.audit.skips.result.AuditResult`; nothing here
formats text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

from fibench.audit.skips.totals import is_catch_all, union_functions, union_items
from fibench.audit.skips.marks import KINDS
from fibench.audit.skips.result import AuditResult
from fibench.audit.skips.rules import CATEGORIES
from fibench.audit.skips.site import Site


@dataclass(frozen=True)
class CategoryRow:
    """One line of the categories table."""

    category: str
    sites: int
    percent: float
    groups: int
    files: int
    unconditional: int
    tests_affected: int  # test items its sites can affect, each counted once, catch-all sites left out
    test_functions: int
    by_condition: int  # sites its condition put here (as written or through condition_defs)
    catch_all: int  # sites that can affect every test under their conftest
    delta: int | None  # vs baseline; None without one
    run_skipped: int | None  # runtime outcomes in this category; None without JUnit
    run_xfailed: int | None


@dataclass(frozen=True)
class FileRow:
    """Sites in one file (or directory), split by kind."""

    name: str
    sites: int
    files: int
    by_kind: dict[str, int]
    top_category: str


def percent(part: int, whole: int) -> float:
    """part / whole in percent, 0 when whole is 0."""
    return 100.0 * part / whole if whole else 0.0


def category_rows(result: AuditResult) -> list[CategoryRow]:
    """All six categories in their fixed order (empty ones included)."""
    total = len(result.sites)
    rows = []
    for category in CATEGORIES:
        sites = [s for s in result.sites if s.category == category]
        run = [g for g in result.runtime.groups if g.category == category] if result.runtime else None
        rows.append(
            CategoryRow(
                category=category,
                sites=len(sites),
                percent=percent(len(sites), total),
                groups=len({s.group_key for s in sites}),
                files=len({s.file for s in sites}),
                unconditional=sum(s.unconditional for s in sites),
                tests_affected=union_items(sites),
                test_functions=union_functions(sites),
                by_condition=sum(s.decided_by.startswith("condition") for s in sites),
                catch_all=sum(is_catch_all(s) for s in sites),
                delta=result.trend.category_delta(category) or 0 if result.trend else None,
                run_skipped=sum(g.count for g in run if g.outcome == "skipped") if run is not None else None,
                run_xfailed=sum(g.count for g in run if g.outcome == "xfailed") if run is not None else None,
            )
        )
    return rows


def kind_counts(sites: Iterable[Site]) -> list[tuple[str, int]]:
    """(kind, sites) for every kind, in the fixed kind order."""
    counts = Counter(s.kind for s in sites)
    return [(kind, counts.get(kind, 0)) for kind in KINDS]


def xfail_strictness(sites: Iterable[Site]) -> dict[str, int]:
    """xfail marks by strict flag: strict, non-strict, unset (ini default), dynamic."""
    out = {"strict": 0, "non-strict": 0, "unset": 0, "dynamic": 0}
    for site in sites:
        if site.kind != "xfail":
            continue
        key = {"true": "strict", "false": "non-strict", "": "unset"}.get(site.strict, "dynamic")
        out[key] += 1
    return out


def _rows(named: dict[str, list[Site]], limit: int | None) -> list[FileRow]:
    rows = [
        FileRow(
            name=name,
            sites=len(members),
            files=len({s.file for s in members}),
            by_kind=dict(Counter(s.kind for s in members)),
            top_category=Counter(s.category for s in members).most_common(1)[0][0],
        )
        for name, members in named.items()
    ]
    rows.sort(key=lambda r: (-r.sites, r.name))
    return rows[:limit] if limit else rows


def file_rows(sites: Iterable[Site], limit: int | None = None) -> list[FileRow]:
    """Files with the most sites first."""
    named: dict[str, list[Site]] = {}
    for site in sites:
        named.setdefault(site.file, []).append(site)
    return _rows(named, limit)


def directory(rel: str) -> str:
    """Top-level directory of a relative file ("." for files at the root)."""
    parts = PurePosixPath(rel).parts
    return parts[0] if len(parts) > 1 else "."


def directory_rows(sites: Iterable[Site], limit: int | None = None) -> list[FileRow]:
    """Top-level directories with the most sites first."""
    named: dict[str, list[Site]] = {}
    for site in sites:
        named.setdefault(directory(site.file), []).append(site)
    return _rows(named, limit)


def context_counts(sites: Iterable[Site]) -> dict[str, int]:
    """Sites by what encloses them (test, fixture, hook, helper, class, module) plus
    ``conftest``: sites in conftest.py files."""
    sites = list(sites)
    counts = Counter(s.context for s in sites)
    counts["conftest"] = sum(PurePosixPath(s.file).name == "conftest.py" for s in sites)
    return dict(counts)


def decided_counts(sites: Iterable[Site]) -> dict[str, int]:
    """Sites by what decided their category: condition, condition_defs, reason, ""."""
    return dict(Counter(s.decided_by for s in sites))
