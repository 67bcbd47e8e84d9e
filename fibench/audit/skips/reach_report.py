"""skips.md sections about what the sites reach: tests affected, and what decided
each category. Pure functions of the :class:`~fibench.audit.skips.result.AuditResult`.
"""

from __future__ import annotations

from fibench.audit.skips import stats
from fibench.audit.skips.totals import is_catch_all, union_functions, union_items
from fibench.audit.skips.groups import by_tests_affected
from fibench.audit.skips.mdtable import cell, code, count, files, table, where
from fibench.audit.skips.result import AuditResult

TOP_GROUPS = 25
TOP_SITES = 25
SPREAD_SCOPES = ("callers", "fixture users", "fixture param", "importers", "module", "class")


def tests_cell(tests: int, catch_all: int) -> str:
    """A tests-affected number, flagged when catch-all sites were left out of it."""
    return f"{tests:,}" + (" + catch-all" if catch_all else "")


def summary_lines(result: AuditResult) -> list[str]:
    """Executive-summary bullets: tests affected, ranking by them, what decided."""
    sites, suite = result.sites, result.suite
    if not sites:
        return []
    reached = union_items(sites)
    functions = union_functions(sites)
    share = stats.percent(reached, suite.test_items)
    catch_all = [s for s in sites if is_catch_all(s)]
    lines = [
        f"- **The sites can affect {reached:,} of the {suite.test_items:,} test items** ({share:.1f}%; "
        f"{functions:,} of {suite.test_functions:,} test functions), counting each test's static parametrize "
        "product once however many sites reach it"
        + (f"; {suite.inexact_functions:,} test functions have an axis whose values are not static and count "
           "it as 1" if suite.inexact_functions else "")
        + "."
    ]
    if catch_all:
        lines.append(
            f"- Not in those totals: **{count(len(catch_all), 'catch-all site')}** in conftest hooks or at a conftest's module "
            "level can affect every test under their directory whatever it is (OOM handlers, launch checks); "
            "they are listed under “Ranked by tests affected”."
        )
    ranked = sorted(stats.category_rows(result), key=lambda r: -r.tests_affected)
    lines.append("- By category, ranked by tests affected: " + ", ".join(
        f"{r.category} {r.tests_affected:,} ({count(r.sites, 'site')})" for r in ranked if r.sites) + ".")
    top = by_tests_affected(result.groups)[:3]
    lines.append("- Reasons that reach the most tests: " + ", ".join(
        f"“{cell(g.label, 70)}” ({g.tests_affected:,} tests, {count(g.sites, 'site')})" for g in top) + ".")
    decided = stats.decided_counts(sites)
    lines.append(
        f"- Categories came from the condition for {decided.get('condition', 0)} sites (as written) and "
        f"{decided.get('condition_defs', 0)} more (through what its names are bound to nearby), from the "
        f"reason's words for {decided.get('reason', 0)}; {decided.get('', 0)} matched no rule (Other)."
    )
    return lines


def ranked_sections(result: AuditResult) -> list[str]:
    """``## Ranked by tests affected``: categories, reasons and the sites that spread
    furthest (helpers, fixtures, hooks, modules, classes)."""
    if not result.sites:
        return []
    items = result.suite.test_items
    lines = ["## Ranked by tests affected", ""]
    lines.append(
        "Tests affected counts test items (a test function times its static parametrize product, fixture params "
        "included) that a site can skip or xfail: the test it marks, or every test reaching its helper, fixture or "
        "hook; each test once per row however many sites reach it. Catch-all sites (every test under a conftest, "
        "listed last) are left out of these totals. `tests_affected` in skips.csv has it per site."
    )
    lines.append("")
    rows = sorted(stats.category_rows(result), key=lambda r: (-r.tests_affected, -r.sites))
    lines += table(
        ["Category", "Tests affected", "% of test items", "Test functions", "Sites"],
        [[r.category, tests_cell(r.tests_affected, r.catch_all), f"{stats.percent(r.tests_affected, items):.1f}%",
          f"{r.test_functions:,}", str(r.sites)] for r in rows if r.sites],
    )
    groups = by_tests_affected(result.groups)[:TOP_GROUPS]
    lines += [f"### Top {len(groups)} reasons by tests affected", ""]
    lines += table(
        ["Reason", "Tests affected", "Test functions", "Sites", "Category", "Files"],
        [[cell(g.label), tests_cell(g.tests_affected, g.catch_all), f"{g.test_functions:,}", str(g.sites), g.category,
          files(g.files, 2)] for g in groups],
    )
    spread = sorted((s for s in result.sites if s.affected_scope in SPREAD_SCOPES or s.affected_scope.startswith("marker")),
                    key=lambda s: (-s.tests_affected, s.file, s.line))[:TOP_SITES]
    if spread:
        lines += ["### Sites outside a single test that reach the most tests", ""]
        lines += table(
            ["Where", "Function", "Reaches", "Tests affected", "Test functions", "Category", "Reason"],
            [[where(s.file, s.line), code(cell(s.function, 50)), s.affected_scope, f"{s.tests_affected:,}",
              f"{s.test_functions:,}", s.category, cell(s.reason or "(no reason given)", 100)] for s in spread],
        )
    catch_all = [s for s in result.sites if is_catch_all(s)]
    if catch_all:
        lines += ["### Catch-all sites (every test under their conftest's directory)", ""]
        lines += table(
            ["Where", "Function", "Tests under it", "Category", "Condition or guard", "Reason"],
            [[where(s.file, s.line), code(cell(s.function, 50)), f"{s.tests_affected:,}", s.category,
              cell(s.condition or s.guard or "-", 80), cell(s.reason or "(no reason given)", 100)] for s in catch_all],
        )
    return lines
