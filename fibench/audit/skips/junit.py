"""What a real run skipped: read pytest JUnit XML and line it up with the static groups.

pytest writes a skipped test as ``<skipped type="pytest.skip" message="REASON">`` with
``FILE:LINE: REASON`` as the element text, and an xfailed one as ``<skipped
type="pytest.xfail" message="REASON">``. Older versions and other tools put the
``FILE:LINE:`` prefix (or ``Skipped:`` / ``reason:``) into the message itself; all of
these are stripped. importorskip messages (``could not import 'x': ...``, ``module 'x'
has __version__ ..., required is: 'v'``) are rewritten to the wording the static scan
uses (``requires module 'x'`` / ``requires module 'x' >= v``) so they can match.

Matching a runtime reason to a static group: first by equal group keys ("exact"),
else by a static key with placeholders that stands for it (``fa3 is not supported on
{}`` matches ``fa3 is not supported on cuda 0``; "pattern"). The group's category is
used for a match; an unmatched reason is categorised by the rules on its own text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from fibench.audit.skips.groups import ReasonGroup
from fibench.audit.skips.reasons import group_key, key_pattern
from fibench.audit.skips.rules import RuleSet, categorise
from fibench.errors import UsageError

_LOCATION = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+): ?(?P<rest>.*)$", re.S)
_NO_MODULE = re.compile(r"^could not import '(?P<mod>[^']+)'")
_OLD_MODULE = re.compile(r"^module '(?P<mod>[^']+)' has __version__ .*, required is: '(?P<version>[^']+)'")


@dataclass(frozen=True)
class Outcome:
    """One skipped or xfailed test case from a JUnit file."""

    outcome: str  # "skipped" or "xfailed"
    kind: str  # "runtime skip", "runtime xfail" or "importorskip" (from the message)
    reason: str
    test: str  # classname::name
    file: str  # location pytest gave, "" when none
    line: int | None


@dataclass(frozen=True)
class RuntimeGroup:
    """Runtime outcomes that share one outcome and reason key."""

    outcome: str
    key: str
    label: str
    count: int
    category: str
    rule_id: str
    matched_key: str  # key of the static group it matched, "" when none
    matched_label: str
    how: str  # "exact", "pattern" or "" (no static group matched)


@dataclass(frozen=True)
class JunitSummary:
    """All JUnit files read, their totals and the grouped runtime reasons."""

    files: tuple[str, ...]
    tests: int
    skipped: int
    xfailed: int
    groups: tuple[RuntimeGroup, ...]


def _strip_prefixes(reason: str) -> str:
    for prefix in ("Skipped: ", "reason: "):
        reason = reason.removeprefix(prefix)
    return reason.strip()


def clean_message(message: str, text: str = "") -> tuple[str, str, int | None, str]:
    """(reason, file, line, kind hint) from a ``<skipped>`` element's message and text.

    The kind hint is ``importorskip`` when the message is pytest's importorskip wording,
    else empty."""
    reason = _strip_prefixes(message or text or "")
    located = _LOCATION.match(reason)
    if located:
        reason = _strip_prefixes(located["rest"])
    else:
        located = _LOCATION.match((text or "").strip())
    file, line = (located["file"], int(located["line"])) if located else ("", None)
    missing, old = _NO_MODULE.match(reason), _OLD_MODULE.match(reason)
    if missing:
        return f"requires module '{missing['mod']}'", file, line, "importorskip"
    if old:
        return f"requires module '{old['mod']}' >= {old['version']}", file, line, "importorskip"
    return reason, file, line, ""


def read_junit(paths: Sequence[Path]) -> tuple[int, list[Outcome]]:
    """(number of test cases, skipped/xfailed outcomes) over all ``paths``."""
    tests = 0
    outcomes: list[Outcome] = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            raise UsageError(f"JUnit file not found: {path}") from None
        except (ET.ParseError, OSError) as exc:
            raise UsageError(f"{path}: not readable as JUnit XML: {exc}") from None
        if root.tag not in ("testsuites", "testsuite"):
            raise UsageError(f"{path}: not JUnit XML (root element <{root.tag}>)")
        for case in root.iter("testcase"):
            tests += 1
            skipped = case.find("skipped")
            if skipped is None:
                continue
            xfail = skipped.get("type", "") == "pytest.xfail"
            reason, file, line, hint = clean_message(skipped.get("message", ""), skipped.text or "")
            kind = hint or ("runtime xfail" if xfail else "runtime skip")
            test = "::".join(part for part in (case.get("classname", ""), case.get("name", "")) if part)
            outcomes.append(Outcome("xfailed" if xfail else "skipped", kind, reason, test, file, line))
    return tests, outcomes


def summarise_junit(paths: Sequence[Path], static: Iterable[ReasonGroup], rules: RuleSet) -> JunitSummary:
    """Read ``paths`` and group their outcomes by reason: outcomes whose reasons match
    the same static group are counted together (``FA3 ... on cpu`` and ``... on meta``
    both count for ``FA3 ... on {device}``); unmatched ones by their own key."""
    tests, outcomes = read_junit(paths)
    by_key = {g.key: g for g in static}
    patterns = [(pattern, g) for g in by_key.values() if (pattern := key_pattern(g.key)) is not None]
    patterns.sort(key=lambda pg: -len(pg[1].key.replace("{}", "")))  # most literal text first
    matches: dict[str, tuple[ReasonGroup | None, str]] = {}
    buckets: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        key = group_key(outcome.reason)
        if key not in matches:
            matches[key] = _match(key, by_key, patterns)
        match = matches[key][0]
        buckets.setdefault((outcome.outcome, match.key if match else key), []).append(outcome)
    groups = []
    for (kind_of_outcome, key), members in buckets.items():
        label = Counter(o.reason for o in members).most_common(1)[0][0]
        match, how = matches[group_key(members[0].reason)]
        if match is not None:
            category, rule_id = match.category, match.rule_id
        else:
            category, rule_id = categorise(rules, members[0].kind, label)
        groups.append(
            RuntimeGroup(
                outcome=kind_of_outcome,
                key=key,
                label=label,
                count=len(members),
                category=category,
                rule_id=rule_id,
                matched_key=match.key if match else "",
                matched_label=match.label if match else "",
                how=how,
            )
        )
    groups.sort(key=lambda g: (-g.count, g.outcome, g.label.lower()))
    return JunitSummary(
        files=tuple(str(p) for p in paths),
        tests=tests,
        skipped=sum(o.outcome == "skipped" for o in outcomes),
        xfailed=sum(o.outcome == "xfailed" for o in outcomes),
        groups=tuple(groups),
    )


def _match(
    key: str, by_key: dict[str, ReasonGroup], patterns: list[tuple[re.Pattern[str], ReasonGroup]]
) -> tuple[ReasonGroup | None, str]:
    """The static group a runtime key belongs to and how it matched ("exact" /
    "pattern"), or (None, "")."""
    if key in by_key:
        return by_key[key], "exact"
    for pattern, group in patterns:
        if pattern.fullmatch(key):
            return group, "pattern"
    return None, ""
