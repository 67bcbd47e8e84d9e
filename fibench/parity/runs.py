"""``fibench parity A B``: compare the saved outputs of two runs.

A and B are folders written by ``fibench run ... --save-tensors`` (or run folders whose
run.json names one): two machines, two FlashInfer versions, or FlashInfer here against
TensorRT-LLM on a machine that has it. Outputs are matched by suite, case and backend, or
by ``--pair a=b`` (backend ``a`` of A against backend ``b`` of B on every case both hold).
A matched case whose inputs differ (any tensor's SHA-256 in the two manifests) is refused:
outputs of different inputs say nothing about the kernels. A is the side compared
against: its outputs play the reference in every metric (bitwise fraction, ULP
distribution, tolerance verdict under the suite's tolerances).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fibench.errors import UsageError
from fibench.parity.metrics import ParityResult
from fibench.parity.pairwise import Requirement
from fibench.parity.store import MANIFEST, Manifest, SavedCase, SavedOutput, load_tensors, read_manifest
from fibench.suites import get_suite


@dataclass
class PairOutcome:
    """One (case, backend of A, backend of B) comparison.

    Attributes:
        case: the case as saved in A; result: B's outputs against A's; met / why: the
        ``--require`` check; caveat: which side's backend was not run-to-run
        deterministic on this case in its run (then a bitwise mismatch can be chance).
    """

    case: SavedCase
    backend_a: str
    backend_b: str
    result: ParityResult
    met: bool
    why: str = ""
    caveat: str = ""


@dataclass
class RunsParity:
    """Everything ``fibench parity`` found: both manifests, the requirement, the outcomes in
    case order, and what could not be matched (one line each)."""

    a: Manifest
    b: Manifest
    require: Requirement
    outcomes: list[PairOutcome] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PairOutcome]:
        """Outcomes that do not meet the requirement."""
        return [o for o in self.outcomes if not o.met]


def parse_pairs(texts: list[str] | None) -> list[tuple[str, str]] | None:
    """Parse ``--pair a=b`` values (None when none were given).

    Raises:
        UsageError: a value without exactly one ``=`` or with an empty side.
    """
    if not texts:
        return None
    pairs = []
    for text in texts:
        left, sep, right = text.partition("=")
        if not sep or not left.strip() or not right.strip() or "=" in right:
            raise UsageError(f"--pair must be BACKEND_A=BACKEND_B, got '{text}'")
        pairs.append((left.strip(), right.strip()))
    return pairs


def store_folder(path: Path) -> Path:
    """The tensor store of ``path``: the folder itself when it holds a manifest, else the
    ``save_tensors`` folder named in its run.json (a run folder).

    Raises:
        UsageError: neither.
    """
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder")
    if (path / MANIFEST).exists():
        return path
    run_json = path / "run.json"
    if run_json.exists():
        try:
            saved = json.loads(run_json.read_text()).get("save_tensors")
        except json.JSONDecodeError:
            saved = None
        if saved:
            return Path(saved)
        raise UsageError(f"{path}: a run folder without saved tensors (run it with --save-tensors DIR)")
    raise UsageError(f"{path}: no {MANIFEST} (not a folder written by --save-tensors) and no run.json")


def match(a: Manifest, b: Manifest, pairs: list[tuple[str, str]] | None) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(case id, backend of A, backend of B) triples to compare, and the unmatched ones.

    Raises:
        UsageError: different suites, or nothing matched (naming what each side holds).
    """
    if a.suite != b.suite:
        raise UsageError(f"A is suite {a.suite!r}, B is suite {b.suite!r}: nothing to compare")
    triples, missing = [], []
    for case_id in list(dict.fromkeys([*a.cases, *b.cases])):
        ca, cb = a.cases.get(case_id), b.cases.get(case_id)
        if ca is None or cb is None:
            missing.append(f"case {case_id}: only in {'A' if cb is None else 'B'}")
            continue
        wanted = pairs or [(n, n) for n in dict.fromkeys([*ca.outputs, *cb.outputs])]
        for x, y in wanted:
            if x in ca.outputs and y in cb.outputs:
                triples.append((case_id, x, y))
            else:
                side = " and ".join(s for s, ok in (("A", x in ca.outputs), ("B", y in cb.outputs)) if not ok)
                missing.append(f"case {case_id}: {x} (A) vs {y} (B): no outputs in {side}")
    if not triples:
        held = [f"{name} has {sorted({k for c in m.cases.values() for k in c.outputs}) or 'no outputs'}"
                for name, m in (("A", a), ("B", b))]
        raise UsageError(f"no (case, backend) is in both A and B ({'; '.join(held)}); use --pair A_BACKEND=B_BACKEND")
    return triples, missing


def check_same_inputs(ca: SavedCase, cb: SavedCase) -> None:
    """Refuse a case whose inputs differ between the two stores.

    Raises:
        UsageError: different tensor names, or the first tensor whose dtype, shape or
            SHA-256 differs.
    """
    if set(ca.inputs) != set(cb.inputs):
        raise UsageError(f"case {ca.case_id}: inputs differ between A and B (tensors {sorted(ca.inputs)} vs "
                         f"{sorted(cb.inputs)}); refusing to compare outputs of different inputs")
    for name in sorted(ca.inputs):
        ea, eb = ca.inputs[name], cb.inputs[name]
        if (ea.get("dtype"), ea.get("shape"), ea.get("sha256")) != (eb.get("dtype"), eb.get("shape"), eb.get("sha256")):
            raise UsageError(f"case {ca.case_id}: input {name} differs between A and B (sha256 "
                             f"{str(ea.get('sha256'))[:12]} vs {str(eb.get('sha256'))[:12]}); refusing to compare "
                             "outputs of different inputs (run B with --inputs-from A)")


def determinism_caveat(a: SavedOutput, b: SavedOutput, backend_a: str, backend_b: str) -> str:
    """'not run-to-run deterministic: A x, B y' for the sides whose run found two eager
    calls differing (the ``deterministic`` fact of the manifest), else empty."""
    sides = [f"{side} {name}" for side, name, o in (("A", backend_a, a), ("B", backend_b, b))
             if o.facts.get("deterministic") is False]
    return f"not run-to-run deterministic: {', '.join(sides)}" if sides else ""


def compare_runs(a_dir: Path, b_dir: Path, *, pairs: list[tuple[str, str]] | None = None,
                 require: Requirement = Requirement("tolerance")) -> RunsParity:
    """Compare B's saved outputs against A's.

    Every matched case's inputs are checked first (by SHA-256, before any output is
    loaded); every output file is checked against its manifest when loaded.

    Raises:
        UsageError: unreadable stores, different suites, nothing matched, a matched case
            whose inputs differ, or a missing/altered output file.
    """
    a, b = read_manifest(store_folder(a_dir)), read_manifest(store_folder(b_dir))
    triples, missing = match(a, b, pairs)
    for case_id in dict.fromkeys(t[0] for t in triples):
        check_same_inputs(a.cases[case_id], b.cases[case_id])
    suite = get_suite(a.suite)
    out = RunsParity(a, b, require, not_compared=missing)
    for case_id, x, y in triples:
        ca, cb = a.cases[case_id], b.cases[case_id]
        ref = load_tensors(a.root, ca.outputs[x].file, ca.outputs[x].tensors, what=f"A: outputs of {x} on {case_id}")
        cand = load_tensors(b.root, cb.outputs[y].file, cb.outputs[y].tensors, what=f"B: outputs of {y} on {case_id}")
        try:
            result = suite.check_parity(ca.to_case(a.suite), cand, ref)
        except ValueError as exc:
            raise UsageError(f"case {case_id}: {x} (A) and {y} (B) outputs cannot be compared: {exc}") from None
        met, why = require.check(result)
        caveat = determinism_caveat(ca.outputs[x], cb.outputs[y], x, y)
        out.outcomes.append(PairOutcome(ca, x, y, result, met, why, caveat))
    return out
