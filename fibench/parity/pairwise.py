"""Backend against backend: the flat fields of one comparison and the requirements a
comparison must meet.

A run with ``--parity-against B`` compares every backend with ``B``'s outputs on the same
inputs, besides the reference (a FlashInfer port against its TensorRT-LLM original,
``flashinfer-cutlass`` against ``torch-grouped``); ``fibench parity A B`` compares the saved
outputs of two runs. Both give a :class:`~fibench.parity.metrics.ParityResult` whose
reference side is the backend compared against; these helpers turn it into stable column
names and apply ``--require``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from fibench.errors import UsageError
from fibench.parity.metrics import ParityResult
from fibench.parity.ulp import UlpStats

METRICS: tuple[str, ...] = ("bitwise_equal_frac", "max_ulp", "max_abs_err", "mean_abs_err", "max_rel_err", "cosine",
                            "within_tol_frac", "max_err_over_tol", "nan_count", "inf_count")
"""Scalar metrics of a comparison, by their ParityResult / column names."""

PAIR_PREFIX = "pair_"
"""Prefix of the results.csv columns comparing a row's backend with ``--parity-against``."""


def comparison_fields(p: ParityResult, prefix: str = "") -> dict[str, Any]:
    """Columns of one comparison: ``<prefix>verdict`` (pass/fail under the tolerance
    table), the scalar :data:`METRICS` and the ULP distribution columns
    (:meth:`fibench.parity.ulp.UlpStats.fields`), each name prefixed."""
    out: dict[str, Any] = {f"{prefix}verdict": p.verdict}
    out.update({f"{prefix}{m}": getattr(p, m) for m in METRICS})
    if p.ulp is not None:
        out.update(p.ulp.fields(prefix))
    return out


def pair_fields(against: str, p: ParityResult) -> dict[str, Any]:
    """results.csv columns of a row's comparison with the ``--parity-against`` backend:
    ``pair_backend`` and :func:`comparison_fields` with prefix ``pair_``."""
    return {f"{PAIR_PREFIX}backend": against, **comparison_fields(p, PAIR_PREFIX)}


def pair_row_fields(suite: Any, case: Any, name: str, outputs: Mapping[str, Any], *, against: str | None,
                    against_outputs: Mapping[str, Any] | None, against_reason: str = "") -> tuple[dict[str, Any], str]:
    """The pair columns of backend ``name``'s row and a note (empty when none).

    Args:
        suite, case: the run's :class:`~fibench.suites.base.Suite` and
            :class:`~fibench.suites.base.Case` (``suite.check_parity`` compares, so a
            suite's own tolerances and statistical checks apply); outputs: this backend's;
        against: the ``--parity-against`` backend (None: no pair columns);
        against_outputs: its outputs on the same inputs, or None with ``against_reason``.

    Returns:
        ``pair_verdict`` "self" for the against backend itself, "n/a" (and a note) when
        there is nothing to compare with, else the :func:`pair_fields`.
    """
    if against is None:
        return {}, ""
    if name == against:
        return {f"{PAIR_PREFIX}backend": against, f"{PAIR_PREFIX}verdict": "self"}, ""
    if against_outputs is None:
        return ({f"{PAIR_PREFIX}backend": against, f"{PAIR_PREFIX}verdict": "n/a"},
                f"no comparison with {against}: {against_reason or 'no outputs'}")
    mine, theirs, rounded = common_precision(outputs, against_outputs)
    try:
        result = suite.check_parity(case, mine, theirs)
    except ValueError as exc:
        return {f"{PAIR_PREFIX}backend": against, f"{PAIR_PREFIX}verdict": "n/a"}, f"cannot compare with {against}: {exc}"
    note = (f"compared with {against} in the narrower dtype of each output ({', '.join(rounded)} rounded)"
            if rounded else "")
    return pair_fields(against, result), note


def _eps(t: Any) -> float | None:
    dtype = getattr(t, "dtype", None)
    return float(torch.finfo(dtype).eps) if dtype is not None and dtype.is_floating_point else None


def common_precision(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Outputs of two backends in a common precision: where an output is floating point on
    both sides with different dtypes (a reference's fp32 against a kernel's bf16), the wider
    side is rounded once to the narrower dtype (the larger machine epsilon), as parity
    against the reference rounds the reference to the candidate's dtype; ULPs are then in
    the narrower dtype's units instead of fp32 ULPs of a bf16 rounding error.

    Returns:
        (a, b) as new dicts and the names of the outputs rounded, as "name (fp32->bf16 side)".
    """
    a, b, rounded = dict(a), dict(b), []
    for name in a.keys() & b.keys():
        ea, eb = _eps(a[name]), _eps(b[name])
        if ea is None or eb is None or a[name].dtype == b[name].dtype:
            continue
        wide, narrow = (a, b) if ea < eb else (b, a)
        rounded.append(f"{name} {str(wide[name].dtype).removeprefix('torch.')}->"
                       f"{str(narrow[name].dtype).removeprefix('torch.')}")
        wide[name] = wide[name].to(narrow[name].dtype)
    return a, b, sorted(rounded)


def comparison_view(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Read a comparison back from a row or CSV record (inverse of :func:`comparison_fields`):
    ``verdict``, the metrics and ``ulp`` (a :class:`UlpStats` or None), without prefix."""
    view = {m: data.get(f"{prefix}{m}") for m in METRICS}
    view["verdict"] = data.get(f"{prefix}verdict")
    view["ulp"] = UlpStats.from_fields(data, prefix, max_ulp=view["max_ulp"])
    return view


@dataclass(frozen=True)
class Requirement:
    """What a comparison must meet for ``fibench parity --require``.

    Attributes:
        kind: "bitwise" (every element's bits equal), "ulp" (no element more than
            ``max_ulp`` ULP apart, no NaN on one side only) or "tolerance" (the verdict of
            the dtype tolerance table, DESIGN.md).
        max_ulp: the bound for kind "ulp".
    """

    kind: str
    max_ulp: int = 0

    @classmethod
    def parse(cls, text: str) -> "Requirement":
        """Parse ``bitwise``, ``ulp:N`` (N >= 0) or ``tolerance``.

        Raises:
            UsageError: anything else.
        """
        value = text.strip().lower()
        if value in ("bitwise", "tolerance"):
            return cls(value)
        m = re.fullmatch(r"ulp:(\d+)", value)
        if m:
            return cls("ulp", int(m.group(1)))
        raise UsageError(f"--require must be bitwise, ulp:N (N >= 0) or tolerance, got '{text}'")

    def __str__(self) -> str:
        return f"ulp:{self.max_ulp}" if self.kind == "ulp" else self.kind

    def check(self, p: ParityResult) -> tuple[bool, str]:
        """(met, why not) for one comparison; ``why`` is empty when met."""
        if self.kind == "bitwise":
            ok = p.bitwise_equal_frac == 1.0
            return ok, "" if ok else f"bitwise-equal fraction {p.bitwise_equal_frac:.6g} < 1"
        if self.kind == "ulp":
            nan_mismatch = p.ulp.nan_mismatch if p.ulp else 0
            if nan_mismatch:
                return False, f"{nan_mismatch} elements are NaN on one side only"
            ok = p.max_ulp <= self.max_ulp
            return ok, "" if ok else f"max ULP {p.max_ulp} > {self.max_ulp}"
        ok = p.verdict == "pass"
        return ok, "" if ok else f"outside tolerance (worst error {p.max_err_over_tol:.3g}x its tolerance)"
