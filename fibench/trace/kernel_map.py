"""Kernel-name maps: which kernels make up which logical op, per suite and backend.

Maps are data (``fibench/kernel_maps/<suite>.toml``)::

    phases = ["routing", "permute", "gemm1", ...]      # report column order

    [[backend."flashinfer-cutlass"]]
    op = "gemm1"                    # logical op
    phase = "gemm1"                 # phase column it rolls up into (must be in phases)
    match = ["GroupProblemShape"]   # regexes searched in the kernel name (any may match)
    nth = 1                         # optional: only the nth kernel matching the rule in a call

    [[backend."torch-grouped"]]
    op = "activation"
    phase = "activation"
    range = "activation"            # instead of `match`: kernels launched inside the backend's
                                    # fibench.op:activation range (fibench.trace.profiling.op_range)

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
        op: logical op name; phase: rollup column; patterns: compiled regexes searched in
        the kernel name; op_range: name of the backend's ``fibench.op:`` range the kernel
        was launched in (used instead of patterns); nth: 1-based occurrence among the
        kernels the rule matches within one call, or None.
    """

    op: str
    phase: str
    patterns: tuple[re.Pattern[str], ...] = ()
    nth: int | None = None
    op_range: str | None = None

    def matches(self, name: str, launched_in: str = "") -> bool:
        """Whether a kernel named ``name``, launched inside range ``launched_in``, matches."""
        if self.op_range is not None:
            return launched_in == self.op_range
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

    def classify(self, backend: str, names: list[str], ranges: list[str] | None = None) -> list[OpRule | None]:
        """Logical op of each kernel of one call, in call order (None = unmapped).

        Args:
            names: kernel names; ranges: the op range each was launched in ("" = none).

        Raises:
            KernelMapError: a kernel matches two rules.
        """
        rules = self.rules(backend)
        seen = [0] * len(rules)
        out: list[OpRule | None] = []
        for name, launched_in in zip(names, ranges or [""] * len(names)):
            hits = []
            for i, rule in enumerate(rules):
                if not rule.matches(name, launched_in):
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
                op, phase = entry["op"], entry["phase"]
            except KeyError as exc:
                raise KernelMapError(f"{where}: missing key {exc}") from None
            if phase not in phases:
                raise KernelMapError(f"{where}: phase '{phase}' not in phases {list(phases)}")
            if ("match" in entry) == ("range" in entry):
                raise KernelMapError(f"{where}: give exactly one of 'match' (name regexes) or 'range'")
            match = entry.get("match", [])
            match = [match] if isinstance(match, str) else list(match)
            try:
                patterns = tuple(re.compile(m) for m in match)
            except re.error as exc:
                raise KernelMapError(f"{where}: bad regex: {exc}") from None
            nth = entry.get("nth")
            if nth is not None and (not isinstance(nth, int) or nth < 1):
                raise KernelMapError(f"{where}: nth must be a positive integer")
            rules.append(OpRule(op, phase, patterns, nth, entry.get("range")))
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
