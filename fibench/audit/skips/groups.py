"""Group sites by their normalised reason (``group_key``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from fibench.audit.skips.totals import is_catch_all, union_functions, union_items
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
        tests_affected / test_functions: test items (functions) at least one of its
            sites can affect, each counted once, catch-all sites left out (see
            :func:`fibench.audit.skips.affected.union_items`).
        catch_all: its sites that can affect every test under their conftest.
    """

    key: str
    label: str
    category: str
    rule_id: str
    sites: int
    files: tuple[tuple[str, int], ...]
    kinds: tuple[tuple[str, int], ...]
    unconditional: int
    tests_affected: int = 0
    test_functions: int = 0
    catch_all: int = 0


def group_sites(sites: Iterable[Site]) -> list[ReasonGroup]:
    """Reason groups, most sites first (then by label); :func:`by_tests_affected`
    ranks them the other way."""
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
                tests_affected=union_items(group),
                test_functions=union_functions(group),
                catch_all=sum(is_catch_all(s) for s in group),
            )
        )
    groups.sort(key=lambda g: (-g.sites, g.label.lower()))
    return groups


def by_tests_affected(groups: Iterable[ReasonGroup]) -> list[ReasonGroup]:
    """Reason groups, most tests affected first (then most sites, then by label);
    groups made only of catch-all sites are left out."""
    ranked = [g for g in groups if g.catch_all < g.sites]
    return sorted(ranked, key=lambda g: (-g.tests_affected, -g.sites, g.label.lower()))
