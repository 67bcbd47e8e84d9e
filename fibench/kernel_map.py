"""Kernel-name maps: which kernels make up which logical op, per suite and backend.

Maps are data (``fibench/kernel_maps/<suite>.toml``)::

    phases = ["routing", "permute", "gemm1", ...]      # report column order

    [[backend."flashinfer-cutlass"]]
    op = "gemm1"                    # logical op
    phase = "gemm1"                 # phase column it rolls up into (must be in phases)
    match = ["GroupProblemShape"]   # regexes searched in the kernel name (any may match)
    nth = 1                         # optional: only the nth kernel matching `match` in a call

A kernel matched by two rules is an error naming both (never "first match wins"); a kernel
matched by none is reported as unmapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fibench.errors import KernelMapError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass(frozen=True)
class OpRule:
    """One logical op of one backend.

    Attributes:
        op: logical op name; phase: rollup column; patterns: compiled regexes;
        nth: 1-based occurrence among kernels matching ``patterns`` within one call, or None.
    """

    op: str
    phase: str
    patterns: tuple[re.Pattern[str], ...]
    nth: int | None = None

    def matches_name(self, name: str) -> bool:
        """Whether any pattern occurs in ``name``."""
        return any(p.search(name) for p in self.patterns)


@dataclass(frozen=True)
class KernelMap:
    """The map of one suite: phase order and the rules of each backend."""

    suite: str
    phases: tuple[str, ...]
    backends: dict[str, tuple[OpRule, ...]]

    def rules(self, backend: str) -> tuple[OpRule, ...]:
        """Rules of ``backend`` (empty when the map has no entry for it)."""
        return self.backends.get(backend, ())

    def classify(self, backend: str, names: list[str]) -> list[OpRule | None]:
        """Logical op of each kernel of one call, in call order (None = unmapped).

        Raises:
            KernelMapError: a kernel matches two rules.
        """
        rules = self.rules(backend)
        seen = [0] * len(rules)
        out: list[OpRule | None] = []
        for name in names:
            hits = []
            for i, rule in enumerate(rules):
                if not rule.matches_name(name):
                    continue
                seen[i] += 1
                if rule.nth is None or rule.nth == seen[i]:
                    hits.append(rule)
            if len(hits) > 1:
                raise KernelMapError(f"{self.suite} map, backend {backend}: kernel '{name[:120]}' "
                                     f"matches ops {', '.join(r.op for r in hits)}")
            out.append(hits[0] if hits else None)
        return out


def parse_map(suite: str, data: dict) -> KernelMap:
    """Build a :class:`KernelMap` from parsed TOML.

    Raises:
        KernelMapError: missing keys, unknown phase, bad regex, bad ``nth``.
    """
    phases = tuple(data.get("phases", ()))
    if not phases:
        raise KernelMapError(f"{suite} map: 'phases' list missing")
    backends: dict[str, tuple[OpRule, ...]] = {}
    for backend, entries in data.get("backend", {}).items():
        rules = []
        for entry in entries:
            where = f"{suite} map, backend {backend}, op {entry.get('op', '?')}"
            try:
                op, phase, match = entry["op"], entry["phase"], entry["match"]
            except KeyError as exc:
                raise KernelMapError(f"{where}: missing key {exc}") from None
            if phase not in phases:
                raise KernelMapError(f"{where}: phase '{phase}' not in phases {list(phases)}")
            match = [match] if isinstance(match, str) else list(match)
            try:
                patterns = tuple(re.compile(m) for m in match)
            except re.error as exc:
                raise KernelMapError(f"{where}: bad regex: {exc}") from None
            nth = entry.get("nth")
            if nth is not None and (not isinstance(nth, int) or nth < 1):
                raise KernelMapError(f"{where}: nth must be a positive integer")
            rules.append(OpRule(op, phase, patterns, nth))
        backends[backend] = tuple(rules)
    return KernelMap(suite, phases, backends)


def load_map(suite: str, path: Path | None = None) -> KernelMap:
    """Load the map of ``suite`` (the packaged TOML unless ``path`` is given).

    Raises:
        KernelMapError: file missing or invalid.
    """
    try:
        if path is None:
            text = resources.files("fibench.kernel_maps").joinpath(f"{suite}.toml").read_text()
        else:
            text = Path(path).read_text()
    except (FileNotFoundError, OSError) as exc:
        raise KernelMapError(f"kernel map for suite '{suite}' not found: {exc}") from None
    try:
        return parse_map(suite, tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise KernelMapError(f"{suite} map: invalid TOML: {exc}") from None
