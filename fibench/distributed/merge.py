"""One row from the ranks of a collective: every rank measured the same case and backend
with the single-GPU machinery; rank 0 merges their rows.

* timing: the slowest rank's statistics (a collective is as fast as its slowest rank),
  ``rank_spread_us`` = slowest minus fastest rank's median;
* status: the worst of the ranks' (error > oom > parity_fail > unsupported > ok), with the
  reasons of the ranks that have it;
* parity: the fields of the rank furthest outside tolerance; ``ranks_bitwise_equal`` from a
  digest of every rank's outputs; a non-reference row whose ranks disagree bit for bit fails
  parity (replicated activations would diverge between ranks of a serving engine);
* bandwidth: algbw and busbw (nccl-tests definitions, :mod:`fibench.distributed.busbw`) at the
  slowest median, and busbw against the ceiling measured at the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fibench.distributed.busbw import bandwidths_gbps
from fibench.sweep.results import Row, Status

WORST_FIRST = (Status.ERROR, Status.OOM, Status.PARITY_FAIL, Status.UNSUPPORTED, Status.OK)
PARITY_FIELDS = ("parity_verdict", "parity_rule", "atol", "rtol", "bitwise_equal_frac", "max_ulp", "max_abs_err",
                 "mean_abs_err", "max_rel_err", "cosine", "within_tol_frac", "max_err_over_tol", "nan_count",
                 "inf_count")
DISAGREE = "ranks' outputs differ bit for bit"


@dataclass
class RankResult:
    """What one rank hands to rank 0 for one case x backend (picklable).

    Attributes:
        row: the rank's row (:meth:`Row.json_dict`); rollup, kernels: its records;
        digest: SHA-256 of its outputs (None when no output was produced).
    """

    row: dict[str, Any]
    rollup: list[dict[str, Any]] = field(default_factory=list)
    kernels: list[dict[str, Any]] = field(default_factory=list)
    digest: str | None = None


@dataclass(frozen=True)
class BusModel:
    """How a merged row gets its bandwidth: bytes per call, bus factor and the ceiling
    (GB/s; None when not measured)."""

    nbytes: int
    factor: float
    ceiling_busbw_gbps: float | None = None


def _joined_reasons(rows: list[Row], status: Status) -> str:
    reasons = {i: r.reason for i, r in enumerate(rows) if r.status == status and r.reason}
    if len(set(reasons.values())) <= 1:
        return next(iter(reasons.values()), "")
    return "; ".join(f"rank {i}: {text}" for i, text in reasons.items())


def _worst_parity(rows: list[Row]) -> Row:
    return max(rows, key=lambda r: (r.parity_verdict == "fail", r.max_err_over_tol or 0.0,
                                    -(r.bitwise_equal_frac if r.bitwise_equal_frac is not None else 1.0)))


def _notes(rows: list[Row], extra: list[str]) -> str:
    parts = [p for r in rows for p in r.notes.split("; ") if p] + extra
    return "; ".join(dict.fromkeys(parts))


def _all(values: list[bool | None]) -> bool | None:
    return None if any(v is None for v in values) else all(values)


def merge_rank_rows(results: list[RankResult], bus: BusModel | None) -> tuple[Row, list, list]:
    """Merge the ranks' results (index = rank) into one row and the slowest rank's rollup
    and kernel records.

    Args:
        bus: the collective's bandwidth model (None: no bandwidth columns, e.g. a backend
            that does not communicate).

    Raises:
        ValueError: no results.
    """
    if not results:
        raise ValueError("no rank results to merge")
    rows = [Row.from_dict(r.row) for r in results]
    timed = [i for i, r in enumerate(rows) if r.timed]
    slow = max(timed, key=lambda i: rows[i].median_us) if timed else 0
    merged = rows[slow].json_dict()
    status = min((r.status for r in rows), key=WORST_FIRST.index)
    notes: list[str] = []
    if status == Status.UNSUPPORTED and len({r.status for r in rows}) > 1:
        status = Status.ERROR
        merged["reason"] = "ranks disagree on support: " + _joined_reasons(rows, Status.UNSUPPORTED)
    elif status != Status.OK:
        merged["reason"] = _joined_reasons(rows, status)
    worst = _worst_parity(rows)
    merged.update({k: getattr(worst, k) for k in PARITY_FIELDS})
    merged["extra"] = {**merged.get("extra", {}), "worst": worst.extra.get("worst", [])}
    digests = [r.digest for r in results]
    agree = None if None in digests else len(set(digests)) == 1
    if agree is False:
        notes.append(DISAGREE)
        if not merged["is_reference"] and status == Status.OK:
            status, merged["parity_verdict"] = Status.PARITY_FAIL, "fail"
    medians = [rows[i].median_us for i in timed]
    mins = [r.sm_clock_min_mhz for r in rows if r.sm_clock_min_mhz is not None]
    maxs = [r.sm_clock_max_mhz for r in rows if r.sm_clock_max_mhz is not None]
    firsts = [r.first_call_s for r in rows if r.first_call_s is not None]
    merged.update(
        status=status, ranks_bitwise_equal=agree, deterministic=_all([r.deterministic for r in rows]),
        rank_spread_us=(max(medians) - min(medians)) if medians else None,
        sm_clock_min_mhz=min(mins) if mins else None, sm_clock_max_mhz=max(maxs) if maxs else None,
        first_call_s=max(firsts) if firsts else None, world_size=len(rows), rank=None,
        device=",".join(r.device for r in rows), gpus=",".join(r.gpus for r in rows if r.gpus),
        notes=_notes(rows, notes))
    if bus and medians and not merged["is_reference"]:
        algbw, busbw = bandwidths_gbps(bus.nbytes, max(medians), bus.factor)
        merged.update(algbw_gbps=algbw, busbw_gbps=busbw,
                      busbw_sol_pct=100 * busbw / bus.ceiling_busbw_gbps if bus.ceiling_busbw_gbps else None)
    merged["extra"]["ranks"] = [
        {"rank": i, "device": r.device, "status": r.status.value, "median_us": r.median_us,
         "parity_verdict": r.parity_verdict, "bitwise_equal_frac": r.bitwise_equal_frac, "max_ulp": r.max_ulp,
         "deterministic": r.deterministic, "digest": results[i].digest} for i, r in enumerate(rows)]
    return Row.from_dict(merged), results[slow].rollup, results[slow].kernels
