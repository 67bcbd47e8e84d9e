"""Rich console summary of a skips audit: categories, kinds, top reasons (by sites and by
tests affected; "+" marks a total that leaves catch-all conftest sites out), top files."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from fibench.audit.skips import stats
from fibench.audit.skips.groups import by_tests_affected
from fibench.audit.skips.result import AuditResult

TOP_REASONS = 10
TOP_FILES = 5


def print_summary(result: AuditResult, written: list[Path], console: Console | None = None) -> None:
    """Print the summary tables and where the files went."""
    console = console or Console()
    scan = result.scan
    console.print(
        f"[bold]fibench audit skips[/bold] {result.options.path}: {len(result.sites)} sites in "
        f"{len({s.file for s in result.sites})} files ({scan.files_found} Python files found, "
        f"{scan.files_walked} with marks); {result.suite.test_functions:,} test functions, "
        f"{result.suite.test_items:,} test items; {result.scan_seconds:.1f} s",
        soft_wrap=True,
    )

    categories = Table(title="Categories")
    for name in ("category", "sites", "%", "reasons", "unconditional", "tests affected"):
        categories.add_column(name, justify="left" if name == "category" else "right")
    if result.trend:
        categories.add_column("Δ baseline", justify="right")
    if result.runtime:
        categories.add_column("run skipped", justify="right")
        categories.add_column("run xfailed", justify="right")
    for row in stats.category_rows(result):
        cells = [row.category, str(row.sites), f"{row.percent:.1f}", str(row.groups), str(row.unconditional),
                 f"{row.tests_affected:,}" + ("+" if row.catch_all else "")]
        if result.trend:
            cells.append(f"{row.delta:+d}")
        if result.runtime:
            cells += [str(row.run_skipped), str(row.run_xfailed)]
        categories.add_row(*cells)
    console.print(categories)

    kinds = Table(title="Kinds")
    kinds.add_column("kind")
    kinds.add_column("sites", justify="right")
    for kind, count in stats.kind_counts(result.sites):
        kinds.add_row(kind, str(count))
    console.print(kinds)

    for title, groups in ((f"Top {TOP_REASONS} reasons by sites", result.groups),
                          (f"Top {TOP_REASONS} reasons by tests affected", by_tests_affected(result.groups))):
        reasons = Table(title=title)
        for name in ("reason", "sites", "tests affected", "category", "files"):
            reasons.add_column(name, justify="left" if name in ("reason", "category") else "right")
        for group in groups[:TOP_REASONS]:
            reasons.add_row(group.label[:90], str(group.sites), f"{group.tests_affected:,}", group.category,
                            str(len(group.files)))
        console.print(reasons)

    files = Table(title=f"Top {TOP_FILES} files")
    files.add_column("file")
    files.add_column("sites", justify="right")
    files.add_column("top category")
    for row in stats.file_rows(result.sites, TOP_FILES):
        files.add_row(row.name, str(row.sites), row.top_category)
    console.print(files)

    if scan.unparsable:
        console.print(f"[yellow]{len(scan.unparsable)} file(s) could not be parsed (listed in skips.md)[/yellow]")
    warned = sum(1 for s in result.sites if s.warning)
    if warned:
        console.print(f"[yellow]{warned} mark(s) pytest will reject or misread (listed in skips.md)[/yellow]")
    if result.runtime:
        run = result.runtime
        console.print(f"run: {run.tests} tests, {run.skipped} skipped, {run.xfailed} xfailed", soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True, markup=False, highlight=False)
