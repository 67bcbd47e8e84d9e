"""The result of one skips audit, and the options that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from fibench.audit.skips.totals import SuiteSize
from fibench.audit.skips.baseline import Trend
from fibench.audit.skips.groups import ReasonGroup
from fibench.audit.skips.inifile import XfailDefault
from fibench.audit.skips.junit import JunitSummary
from fibench.audit.skips.rules import RuleSet
from fibench.audit.skips.scan import ScanResult
from fibench.audit.skips.site import Site


@dataclass(frozen=True)
class AuditOptions:
    """Everything a skips audit needs, resolved by the caller (the CLI)."""

    path: Path
    rules: Path | None = None
    rules_mode: str = "replace"
    junit: tuple[Path, ...] = ()
    baseline: Path | None = None


@dataclass
class AuditResult:
    """What one audit found; the writers and the console summary read only this."""

    options: AuditOptions
    scan: ScanResult
    sites: list[Site]
    groups: list[ReasonGroup]
    rules: RuleSet
    runtime: JunitSummary | None = None
    trend: Trend | None = None
    xfail_default: XfailDefault = XfailDefault("", False)
    scan_seconds: float = 0.0  # scanning, categorising and counting the tests reached
    suite: SuiteSize = SuiteSize(0, 0, 0)
    generated: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
