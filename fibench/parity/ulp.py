"""ULP distance as a distribution: histogram, percentiles and the maximum above the
tolerance floor.

A bare maximum ULP misleads: near zero one rounding step of the fp32 accumulation is
millions of ULP of a tiny bf16 number, so a passing MoE row shows a max ULP of ~30,000
(DESIGN.md "Parity tolerances"; audits/h200-2026-11-21/moe-qwen3-30b-a3b). This module
reports where the distances lie instead.

Conventions (hand-checked in tests/parity/test_ulp.py):

- Distances come from :func:`fibench.parity.metrics.ordered_bits`: adjacent representable
  values of the output dtype are 1 apart, +0 and -0 are the same point (0 ULP, although
  their bits differ: the bitwise fraction counts them as different), the smallest
  subnormals of opposite sign are 2 apart (-s, 0, +s), and crossing zero adds both
  magnitudes.
- +inf is one step above the largest finite value, so an overflow to inf from the largest
  finite value is 1 ULP; matching infinities are 0 ULP. (The tolerance verdict fails any
  inf where the reference is finite, whatever its ULP distance.)
- NaN on both sides counts as 0 ULP (both say "no value"). NaN on exactly one side has no
  distance: such elements are counted in ``nan_mismatch`` and left out of the histogram
  and the percentiles.
- Percentiles are nearest-rank (no interpolation, so every reported value is a distance
  that occurred): the p-th percentile of n distances is the ceil(p/100 * n)-th smallest.
- The tolerance floor of an element is the ``atol`` of its output (the dtype table of
  DESIGN.md, or the suite's per-output tolerance): "above the floor" means
  ``|reference| >= atol`` with the reference in float64 before rounding (bf16: 8e-3). Below
  it, absolute error is what the tolerance judges and ULP counts say little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2_3", 2, 3),
    ("4_7", 4, 7),
    ("8_15", 8, 15),
    ("16_255", 16, 255),
    ("256_up", 256, None),
)
"""Histogram buckets: (id used in column names, lowest, highest or None = no bound)."""

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9))
"""Reported percentiles: (id used in column names, percent)."""

_EDGES = [b[1] for b in BUCKETS[1:]]


def bucket_label(bucket_id: str) -> str:
    """Display label of a bucket id ("2_3" -> "2-3", "256_up" -> ">=256")."""
    low, high = next((lo, hi) for name, lo, hi in BUCKETS if name == bucket_id)
    if high is None:
        return f">={low}"
    return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class UlpStats:
    """Distribution of ULP distances between a candidate and a reference.

    Attributes:
        compared: elements with a distance (everything but ``nan_mismatch``).
        histogram: counts per bucket of :data:`BUCKETS`, in that order (sums to
            ``compared``).
        percentiles: nearest-rank percentile id ("p50", "p99", "p999") -> ULP, None when
            nothing was compared.
        max_ulp: largest distance (None when nothing was compared).
        floor: the tolerance floor (largest ``atol`` over the outputs; elements use their
            own output's atol).
        above_floor: elements with ``|reference| >= floor`` among those compared.
        max_above_floor: largest distance among them (None when there are none).
        nan_mismatch: elements where exactly one side is NaN.
    """

    compared: int
    histogram: tuple[int, ...]
    percentiles: dict[str, int | None]
    max_ulp: int | None
    floor: float
    above_floor: int
    max_above_floor: int | None
    nan_mismatch: int

    def fields(self, prefix: str = "") -> dict[str, Any]:
        """Flat result columns: ``<prefix>ulp_hist_<bucket>``, ``<prefix>ulp_<pNN>``,
        ``<prefix>ulp_floor``, ``<prefix>ulp_max_above_floor``, ``<prefix>ulp_nan_mismatch``
        (the ids are stable: results.csv and parity.csv use them)."""
        out: dict[str, Any] = {f"{prefix}ulp_hist_{name}": n for (name, _, _), n in zip(BUCKETS, self.histogram)}
        out.update({f"{prefix}ulp_{name}": self.percentiles.get(name) for name, _ in PERCENTILES})
        out[f"{prefix}ulp_floor"] = self.floor
        out[f"{prefix}ulp_max_above_floor"] = self.max_above_floor
        out[f"{prefix}ulp_nan_mismatch"] = self.nan_mismatch
        return out

    @classmethod
    def from_fields(cls, data: Mapping[str, Any], prefix: str = "", *, max_ulp: int | None = None) -> "UlpStats | None":
        """Inverse of :meth:`fields` (None when the histogram columns are empty, e.g. a
        reference row). ``above_floor`` is not a column and comes back as -1."""
        hist = [data.get(f"{prefix}ulp_hist_{name}") for name, _, _ in BUCKETS]
        if any(h is None or (isinstance(h, float) and math.isnan(h)) for h in hist):
            return None
        hist_int = tuple(int(h) for h in hist)
        return cls(compared=sum(hist_int), histogram=hist_int,
                   percentiles={name: _opt_int(data.get(f"{prefix}ulp_{name}")) for name, _ in PERCENTILES},
                   max_ulp=max_ulp, floor=float(data.get(f"{prefix}ulp_floor") or 0.0), above_floor=-1,
                   max_above_floor=_opt_int(data.get(f"{prefix}ulp_max_above_floor")),
                   nan_mismatch=int(data.get(f"{prefix}ulp_nan_mismatch") or 0))


def _opt_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def nearest_rank(sorted_values: torch.Tensor, percent: float) -> int:
    """Nearest-rank percentile of an ascending 1-D tensor: the ceil(percent/100 * n)-th
    smallest value (the smallest value with at least ``percent`` % of values <= it).

    Raises:
        ValueError: empty tensor or percent outside (0, 100].
    """
    n = sorted_values.numel()
    if n == 0 or not 0 < percent <= 100:
        raise ValueError(f"nearest_rank needs values and 0 < percent <= 100, got n={n}, percent={percent}")
    rank = math.ceil(round(percent / 100 * n, 9))  # round: 99.9/100*1000 is 999.0000000000001
    return int(sorted_values[max(rank, 1) - 1])


def ulp_stats(candidate_bits: torch.Tensor, reference_bits: torch.Tensor, *, candidate_nan: torch.Tensor,
              reference_nan: torch.Tensor, reference_abs: torch.Tensor, floor: torch.Tensor) -> UlpStats:
    """ULP distribution of flattened outputs.

    Args:
        candidate_bits, reference_bits: int64 [n], :func:`~fibench.parity.metrics.ordered_bits`
            of the candidate and of the reference rounded to the candidate's dtype.
        candidate_nan, reference_nan: bool [n], NaN masks.
        reference_abs: float64 [n], |reference| before rounding.
        floor: float64 [n], the tolerance floor (atol) of each element's output.

    Returns:
        :class:`UlpStats` (see the module docstring for the conventions).
    """
    one_nan = candidate_nan ^ reference_nan
    both_nan = candidate_nan & reference_nan
    dist = (candidate_bits - reference_bits).abs()
    dist = torch.where(both_nan, torch.zeros_like(dist), dist)[~one_nan]
    edges = torch.tensor(_EDGES, dtype=torch.int64, device=dist.device)
    histogram = torch.bincount(torch.bucketize(dist, edges, right=True), minlength=len(BUCKETS))
    values, _ = torch.sort(dist)
    compared = int(values.numel())
    percentiles = {name: (nearest_rank(values, pct) if compared else None) for name, pct in PERCENTILES}
    above_mask = (reference_abs >= floor) & ~reference_nan
    above = dist[above_mask[~one_nan]]
    return UlpStats(
        compared=compared,
        histogram=tuple(int(c) for c in histogram.tolist()),
        percentiles=percentiles,
        max_ulp=int(values[-1]) if compared else None,
        floor=float(floor.max()) if floor.numel() else 0.0,
        above_floor=int(above.numel()),
        max_above_floor=int(above.max()) if above.numel() else None,
        nan_mismatch=int(one_nan.sum()),
    )


EXPLANATIONS: tuple[tuple[str, str], ...] = (
    ("ULP", "units in the last place of the output dtype between candidate and reference (the reference "
            "rounded to that dtype): 0 = the same value (+0 and -0 count as the same), 1 = adjacent values."),
    ("histogram", "share of elements whose distance falls in each bucket (0, 1, 2-3, 4-7, 8-15, 16-255, >=256); "
                  "the buckets sum to 100% of the elements with a distance."),
    ("p50 / p99 / p99.9", "nearest-rank percentiles: half, 99% and 99.9% of the elements are at most this many "
                          "ULP away; they describe the bulk, unaffected by a few near-zero outliers."),
    ("max", "the largest distance of any element; usually set by a reference near zero, where one rounding "
            "step of the accumulation is many ULP of a tiny number."),
    ("max above floor", "the largest distance among elements whose reference magnitude is at least the "
                        "tolerance floor (the output dtype's atol, bf16: 8e-3): the meaningful worst case."),
    ("NaN mismatch", "elements where exactly one side is NaN: they have no distance and are not in the "
                     "histogram; NaN on both sides counts as 0 ULP. +inf is one step above the largest finite "
                     "value."),
)
"""One line per number, for reports (report.md, parity.md)."""
