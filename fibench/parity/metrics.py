"""Parity of a backend's outputs against the reference backend's outputs.

All metrics are computed on the device holding the tensors. The reference is rounded to
the candidate's dtype for the bit-level metrics (bitwise equality, ULP); error metrics use
both values upcast to float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from fibench.parity.ulp import UlpStats, ulp_stats

# Per output dtype: (atol, rtol, rule). DESIGN.md "Parity tolerances"; fp8/fp4 outputs pass
# when at least HIT_RATIO_MIN of the elements are within tolerance.
TOLERANCES: dict[torch.dtype, tuple[float, float, str]] = {
    torch.float32: (1e-5, 1e-5, "allclose"),
    torch.float16: (1e-3, 1e-3, "allclose"),
    torch.bfloat16: (8e-3, 1e-2, "allclose"),
    torch.float8_e4m3fn: (1e-1, 2e-1, "hit-ratio"),
}
HIT_RATIO_MIN = 0.85
WORST_K = 5

_INT_VIEW = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def ordered_bits(x: torch.Tensor) -> torch.Tensor:
    """Map floats to int64 so that adjacent representable values differ by 1.

    IEEE-style formats are sign-magnitude: the magnitude bits of non-negative values
    increase with the value, and a negative value mirrors its magnitude. Mapping
    ``v -> +mag`` for sign 0 and ``v -> -mag`` for sign 1 gives a monotonic integer line
    on which +0 and -0 both sit at 0 and the ULP distance is a subtraction.

    Args:
        x: floating tensor of any shape (fp32, fp16, bf16, fp8).

    Returns:
        int64 tensor of the same shape. NaNs map to values beyond +-Inf; mask them first.
    """
    bits = x.contiguous().view(_INT_VIEW[x.element_size()]).to(torch.int64)
    nbits = 8 * x.element_size()
    mag_mask = (1 << (nbits - 1)) - 1
    mag = bits & mag_mask
    negative = bits < 0  # sign bit set (signed view)
    return torch.where(negative, -mag, mag)


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Units in the last place between ``a`` and ``b`` (same dtype), elementwise, int64.

    Raises:
        ValueError: dtypes or shapes differ.
    """
    if a.dtype != b.dtype or a.shape != b.shape:
        raise ValueError(f"ulp_distance needs equal dtype/shape, got {a.dtype}{tuple(a.shape)} "
                         f"vs {b.dtype}{tuple(b.shape)}")
    return (ordered_bits(a) - ordered_bits(b)).abs()


@dataclass(frozen=True)
class WorstElement:
    """One of the elements furthest outside tolerance.

    Attributes:
        output: output name; index: multi-index inside that output.
        reference, candidate: the two values (float); abs_err: |candidate - reference|;
        ulp: ULP distance in the candidate dtype (-1 when NaN is involved).
    """

    output: str
    index: tuple[int, ...]
    reference: float
    candidate: float
    abs_err: float
    ulp: int


@dataclass
class ParityResult:
    """Parity of one backend against the reference on one case.

    Attributes:
        verdict: "pass" or "fail" under ``rule`` with ``atol``/``rtol``.
        elements: elements compared (all outputs together).
        bitwise_equal_frac: fraction whose bits equal the reference rounded to the
            candidate dtype.
        max_ulp: largest ULP distance (NaN on both sides counts 0, NaN on one side has
            no distance; -1 if no element has one).
        ulp: the ULP distribution (histogram, percentiles, max above the tolerance
            floor; :mod:`fibench.parity.ulp`).
        max_abs_err, mean_abs_err: absolute error in float64.
        max_rel_err: max |c - r| / |r| over elements with |r| >= atol (tiny references
            make relative error meaningless).
        cosine: cosine similarity of the flattened outputs (1.0 when both are zero).
        within_tol_frac: fraction with |c - r| <= atol + rtol * |r| (the hit ratio).
        max_err_over_tol: max of |c - r| / (atol + rtol * |r|); <= 1 means all within,
            1.04 means the worst element is 4% beyond its tolerance.
        nan_count, inf_count: in the candidate; bad_nonfinite: candidate NaN/Inf where the
            reference is finite (always a failure).
        worst: the WORST_K elements furthest outside tolerance.
    """

    verdict: str
    rule: str
    atol: float
    rtol: float
    elements: int
    bitwise_equal_frac: float
    max_ulp: int
    max_abs_err: float
    mean_abs_err: float
    max_rel_err: float
    cosine: float
    within_tol_frac: float
    max_err_over_tol: float
    nan_count: int
    inf_count: int
    bad_nonfinite: int
    worst: list[WorstElement] = field(default_factory=list)
    ulp: UlpStats | None = None


def tolerance_for(dtype: torch.dtype) -> tuple[float, float, str]:
    """(atol, rtol, rule) for an output dtype.

    Raises:
        ValueError: dtype without a tolerance entry.
    """
    try:
        return TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no parity tolerance for dtype {dtype}") from None


def compare(candidate: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor], *,
            tolerances: Mapping[str, tuple[float, float, str]] | None = None) -> ParityResult:
    """Compare named outputs of a candidate with the reference's.

    Args:
        candidate: output name -> tensor (any float dtype with a tolerance entry).
        reference: same names and shapes; any float dtype (rounded to the candidate's for
            bit-level metrics).
        tolerances: output name -> (atol, rtol, rule) replacing the dtype table for that
            output (a suite whose math needs other values says which and why, e.g. the
            log-sum-exp of attention).

    Raises:
        ValueError: names or shapes differ, or a dtype has no tolerance.
    """
    if set(candidate) != set(reference):
        raise ValueError(f"outputs differ: candidate {sorted(candidate)} vs reference {sorted(reference)}")
    names = sorted(candidate)
    parts = []
    for name in names:
        c, r = candidate[name], reference[name]
        if c.shape != r.shape:
            raise ValueError(f"output {name}: shape {tuple(c.shape)} vs reference {tuple(r.shape)}")
        atol, rtol, rule = (tolerances or {}).get(name) or tolerance_for(c.dtype)
        parts.append((name, c, r.to(device=c.device, dtype=c.dtype), r.to(device=c.device), atol, rtol, rule))
    rule = "hit-ratio" if any(p[6] == "hit-ratio" for p in parts) else "allclose"
    atol = max(p[4] for p in parts)
    rtol = max(p[5] for p in parts)

    c64 = torch.cat([p[1].reshape(-1).double() for p in parts])
    r64 = torch.cat([p[3].reshape(-1).double() for p in parts])
    c_bits = torch.cat([ordered_bits(p[1].reshape(-1)) for p in parts])
    r_bits = torch.cat([ordered_bits(p[2].reshape(-1)) for p in parts])
    raw_equal = torch.cat([(p[1].reshape(-1).contiguous().view(_INT_VIEW[p[1].element_size()])
                            == p[2].reshape(-1).contiguous().view(_INT_VIEW[p[2].element_size()])) for p in parts])
    floor = torch.cat([torch.full((p[1].numel(),), p[4], dtype=torch.float64, device=c64.device) for p in parts])
    tol = floor + torch.cat([p[5] * p[3].reshape(-1).double().abs() for p in parts])

    n = c64.numel()
    c_nan, r_nan = torch.isnan(c64), torch.isnan(r64)
    c_inf = torch.isinf(c64)
    r_finite = torch.isfinite(r64)
    bad_nonfinite = int((~torch.isfinite(c64) & r_finite).sum())
    both_num = ~c_nan & ~r_nan
    err = torch.where(both_num, (c64 - r64).abs(), torch.full_like(c64, float("inf")))
    # equal values (matching infinities included) and NaN in both are not errors
    err = torch.where((c64 == r64) | (c_nan & r_nan), torch.zeros_like(err), err)
    tol = torch.where(torch.isnan(tol), torch.full_like(tol, atol), tol)
    tol = torch.where(torch.isinf(r64), torch.zeros_like(tol), tol)  # an infinite reference needs an exact match
    finite_pair = torch.isfinite(c64) & r_finite
    err_finite = err[finite_pair]
    within = err <= tol
    dist = ulp_stats(c_bits, r_bits, candidate_nan=c_nan, reference_nan=r_nan, reference_abs=r64.abs(), floor=floor)

    big_ref = r_finite & (r64.abs() >= atol) & both_num
    rel = (err[big_ref] / r64[big_ref].abs()) if bool(big_ref.any()) else torch.zeros(1, dtype=torch.float64)
    cf, rf = torch.where(finite_pair, c64, 0.0), torch.where(finite_pair, r64, 0.0)
    denom = cf.norm() * rf.norm()
    cosine = float((cf * rf).sum() / denom) if float(denom) > 0 else (1.0 if float(cf.norm() + rf.norm()) == 0 else 0.0)

    within_frac = float(within.double().mean()) if n else 1.0
    if rule == "hit-ratio":
        ok = within_frac >= HIT_RATIO_MIN
    else:
        ok = bool(within.all())
    ok = ok and bad_nonfinite == 0

    excess = torch.where(torch.isfinite(err), err - tol, torch.full_like(err, float("inf")))
    k = min(WORST_K, n)
    worst_flat = torch.topk(excess, k).indices.tolist() if k else []
    offsets, start = [], 0
    for p in parts:
        offsets.append((start, p))
        start += p[1].numel()
    worst: list[WorstElement] = []
    for flat in worst_flat:
        base, p = next((o, p) for o, p in reversed(offsets) if flat >= o)
        local = flat - base
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(local), p[1].shape))
        ulp = int((c_bits[flat] - r_bits[flat]).abs()) if bool(both_num[flat]) else -1
        worst.append(WorstElement(p[0], index, float(r64[flat]), float(c64[flat]), float(err[flat]), ulp))

    return ParityResult(
        verdict="pass" if ok else "fail",
        rule=rule,
        atol=atol,
        rtol=rtol,
        elements=n,
        bitwise_equal_frac=float(raw_equal.double().mean()) if n else 1.0,
        max_ulp=(dist.max_ulp if dist.max_ulp is not None else -1) if n else 0,
        ulp=dist,
        max_abs_err=float(err_finite.max()) if err_finite.numel() else 0.0,
        mean_abs_err=float(err_finite.mean()) if err_finite.numel() else 0.0,
        max_rel_err=float(rel.max()),
        cosine=cosine,
        within_tol_frac=within_frac,
        max_err_over_tol=float(torch.where(err == 0, 0.0, err / tol).max()) if n else 0.0,  # 0/0 (same inf) is 0
        nan_count=int(c_nan.sum()),
        inf_count=int(c_inf.sum()),
        bad_nonfinite=bad_nonfinite,
        worst=worst,
    )


def outputs_bitwise_equal(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    """True when two output sets are bit-for-bit identical (run-to-run determinism)."""
    if set(a) != set(b):
        return False
    for name in a:
        x, y = a[name], b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        xi = x.contiguous().view(_INT_VIEW[x.element_size()])
        yi = y.contiguous().view(_INT_VIEW[y.element_size()])
        if not torch.equal(xi, yi):
            return False
    return True
