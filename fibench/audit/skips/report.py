"""Markdown report (skips.md) for one skips audit: a pure function of the result.

Sections: executive summary; categories (count, share, tests affected, and the trend /
run columns when a baseline or JUnit files were given); the ranking by tests affected
(:mod:`fibench.audit.skips.reach_report`); kinds and xfail strictness; per category
the reason groups by count with the files affected; unconditional sites; sites with no
reason; top files; per-directory counts; the JUnit view; the trend; files not scanned;
how the report was made. Long tables are cut at a stated length; skips.csv has all.
"""

from __future__ import annotations

from fibench.audit.skips import stats
from fibench.audit.skips.totals import union_items
from fibench.audit.skips.groups import NO_REASON, group_sites
from fibench.audit.skips.marks import KINDS
from fibench.audit.skips.mdtable import cell, count, code as _code, files as _files, signed as _signed, table as _table
from fibench.audit.skips.reach_report import ranked_sections, summary_lines, tests_cell
from fibench.audit.skips.result import AuditResult
from fibench.audit.skips.rules import CATEGORIES

MAX_GROUPS_PER_CATEGORY = 40
MAX_LIST = 50


def render_markdown(result: AuditResult) -> str:
    """The whole skips.md document."""
    sections = [
        _header(result),
        _summary(result),
        _categories(result),
        ranked_sections(result),
        _kinds(result),
        _reasons(result),
        _unconditional(result),
        _warnings(result),
        _no_reason(result),
        _top_files(result),
        _directories(result),
        _runtime(result),
        _trend(result),
        _not_scanned(result),
        _method(result),
    ]
    return "\n".join(line for section in sections for line in section).rstrip() + "\n"


def _header(result: AuditResult) -> list[str]:
    root = result.options.path
    return [
        f"# Test skips and expected failures: `{root.name or root}`",
        "",
        f"Generated {result.generated} by `fibench audit skips` from a static scan of `{root}` "
        "(no test was imported or run).",
        "",
    ]


def _summary(result: AuditResult) -> list[str]:
    sites, scan = result.sites, result.scan
    total = len(sites)
    files = len({s.file for s in sites})
    lines = ["## Executive summary", ""]
    lines.append(
        f"- **{total} sites** skip or xfail tests, in **{files} files** "
        f"({scan.files_found} Python files found and indexed; {scan.files_walked} mention skip/xfail or a reusable "
        f"mark and were walked for sites; scan took {result.scan_seconds:.1f} s)."
    )
    if not total:
        return lines + [""]
    ranked = sorted(stats.category_rows(result), key=lambda r: -r.sites)
    shares = ", ".join(f"{r.category} {r.sites} ({r.percent:.1f}%)" for r in ranked if r.sites)
    lines.append(f"- By category: {shares}.")
    unconditional = sum(s.unconditional for s in sites)
    lines.append(
        f"- **{count(unconditional, 'unconditional site')}** "
        + ("skips or xfails whenever it is" if unconditional == 1 else "skip or xfail whenever they are")
        + " reached (no condition, no guard): dead or permanently failing tests unless someone runs them by hand. "
        "Listed below."
    )
    strict = stats.xfail_strictness(sites)
    xfails = sum(strict.values())
    if xfails:
        lines.append(
            f"- **{xfails} xfail marks**: {strict['strict']} strict, {strict['non-strict']} non-strict, "
            f"{strict['unset']} relying on the `xfail_strict` ini default ({_ini_default(result)})"
            + (f", {strict['dynamic']} computed" if strict["dynamic"] else "")
            + ". A non-strict xfail that starts passing goes unnoticed."
        )
    no_reason = sum(1 for s in sites if not s.reason)
    dynamic = sum(s.dynamic for s in sites)
    lines.append(
        f"- **{count(no_reason, 'site')} {'gives' if no_reason == 1 else 'give'} no reason**; {dynamic} build their "
        "reason at run time "
        "(shown with `{placeholders}` for the dynamic parts)."
    )
    contexts = stats.context_counts(sites)
    lines.append(
        f"- Outside test functions: {contexts.get('fixture', 0)} in fixtures, {contexts.get('hook', 0)} in pytest "
        f"hooks, {contexts.get('helper', 0)} in helper functions, {contexts.get('module', 0)} at module level and "
        f"{contexts.get('class', 0)} on classes (each can skip many tests); {contexts['conftest']} sites are in "
        "conftest.py files."
    )
    lines += summary_lines(result)
    top = ", ".join(f"“{cell(g.label, 80)}” ({g.sites})" for g in result.groups[:3])
    lines.append(f"- {len(result.groups)} distinct reasons after normalising; the largest: {top}.")
    if result.runtime:
        run = result.runtime
        matched = sum(g.count for g in run.groups if g.how)
        lines.append(
            f"- In the run ({len(run.files)} JUnit file(s)): {run.tests} tests, {run.skipped} skipped, "
            f"{run.xfailed} xfailed; {matched} of {run.skipped + run.xfailed} outcomes matched a static reason."
        )
    if result.trend:
        trend = result.trend
        lines.append(
            f"- Against the baseline: {trend.total_before} → {trend.total_after} sites "
            f"({_signed(trend.total_after - trend.total_before)})."
        )
    warned = sum(1 for s in sites if s.warning)
    if warned:
        lines.append(
            f"- **{warned} marks pytest will reject or misread** (a sentence passed as a string condition, a "
            "boolean condition without `reason=`, a module-level skip without `allow_module_level=True`); "
            "listed below."
        )
    if scan.unparsable:
        lines.append(f"- {len(scan.unparsable)} file(s) could not be parsed; they are listed at the end.")
    return lines + [""]


def _ini_default(result: AuditResult) -> str:
    default = result.xfail_default
    value = "strict" if default.strict else "non-strict"
    if not default.ini_file:
        return "no pytest configuration found above the tree: non-strict"
    return f"{value} per `{default.ini_file}`"


def _categories(result: AuditResult) -> list[str]:
    rows = stats.category_rows(result)
    header = ["Category", "Sites", "%", "Reasons", "Files", "Unconditional", "By condition", "Tests affected"]
    if result.trend:
        header.append("Δ vs baseline")
    if result.runtime:
        header += ["Run: skipped", "Run: xfailed"]
    body = []
    for r in rows:
        row = [r.category, str(r.sites), f"{r.percent:.1f}%", str(r.groups), str(r.files), str(r.unconditional),
               str(r.by_condition), tests_cell(r.tests_affected, r.catch_all)]
        if result.trend:
            row.append(_signed(r.delta))
        if result.runtime:
            row += [str(r.run_skipped), str(r.run_xfailed)]
        body.append(row)
    total = ["**Total**", f"**{len(result.sites)}**", "100%" if result.sites else "0%", str(len(result.groups)),
             str(len({s.file for s in result.sites})), str(sum(s.unconditional for s in result.sites)),
             str(sum(r.by_condition for r in rows)),
             tests_cell(union_items(result.sites), sum(r.catch_all for r in rows))]
    if result.trend:
        total.append(_signed(result.trend.total_after - result.trend.total_before))
    if result.runtime:
        total += [str(result.runtime.skipped), str(result.runtime.xfailed)]
    return ["## Categories", ""] + _table(header, body + [total])


def _kinds(result: AuditResult) -> list[str]:
    total = len(result.sites)
    rows = [[k, str(n), f"{stats.percent(n, total):.1f}%"] for k, n in stats.kind_counts(result.sites)]
    vias: dict[str, int] = {}
    for site in result.sites:
        vias[site.via] = vias.get(site.via, 0) + 1
    attached = ", ".join(f"{via} {n}" for via, n in sorted(vias.items(), key=lambda kv: -kv[1]))
    return ["## By kind", ""] + _table(["Kind", "Sites", "%"], rows) + [f"Attached as: {attached or '-'}.", ""]


def _reasons(result: AuditResult) -> list[str]:
    lines = ["## Reasons by category", ""]
    for category in CATEGORIES:
        sites = [s for s in result.sites if s.category == category]
        if not sites:
            continue
        groups = group_sites(sites)
        lines += [f"### {category} ({len(sites)} sites, {len(groups)} reasons)", ""]
        lines += ["<details>", f"<summary>Reasons in {category}</summary>", ""]
        header = ["Reason", "Sites", "Tests affected", "Kinds", "Files affected", "Rule"]
        if result.trend:
            header.append("Δ")
        rows = []
        for g in groups[:MAX_GROUPS_PER_CATEGORY]:
            row = [cell(g.label), str(g.sites), tests_cell(g.tests_affected, g.catch_all),
                   ", ".join(f"{k} {n}" for k, n in g.kinds),
                   _files(g.files), _code(g.rule_id) or "(none)"]
            if result.trend:
                row.append(_signed(result.trend.group_delta(g.key)))
            rows.append(row)
        lines += _table(header, rows)
        rest = groups[MAX_GROUPS_PER_CATEGORY:]
        if rest:
            lines += [f"… and {len(rest)} more reasons ({sum(g.sites for g in rest)} sites); see skips.csv.", ""]
        lines += ["</details>", ""]
    return lines


def _site_rows(sites: list, columns: str) -> list[list[str]]:
    rows = []
    for s in sites[:MAX_LIST]:
        where = f"`{cell(s.file, 80)}:{s.line}`"
        if columns == "unconditional":
            rows.append([where, _code(cell(s.function, 60)), s.kind, s.via, cell(s.reason or NO_REASON)])
        else:
            rows.append([where, _code(cell(s.function, 60)), s.kind, cell(s.condition or s.guard or "-", 80)])
    return rows


def _unconditional(result: AuditResult) -> list[str]:
    sites = [s for s in result.sites if s.unconditional]
    lines = ["## Unconditional sites (always skip or xfail when reached)", ""]
    if not sites:
        return lines + ["None.", ""]
    lines += _table(["Where", "Function", "Kind", "Via", "Reason"], _site_rows(sites, "unconditional"))
    if len(sites) > MAX_LIST:
        lines += [f"… and {len(sites) - MAX_LIST} more; filter skips.csv on `unconditional`.", ""]
    return lines


def _warnings(result: AuditResult) -> list[str]:
    sites = [s for s in result.sites if s.warning]
    if not sites:
        return []
    lines = ["## Marks pytest will reject or misread", ""]
    rows = [[f"`{cell(s.file, 80)}:{s.line}`", _code(cell(s.function, 60)), s.kind, cell(s.warning, 100),
             cell(s.condition or s.reason or "-", 80)] for s in sites[:MAX_LIST]]
    lines += _table(["Where", "Function", "Kind", "Problem", "Condition or reason"], rows)
    if len(sites) > MAX_LIST:
        lines += [f"… and {len(sites) - MAX_LIST} more; filter skips.csv on `warning`.", ""]
    return lines


def _no_reason(result: AuditResult) -> list[str]:
    sites = [s for s in result.sites if not s.reason]
    lines = ["## Sites with no reason given", ""]
    if not sites:
        return lines + ["None.", ""]
    lines += _table(["Where", "Function", "Kind", "Condition or guard"], _site_rows(sites, "no reason"))
    if len(sites) > MAX_LIST:
        lines += [f"… and {len(sites) - MAX_LIST} more; filter skips.csv on an empty `reason`.", ""]
    return lines


def _kind_table(rows: list[stats.FileRow], first: str, with_files: bool) -> list[str]:
    header = [first, "Sites"] + (["Files"] if with_files else []) + list(KINDS) + ["Top category"]
    body = [
        [f"`{cell(r.name, 90)}`", str(r.sites)] + ([str(r.files)] if with_files else [])
        + [str(r.by_kind.get(k, 0) or "") for k in KINDS] + [r.top_category]
        for r in rows
    ]
    return _table(header, body)


def _top_files(result: AuditResult) -> list[str]:
    return ["## Top files", ""] + _kind_table(stats.file_rows(result.sites, 20), "File", with_files=False)


def _directories(result: AuditResult) -> list[str]:
    rows = stats.directory_rows(result.sites, 30)
    return ["## By directory", ""] + _kind_table(rows, "Directory", with_files=True)


def _runtime(result: AuditResult) -> list[str]:
    run = result.runtime
    if run is None:
        return []
    lines = ["## What the run skipped (JUnit)", ""]
    lines.append(
        f"From {', '.join(f'`{f}`' for f in run.files)}: {run.tests} test cases, {run.skipped} skipped, "
        f"{run.xfailed} xfailed. “Static reason” is the scanned reason group the runtime reason matched "
        "(exact: same normalised text; pattern: a static reason with placeholders covers it)."
    )
    lines.append("")
    rows = [
        [g.outcome, cell(g.label or NO_REASON), str(g.count), g.category,
         f"{cell(g.matched_label, 80)} ({g.how})" if g.how else "no match"]
        for g in run.groups[:MAX_LIST]
    ]
    lines += _table(["Outcome", "Reason", "Tests", "Category", "Static reason"], rows)
    unmatched = [g for g in run.groups if not g.how]
    lines += [f"{len(run.groups) - len(unmatched)} of {len(run.groups)} runtime reasons matched a static "
              f"reason; {sum(g.count for g in unmatched)} outcomes did not.", ""]
    return lines


def _trend(result: AuditResult) -> list[str]:
    trend = result.trend
    if trend is None:
        return []
    lines = ["## Trend against the baseline", "", f"Baseline: `{trend.source}`.", ""]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    cats = sorted(trend.by_category, key=lambda c: order.get(c.key, len(order)))
    lines += _table(["Category", "Before", "Now", "Δ"], [[c.label, str(c.before), str(c.after), _signed(c.delta)]
                                                      for c in cats])
    changed = [c for c in trend.by_group if c.delta][:MAX_LIST]
    if not changed:
        return lines + ["No reason group changed.", ""]
    rows = [[cell(c.label), c.category, str(c.before), str(c.after), _signed(c.delta),
             "new" if not c.before else "gone" if not c.after else ""] for c in changed]
    return lines + _table(["Reason", "Category", "Before", "Now", "Δ", ""], rows)


def _not_scanned(result: AuditResult) -> list[str]:
    scan = result.scan
    if not scan.unparsable and not scan.notes:
        return []
    lines = ["## Files not scanned, and other notes", ""]
    rows = [[f"`{cell(n.rel, 100)}`", "not parsed: " + cell(n.what, 120)] for n in scan.unparsable]
    rows += [[f"`{cell(n.rel, 100)}`", cell(n.what, 120)] for n in scan.notes]
    return lines + _table(["File", "What"], rows)


def _method(result: AuditResult) -> list[str]:
    rules = result.rules
    options = result.options
    command = f"fibench audit skips {options.path}"
    if options.rules:
        command += f" --rules {options.rules} --rules-mode {options.rules_mode}"
    command += "".join(f" --junit {j}" for j in options.junit)
    if options.baseline:
        command += f" --baseline {options.baseline}"
    return [
        "## How this report was made",
        "",
        f"- Command: `{command}`.",
        f"- Rules: {len(rules.rules)} from {' + '.join(rules.sources)}. A site's category comes from its condition "
        "where a rule recognises it (the mark's condition and the `if`/`except` guards around the site, then what "
        "the names in them are bound to nearby: `condition_defs`), else from its reason's words; the first "
        "matching rule decides (no match: Other). `rule_id` and `decided_by` in skips.csv say which rule and "
        "which text.",
        "- A site is one mark, call or use of a reusable mark in the source (a mark bound to a name, directly, "
        "through a factory or as a copy, counts at each use). Tests affected (per site in skips.csv) counts the "
        "test items it can reach: the static parametrize product of the test it marks, or of every test that "
        "reaches its helper, fixture or hook (the JUnit section counts outcomes of a real run).",
        "- Reasons are grouped by a normalised key (case, spacing, hyphens, punctuation and dynamic parts "
        "ignored).",
        "",
    ]
