"""Markdown report (skips.md) for one skips audit: a pure function of the result.

Sections: executive summary; categories (count, share, and the trend / run columns
when a baseline or JUnit files were given); kinds and xfail strictness; per category
the reason groups by count with the files affected; unconditional sites; sites with no
reason; top files; per-directory counts; the JUnit view; the trend; files not scanned;
how the report was made. Long tables are cut at a stated length; skips.csv has all.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from fibench.audit.skips import stats
from fibench.audit.skips.groups import NO_REASON, group_sites
from fibench.audit.skips.marks import KINDS
from fibench.audit.skips.result import AuditResult
from fibench.audit.skips.rules import CATEGORIES

MAX_GROUPS_PER_CATEGORY = 40
MAX_LIST = 50
MAX_REASON_CHARS = 160


def cell(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """Text made safe for one Markdown table cell: one line, pipes escaped, cut."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _signed(value: int | None) -> str:
    return "" if value is None else f"{value:+d}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _files(files: tuple[tuple[str, int], ...], shown: int = 3) -> str:
    parts = [f"`{cell(PurePosixPath(name).as_posix(), 80)}` ({n})" for name, n in files[:shown]]
    if len(files) > shown:
        parts.append(f"+{len(files) - shown} more")
    return ", ".join(parts)


def render_markdown(result: AuditResult) -> str:
    """The whole skips.md document."""
    sections = [
        _header(result),
        _summary(result),
        _categories(result),
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
        f"({scan.files_found} Python files found; {scan.files_walked} mention skip/xfail or an alias "
        f"and were parsed; scan took {result.scan_seconds:.1f} s)."
    )
    if not total:
        return lines + [""]
    ranked = sorted(stats.category_rows(result), key=lambda r: -r.sites)
    shares = ", ".join(f"{r.category} {r.sites} ({r.percent:.1f}%)" for r in ranked if r.sites)
    lines.append(f"- By category: {shares}.")
    unconditional = sum(s.unconditional for s in sites)
    lines.append(
        f"- **{unconditional} unconditional** sites skip or xfail whenever they are reached (no condition, no "
        "guard): dead or permanently failing tests unless someone runs them by hand. Listed below."
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
        f"- **{no_reason} sites give no reason**; {dynamic} build their reason at run time "
        "(shown with `{placeholders}` for the dynamic parts)."
    )
    contexts = stats.context_counts(sites)
    lines.append(
        f"- Outside test functions: {contexts.get('fixture', 0)} in fixtures, {contexts.get('helper', 0)} in "
        f"helper functions, {contexts.get('module', 0)} at module level and {contexts.get('class', 0)} on classes "
        f"(each can skip many tests); {contexts['conftest']} sites are in conftest.py files."
    )
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
    header = ["Category", "Sites", "%", "Reasons", "Files", "Unconditional"]
    if result.trend:
        header.append("Δ vs baseline")
    if result.runtime:
        header += ["Run: skipped", "Run: xfailed"]
    body = []
    for r in rows:
        row = [r.category, str(r.sites), f"{r.percent:.1f}%", str(r.groups), str(r.files), str(r.unconditional)]
        if result.trend:
            row.append(_signed(r.delta))
        if result.runtime:
            row += [str(r.run_skipped), str(r.run_xfailed)]
        body.append(row)
    total = ["**Total**", f"**{len(result.sites)}**", "100%" if result.sites else "0%", str(len(result.groups)),
             str(len({s.file for s in result.sites})), str(sum(s.unconditional for s in result.sites))]
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
        header = ["Reason", "Sites", "Kinds", "Files affected", "Rule"]
        if result.trend:
            header.append("Δ")
        rows = []
        for g in groups[:MAX_GROUPS_PER_CATEGORY]:
            row = [cell(g.label), str(g.sites), ", ".join(f"{k} {n}" for k, n in g.kinds), _files(g.files),
                   _code(g.rule_id) or "(none)"]
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
        f"- Rules: {len(rules.rules)} from {' + '.join(rules.sources)}, tried in order; the first match sets a "
        "site's category (no match: Other). A rule searches the rendered reason, or the mark's condition plus the "
        "`if`/`except` guards around the site, or both; `rule_id` in skips.csv names the rule that matched.",
        "- A site is one mark, call or alias use in the source; a parametrized test or a fixture counts once "
        "however many tests it skips (the JUnit section counts outcomes).",
        "- Reasons are grouped by a normalised key (case, spacing, punctuation and dynamic parts ignored).",
        "",
    ]
