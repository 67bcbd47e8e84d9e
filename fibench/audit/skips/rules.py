"""Categorisation rules: load them from TOML, check them, apply them in order.

A rules file is a list of ``[[rule]]`` tables, tried top to bottom; the first rule
that matches a site decides its category, and its ``id`` goes in the CSV with what it
matched (``decided_by``: ``condition``, ``condition_defs`` or ``reason``). A site no rule matches is
``Other`` with an empty rule id. The default rules put the condition rules first, so a
site with a recognisable condition is categorised by it, and by its reason otherwise.

Keys of a rule:
- ``id`` (required): unique name, shown in the CSV's ``rule_id`` column.
- ``category`` (required): one of :data:`CATEGORIES`.
- ``pattern`` (required): a Python regex, searched (not anchored), case-insensitive
  unless ``case_sensitive = true``.
- ``match``: what text the pattern is searched in (default ``"reason"``):
  ``"reason"``: the rendered reason, placeholders included (``FA3 is not supported on
  {device}``; for importorskip ``requires module 'NAME'``);
  ``"condition"``: the mark's condition and the ``if``/``except`` guards around the
  site, one per line (``torch.cuda.get_device_capability()[0] < 9``), and, when no
  rule matches those, what the names in them are bound to nearby
  (``condition_defs``: ``_IS_BLACKWELL = _gvr_hw_supported()``);
  ``"any"``: reason, then conditions, on separate lines (tried with the reason rules).
- ``kinds``: only sites of these kinds (``importorskip``, ``runtime skip``, ...).
- ``description``, ``case_sensitive``: optional.

Loading: the default file ships in the package (``rules.toml``). ``--rules FILE``
replaces it (mode ``replace``) or is put in front of it (mode ``extend``: user rules
are tried first). Any problem (missing file, bad TOML, bad regex, unknown category,
unknown key, duplicate id) raises :class:`RulesError`, a one-line usage error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from fibench.audit.skips.marks import KINDS
from fibench.audit.skips.site import Site
from fibench.errors import UsageError

CATEGORIES = (
    "Hardware Requirements",
    "Feature Unsupported",
    "Parameter Validation",
    "Environment Issues",
    "Backend Limitations",
    "Other",
)
MATCH_FIELDS = ("reason", "condition", "any")
RULE_MODES = ("replace", "extend")
_KEYS = {"id", "category", "pattern", "match", "kinds", "description", "case_sensitive"}
DEFAULT_RULES = "rules.toml"


class RulesError(UsageError):
    """A rules file cannot be used (reported as one line, exit code 2)."""


@dataclass(frozen=True)
class Rule:
    """One compiled categorisation rule."""

    id: str
    category: str
    pattern: re.Pattern[str]
    match: str = "reason"
    kinds: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class RuleSet:
    """Rules in the order they are tried, and where they came from (for the report)."""

    rules: tuple[Rule, ...]
    sources: tuple[str, ...]
    user_rules: int = 0  # in extend mode: how many of ``rules`` (at the front) are the user's

    def layers(self) -> tuple[tuple[Rule, ...], ...]:
        """The rules by file, in the order the files are tried."""
        if not self.user_rules:
            return (self.rules,)
        return self.rules[: self.user_rules], self.rules[self.user_rules :]


def default_rules_text() -> str:
    """The rules file shipped with fibench."""
    return resources.files("fibench.audit.skips").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: Path | None = None, mode: str = "replace") -> RuleSet:
    """The rules to apply: the defaults; or ``path``'s rules alone (``replace``) or in
    front of the defaults (``extend``)."""
    if mode not in RULE_MODES:
        raise RulesError(f"unknown rules mode {mode!r} (use one of: {', '.join(RULE_MODES)})")
    default = parse_rules(default_rules_text(), f"fibench/audit/skips/{DEFAULT_RULES}")
    if path is None:
        return RuleSet(tuple(default), ("default",))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"rules file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read rules file {path}: {exc}") from None
    user = parse_rules(text, str(path))
    if mode == "replace":
        return RuleSet(tuple(user), (str(path),))
    _check_unique(user + default, f"{path} + default rules")
    return RuleSet(tuple(user + default), (str(path), "default"), user_rules=len(user))


def parse_rules(text: str, source: str) -> list[Rule]:
    """Parse and check the rules in a TOML document; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from None
    extra = set(data) - {"rule", "version"}
    if extra:
        raise RulesError(f"{source}: unknown top-level key(s): {', '.join(sorted(extra))} (expected [[rule]] tables)")
    tables = data.get("rule")
    if not isinstance(tables, list) or not tables:
        raise RulesError(f"{source}: defines no rules (expected one or more [[rule]] tables)")
    rules = [_rule(table, n, source) for n, table in enumerate(tables, start=1)]
    _check_unique(rules, source)
    return rules


def _rule(table: object, n: int, source: str) -> Rule:
    where = f"{source}: rule {n}"
    if not isinstance(table, dict):
        raise RulesError(f"{where}: expected a table")
    if isinstance(table.get("id"), str):
        where += f" ({table['id']})"
    unknown = set(table) - _KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("id", "category", "pattern"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise RulesError(f"{where}: '{key}' is required and must be a non-empty string")
    if table["category"] not in CATEGORIES:
        raise RulesError(f"{where}: unknown category {table['category']!r} (use one of: {', '.join(CATEGORIES)})")
    match = table.get("match", "reason")
    if match not in MATCH_FIELDS:
        raise RulesError(f"{where}: unknown match {match!r} (use one of: {', '.join(MATCH_FIELDS)})")
    kinds = table.get("kinds", [])
    if not isinstance(kinds, list) or any(k not in KINDS for k in kinds):
        raise RulesError(f"{where}: kinds must be a list of: {', '.join(KINDS)}")
    flags = 0 if table.get("case_sensitive", False) is True else re.IGNORECASE
    try:
        pattern = re.compile(table["pattern"], flags)
    except re.error as exc:
        raise RulesError(f"{where}: bad regex: {exc}") from None
    return Rule(table["id"], table["category"], pattern, match, tuple(kinds), str(table.get("description", "")))


def _check_unique(rules: Iterable[Rule], source: str) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RulesError(f"{source}: duplicate rule id {rule.id!r}")
        seen.add(rule.id)


class Verdict(NamedTuple):
    """A site's category, the rule that gave it, and which text that rule matched:
    ``condition`` (as written), ``condition_defs`` (what its names are bound to) or
    ``reason``; "" when no rule matched."""

    category: str
    rule_id: str
    decided_by: str


def decide(
    rules: RuleSet, kind: str, reason: str, conditions: Sequence[str] = (), definitions: str = ""
) -> Verdict:
    """Categorise one site. Within each rules file (in extend mode the user's first),
    the condition rules are tried on each of ``conditions`` in turn (the mark's own
    condition, then the guards around the site from the innermost out: in ``if a: ...
    elif b: skip()`` the ``b`` speaks first), then on ``definitions`` (what the
    condition's names are bound to), then the reason rules on the reason (``any`` rules
    there too, on the reason and the conditions together). The first match decides, so
    a condition outranks the reason's wording, and a written condition outranks what a
    helper it calls happens to contain. No match: ``Other``."""
    conditions = [c for c in conditions if c]
    both = "\n".join([reason, *conditions])
    for layer in rules.layers():
        texts = [("condition", c) for c in conditions] + [("condition_defs", definitions)]
        for decided_by, text in texts:
            for rule in layer:
                if rule.match == "condition" and text and (not rule.kinds or kind in rule.kinds) \
                        and rule.pattern.search(text):
                    return Verdict(rule.category, rule.id, decided_by)
        for rule in layer:
            if rule.kinds and kind not in rule.kinds:
                continue
            if rule.match == "reason" and rule.pattern.search(reason):
                return Verdict(rule.category, rule.id, "reason")
            if rule.match == "any" and rule.pattern.search(both):
                return Verdict(rule.category, rule.id, "reason" if rule.pattern.search(reason) else "condition")
    return Verdict("Other", "", "")


def categorise(rules: RuleSet, kind: str, reason: str, condition: str = "") -> tuple[str, str]:
    """(category, rule id) for a reason and one condition; ``("Other", "")`` when no
    rule matches."""
    verdict = decide(rules, kind, reason, [condition])
    return verdict.category, verdict.rule_id


def site_conditions(site: Site) -> list[str]:
    """The condition texts rules see, in order: the mark's condition, then the guards
    from the innermost out (``guard`` as one text when the pieces are not known)."""
    guards = list(reversed(site.guards)) if site.guards else [site.guard]
    return [site.condition] + guards


def categorise_sites(sites: Iterable[Site], rules: RuleSet) -> list[Site]:
    """Copies of ``sites`` with ``category``, ``rule_id`` and ``decided_by`` filled in."""
    out = []
    for site in sites:
        verdict = decide(rules, site.kind, site.reason, site_conditions(site), site.condition_defs)
        out.append(replace(site, category=verdict.category, rule_id=verdict.rule_id, decided_by=verdict.decided_by))
    return out
