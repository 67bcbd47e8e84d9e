"""Group sites by their normalised reason (``group_key``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from fibench.audit.skips.site import Site

NO_REASON = "(no reason given)"


@dataclass(frozen=True)
class ReasonGroup:
    """Sites that share one normalised reason.

    Attributes:
        key: the group key (normalised reason; "" when no reason was given).
        label: the most common rendered reason in the group (first seen on ties).
        category / rule_id: the most common category among its sites, and the rule
            that gave it (a group can straddle categories when conditions differ).
        sites: number of sites.
        files: (file, sites) pairs, most sites first.
        kinds: (kind, sites) pairs, most sites first.
        unconditional: sites that apply whenever reached.
    """

    key: str
    label: str
    category: str
    rule_id: str
    sites: int
    files: tuple[tuple[str, int], ...]
    kinds: tuple[tuple[str, int], ...]
    unconditional: int


def group_sites(sites: Iterable[Site]) -> list[ReasonGroup]:
    """Reason groups, most sites first (then by label)."""
    members: dict[str, list[Site]] = {}
    for site in sites:
        members.setdefault(site.group_key, []).append(site)
    groups = []
    for key, group in members.items():
        label = Counter(s.reason for s in group).most_common(1)[0][0] or NO_REASON
        category, rule_id = Counter((s.category, s.rule_id) for s in group).most_common(1)[0][0]
        groups.append(
            ReasonGroup(
                key=key,
                label=label,
                category=category,
                rule_id=rule_id,
                sites=len(group),
                files=tuple(Counter(s.file for s in group).most_common()),
                kinds=tuple(Counter(s.kind for s in group).most_common()),
                unconditional=sum(s.unconditional for s in group),
            )
        )
    groups.sort(key=lambda g: (-g.sites, g.label.lower()))
    return groups
