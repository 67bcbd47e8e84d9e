"""Per-site tests affected, and totals over many sites without double counting.

:func:`with_reach` fills each site's ``tests_affected`` / ``test_functions`` /
``affected_scope`` from a :class:`~fibench.audit.skips.affected.SuiteGraph`; the union
functions add up what a group of sites (a category, a reason) reaches, each test once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from fibench.audit.skips.affected import CATCH_ALL, SuiteGraph
from fibench.audit.skips.site import Site


@dataclass(frozen=True)
class SuiteSize:
    """The tree's tests: functions, items (static parametrize product), and functions
    with an axis whose size is not static (counted as 1)."""

    test_functions: int
    test_items: int
    inexact_functions: int


def with_reach(sites: Iterable[Site], graph: SuiteGraph) -> list[Site]:
    """Copies of ``sites`` with ``tests_affected``, ``test_functions``,
    ``affected_scope`` and ``tests`` filled in from ``graph``."""
    out = []
    for site in sites:
        found = graph.reach(site)
        out.append(replace(site, tests_affected=found.items, test_functions=len(found.tests),
                           affected_scope=found.scope, tests=found.tests))
    return out


def suite_size(graph: SuiteGraph) -> SuiteSize:
    """Totals for the summary line."""
    return SuiteSize(len(graph.items), sum(graph.items.values()), len(graph.inexact))


def is_catch_all(site: Site) -> bool:
    """A site that can affect every test under its conftest's directory whatever the
    test is (a hook with no marker guard, such as an OOM handler in
    ``pytest_runtest_call``, or a skip at a conftest's module level). Totals leave these
    out so they do not drown what the other sites target; the report lists them."""
    return site.affected_scope == CATCH_ALL


def union_items(sites: Iterable[Site]) -> int:
    """Test items that at least one of ``sites`` (catch-all ones left out, see
    :func:`is_catch_all`) can affect: per test, the items the sites affect added up but
    never more than the test has."""
    per_test: dict[str, list[int]] = {}
    for site in sites:
        if is_catch_all(site):
            continue
        for tid, affected, total in site.tests:
            entry = per_test.setdefault(tid, [0, total])
            entry[0] += affected
    return sum(min(affected, total) for affected, total in per_test.values())


def union_functions(sites: Iterable[Site]) -> int:
    """Test functions that at least one of ``sites`` (catch-all ones left out) can affect."""
    return len({tid for site in sites if not is_catch_all(site) for tid, _, _ in site.tests})
