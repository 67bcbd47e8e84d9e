"""Trend against an earlier run: site counts per category and per reason group.

The baseline is a ``skips.csv`` from an earlier ``fibench audit skips`` run; only its
``category`` and ``reason`` columns are read; the group key of each row is worked out
again from its reason with the current :func:`~fibench.audit.skips.reasons.group_key`, so a
baseline written by an older fibench (other key format) still lines up. A reason group is
identified by its group key, so a reason reworded only in case, spacing, punctuation
or dynamic parts is the same group in both runs. Change = now - before; a group that
disappeared has ``after == 0``, a new one ``before == 0``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from fibench.audit.skips.groups import NO_REASON
from fibench.audit.skips.reasons import group_key
from fibench.audit.skips.site import Site
from fibench.errors import UsageError

REQUIRED_COLUMNS = ("category", "reason")


@dataclass(frozen=True)
class Change:
    """Counts of one category or reason group before and now."""

    key: str  # category name, or group key
    label: str  # category name, or the group's most common reason
    category: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        """now - before"""
        return self.after - self.before


@dataclass(frozen=True)
class Trend:
    """Changes against one baseline file."""

    source: str
    total_before: int
    total_after: int
    by_category: tuple[Change, ...]
    by_group: tuple[Change, ...]  # every group seen in either run, biggest change first

    def category_delta(self, category: str) -> int | None:
        """Change for one category, None when it is in neither run."""
        return next((c.delta for c in self.by_category if c.key == category), None)

    def group_delta(self, key: str) -> int | None:
        """Change for one reason group, None when it is in neither run."""
        return next((c.delta for c in self.by_group if c.key == key), None)


def load_baseline(path: Path) -> pd.DataFrame:
    """Read a skips.csv (all columns as text, empty stays empty); one-line error if it
    is missing, not CSV, or lacks the columns the trend needs."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UsageError(f"baseline file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"baseline {path}: not a readable CSV: {str(exc).splitlines()[0]}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(f"baseline {path}: not a skips.csv (missing column(s): {', '.join(missing)})")
    return frame


def compute_trend(sites: Iterable[Site], baseline: pd.DataFrame, source: str) -> Trend:
    """Per-category and per-group changes from ``baseline`` to ``sites``."""
    now = list(sites)
    before_rows = list(zip(baseline["category"], baseline["reason"].map(group_key), baseline["reason"]))
    categories = _changes(
        Counter(c for c, _, _ in before_rows),
        Counter(s.category for s in now),
        labels={},
        categories={},
    )
    labels = _labels((k, r) for _, k, r in before_rows)
    labels.update(_labels((s.group_key, s.reason) for s in now))
    group_category = {k: c for c, k, _ in before_rows}
    group_category.update({s.group_key: s.category for s in now})
    groups = _changes(
        Counter(k for _, k, _ in before_rows),
        Counter(s.group_key for s in now),
        labels=labels,
        categories=group_category,
    )
    return Trend(source, len(before_rows), len(now), tuple(categories), tuple(groups))


def _labels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Most common reason per group key (first seen on ties)."""
    counts: dict[str, Counter] = {}
    for key, reason in pairs:
        counts.setdefault(key, Counter())[reason] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in counts.items()}


def _changes(before: Counter, after: Counter, labels: dict, categories: dict) -> list[Change]:
    changes = [
        Change(
            key=key,
            label=labels.get(key, key) or NO_REASON,
            category=categories.get(key, key),
            before=before.get(key, 0),
            after=after.get(key, 0),
        )
        for key in set(before) | set(after)
    ]
    changes.sort(key=lambda c: (-abs(c.delta), -c.after, c.label.lower()))
    return changes
