"""Run a skips audit end to end and write its files.

``run_audit`` is the one call the CLI makes: scan -> categorise -> tests reached ->
group -> (JUnit) -> (baseline trend), returning an :class:`AuditResult`. ``write_outputs`` writes
``skips.csv`` (one row per site, pandas) and ``skips.md`` (see
:mod:`fibench.audit.skips.report`), plus ``skips_runtime.csv`` when JUnit files were
given.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from fibench.audit.skips.affected import SuiteGraph
from fibench.audit.skips.totals import suite_size, with_reach
from fibench.audit.skips.baseline import compute_trend, load_baseline
from fibench.audit.skips.groups import group_sites
from fibench.audit.skips.inifile import find_xfail_default
from fibench.audit.skips.junit import JunitSummary, summarise_junit
from fibench.audit.skips.report import render_markdown
from fibench.audit.skips.result import AuditOptions, AuditResult
from fibench.audit.skips.rules import categorise_sites, load_rules
from fibench.audit.skips.scan import scan_tree
from fibench.audit.skips.site import COLUMNS, Site
from fibench.errors import UsageError

CSV_NAME = "skips.csv"
MD_NAME = "skips.md"
RUNTIME_CSV_NAME = "skips_runtime.csv"


def run_audit(options: AuditOptions) -> AuditResult:
    """Scan ``options.path``, categorise and group its sites, add the runtime view and
    the trend when asked. Bad input (missing path, rules, JUnit or baseline file)
    raises :class:`fibench.errors.UsageError` before any scanning."""
    if not options.path.exists():
        raise UsageError(f"path not found: {options.path}")
    rules = load_rules(options.rules, options.rules_mode)
    baseline = load_baseline(options.baseline) if options.baseline else None
    for junit in options.junit:
        if not junit.is_file():
            raise UsageError(f"JUnit file not found: {junit}")
    started = time.perf_counter()
    scan = scan_tree(options.path)
    graph = SuiteGraph(scan.indexes, scan.module_map)
    sites = with_reach(categorise_sites(scan.sites, rules), graph)
    scan_seconds = time.perf_counter() - started
    groups = group_sites(sites)
    runtime = summarise_junit(options.junit, groups, rules) if options.junit else None
    trend = compute_trend(sites, baseline, str(options.baseline)) if baseline is not None else None
    return AuditResult(
        options, scan, sites, groups, rules, runtime, trend, find_xfail_default(options.path), scan_seconds,
        suite=suite_size(graph),
    )


def sites_frame(sites: list[Site]) -> pd.DataFrame:
    """One row per site, columns in :data:`fibench.audit.skips.site.COLUMNS` order."""
    return pd.DataFrame([{c: getattr(s, c) for c in COLUMNS} for s in sites], columns=list(COLUMNS))


def runtime_frame(runtime: JunitSummary) -> pd.DataFrame:
    """One row per runtime (outcome, reason) group."""
    columns = ["outcome", "label", "count", "category", "rule_id", "how", "matched_label", "key", "matched_key"]
    return pd.DataFrame([asdict(g) for g in runtime.groups], columns=columns)


def write_outputs(result: AuditResult, out_dir: Path) -> list[Path]:
    """Write skips.csv and skips.md (and skips_runtime.csv) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / CSV_NAME, out_dir / MD_NAME]
    sites_frame(result.sites).to_csv(written[0], index=False)
    written[1].write_text(render_markdown(result), encoding="utf-8")
    if result.runtime is not None:
        written.append(out_dir / RUNTIME_CSV_NAME)
        runtime_frame(result.runtime).to_csv(written[-1], index=False)
    return written
