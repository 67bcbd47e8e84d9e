"""`fibench audit skips PATH`: the Typer command (thin: parse, call the library, print)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from fibench.cli.common import one_line_errors
from fibench.errors import UsageError
from fibench.outdir import prepare_out_dir

PathArg = Annotated[Path, typer.Argument(metavar="PATH", help="Test tree (directory) or a single test file to scan.")]
OutOption = Annotated[
    Optional[Path],
    typer.Option(
        "--out", metavar="DIR", help="Output directory for skips.csv and skips.md (default: fibench-results/skips-TIMESTAMP)."
    ),
]
RulesOption = Annotated[
    Optional[Path],
    typer.Option(
        "--rules", metavar="FILE", help="TOML rules file for categorising reasons (see fibench/audit/skips/rules.toml)."
    ),
]
RulesModeOption = Annotated[
    Optional[str],
    typer.Option(
        "--rules-mode",
        metavar="replace|extend",
        help="With --rules: 'replace' the default rules (default) or 'extend' them (your rules are tried first).",
    ),
]
JunitOption = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--junit", metavar="FILE", help="pytest JUnit XML file of a real run (repeatable): adds skipped/xfailed outcomes."
    ),
]
BaselineOption = Annotated[
    Optional[Path],
    typer.Option(
        "--baseline", metavar="CSV", help="skips.csv from an earlier run: adds the change per category and per reason."
    ),
]


@one_line_errors
def skips_command(
    path: PathArg,
    out: OutOption = None,
    rules: RulesOption = None,
    rules_mode: RulesModeOption = None,
    junit: JunitOption = None,
    baseline: BaselineOption = None,
) -> None:
    """Audit what a pytest test tree skips and xfails, and why, by reading its source
    (nothing is imported or run). Each site is categorised from its condition where one
    is recognised, from its reason's words otherwise, and counts the tests it can affect.
    Writes skips.csv (one row per site) and skips.md (summary, categories, rankings by
    sites and by tests affected, reasons by category, top files) and prints a summary."""
    from fibench.audit.skips.audit import run_audit, write_outputs
    from fibench.audit.skips.console import print_summary
    from fibench.audit.skips.result import AuditOptions

    if rules_mode is not None and rules is None:
        raise UsageError("--rules-mode needs --rules")
    if path.is_file() and path.suffix != ".py":
        raise UsageError(f"{path} is not a Python file (.py); give a test file or a test folder")
    options = AuditOptions(
        path=path,
        rules=rules,
        rules_mode=rules_mode or "replace",
        junit=tuple(junit or ()),
        baseline=baseline,
    )
    out_dir = out or Path("fibench-results") / f"skips-{datetime.now():%Y%m%d-%H%M%S}"
    existed = out_dir.exists()
    prepare_out_dir(out_dir, owned=("skips.csv", "skips.md"), what="skips audit")
    try:
        result = run_audit(options)
        if result.scan.files_found == 0:
            raise UsageError(f"no Python files under {path}: nothing to audit")
    except UsageError:
        if not existed:
            out_dir.rmdir()  # made a moment ago for the results, still empty
        raise
    written = write_outputs(result, out_dir)
    print_summary(result, written)
