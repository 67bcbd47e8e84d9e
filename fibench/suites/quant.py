"""Quantization formats the quantized suites use, in plain torch (CPU or CUDA).

- fp8 e4m3 (``torch.float8_e4m3fn``, largest finite value 448) with one float32 scale per
  tensor, or one per 128x128 block (DeepSeek-V3's weight format: ``weight_scale_inv`` per
  block, dequantized value = fp8 value x block scale).
- fp8 e4m3 activations with one scale per token and 128 columns ("1x128 groups"), computed
  the way TensorRT-LLM's CUTLASS block-scale GEMM quantizes its bf16 input in
  ``scale_1x128_kernel`` (FlashInfer 0.6.13
  csrc/nv_internal/tensorrt_llm/kernels/cutlass_kernels/fp8_blockscale_gemm/
  fp8_blockscale_gemm_kernel.cuh): ``s = 448 / amax`` in float32 (1 when amax is 0), value
  ``fp8(x * s)`` (round to nearest even, saturating), stored dequantization scale ``1 / s``.
- MXFP4 (OCP Microscaling Formats (MX) Specification v1.0, 2023, sections 5.3 and 6.3):
  blocks of 32 FP4 E2M1 elements (values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives)
  sharing one E8M0 scale 2^(e - 127). Quantization per section 6.3: shared exponent
  ``floor(log2(amax)) - 2`` (2 = the largest E2M1 exponent), elements ``x / 2^exp``
  rounded to nearest even and clamped to +-6. Two elements per byte, the even element in
  the low nibble (the layout FlashInfer's MXFP4 MoE and its tests use).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import torch

from fibench.parity.metrics import ParityResult, compare

FP8_MAX = 448.0
"""Largest finite float8_e4m3fn value."""
BLOCK = 128
"""Side of a DeepSeek-style fp8 weight block and length of an activation group."""
MX_BLOCK = 32
"""Elements sharing one E8M0 scale in MXFP4 (OCP MX v1.0, table 1)."""
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
"""Magnitudes of the FP4 E2M1 codes 0..7 (code | 8 is the negative value)."""
E2M1_EMAX = 2
"""Exponent of the largest normal E2M1 value (6 = 1.5 x 2^2)."""
E8M0_BIAS = 127

_E2M1_MIDPOINTS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)


def _to_fp8(x: torch.Tensor) -> torch.Tensor:
    """float32 -> e4m3 with saturation to +-448 (torch's cast would give NaN above it)."""
    return x.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)


def fp8_per_tensor(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a whole tensor to fp8 e4m3 with one scale.

    Args:
        t: any float tensor.

    Returns:
        (q of t's shape in float8_e4m3fn, scale: 0-d float32) with ``t ~= q * scale`` and
        ``scale = amax(|t|) / 448`` (1 for an all-zero tensor).
    """
    amax = t.float().abs().max()
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    return _to_fp8(t.float() / scale), scale


def _check_blocks(rows: int, cols: int, block: int) -> None:
    if rows % block or cols % block:
        raise ValueError(f"shape ({rows}, {cols}) is not a multiple of {block}x{block} blocks")


def fp8_scale_quantize(x: torch.Tensor, quant_scale: torch.Tensor) -> torch.Tensor:
    """``x * quant_scale`` in float32 rounded to e4m3 with saturation: how the CUTLASS MoE's
    activation kernel applies a static quantization scale (``fc2_quant``)."""
    return _to_fp8(x.float() * quant_scale)


def fp8_block_quantize(w: torch.Tensor, block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize the last two dims of ``w`` to fp8 e4m3 in ``block`` x ``block`` blocks.

    Args:
        w: [..., rows, cols] float tensor; rows and cols multiples of ``block``.

    Returns:
        (q [..., rows, cols] float8_e4m3fn, scales [..., rows/block, cols/block] float32),
        ``scale = amax(|block|) / 448`` (1 for an all-zero block).

    Raises:
        ValueError: rows or cols not a multiple of ``block``.
    """
    *lead, rows, cols = w.shape
    _check_blocks(rows, cols, block)
    b = w.float().reshape(*lead, rows // block, block, cols // block, block)
    amax = b.abs().amax(dim=(-3, -1), keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    q = _to_fp8(b / scale).reshape(w.shape)
    return q, scale.reshape(*lead, rows // block, cols // block)


def fp8_block_dequantize(q: torch.Tensor, scales: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Inverse of :func:`fp8_block_quantize`: [..., rows, cols] float32 = q x its block's
    scale; ``scales`` may cover a partial last block ([..., ceil(rows/block), ceil(cols/block)])."""
    s = scales.float().repeat_interleave(block, dim=-2).repeat_interleave(block, dim=-1)
    return q.float() * s[..., :q.shape[-2], :q.shape[-1]]


def fp8_group_quantize(x: torch.Tensor, group: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize activations to fp8 e4m3 per row and ``group`` columns, as the CUTLASS
    block-scale GEMM does with its bf16 input (see the module docstring).

    Args:
        x: [rows, cols] tensor (bf16 in the kernels); cols a multiple of ``group``.

    Returns:
        (q [rows, cols] float8_e4m3fn, dequantization scales [rows, cols/group] float32).

    Raises:
        ValueError: cols not a multiple of ``group``.
    """
    rows, cols = x.shape
    if cols % group:
        raise ValueError(f"{cols} columns are not a multiple of the {group}-column group")
    g = x.float().reshape(rows, cols // group, group)
    amax = g.abs().amax(dim=-1, keepdim=True)
    s = torch.where(amax > 0, FP8_MAX / amax, torch.ones_like(amax))
    return _to_fp8(g * s).reshape(rows, cols), (1.0 / s).reshape(rows, cols // group)


def fp8_group_dequantize(q: torch.Tensor, scales: torch.Tensor, group: int = BLOCK) -> torch.Tensor:
    """Inverse of :func:`fp8_group_quantize`: [rows, cols] float32."""
    return q.float() * scales.float().repeat_interleave(group, dim=-1)


def e2m1_encode(v: torch.Tensor) -> torch.Tensor:
    """Nearest FP4 E2M1 code (0..15, sign in bit 3) of each value; ties go to the even
    code, magnitudes above 6 saturate to 6 (OCP MX v1.0 section 6.3). int64, v's shape."""
    mids = torch.tensor(_E2M1_MIDPOINTS, dtype=torch.float32, device=v.device)
    mag = v.float().abs().contiguous()
    lo = torch.bucketize(mag, mids, right=False)
    hi = torch.bucketize(mag, mids, right=True)
    code = torch.where((lo != hi) & (lo % 2 == 1), hi, lo)
    return code | torch.where(torch.signbit(v), 8, 0)


def e2m1_decode(code: torch.Tensor) -> torch.Tensor:
    """float32 values of E2M1 codes (0..15, any integer dtype)."""
    c = code.long()
    lut = torch.tensor(E2M1_VALUES, dtype=torch.float32, device=c.device)
    return lut[c & 7] * torch.where((c & 8) > 0, -1.0, 1.0)


def pack_e2m1(code: torch.Tensor) -> torch.Tensor:
    """Two codes per byte along the last dim (even index in the low nibble): [..., n] ->
    [..., n/2] uint8. Raises ValueError for an odd last dim."""
    if code.shape[-1] % 2:
        raise ValueError(f"cannot pack an odd number ({code.shape[-1]}) of 4-bit codes")
    c = code.long().reshape(*code.shape[:-1], -1, 2)
    return (c[..., 0] | (c[..., 1] << 4)).to(torch.uint8)


def unpack_e2m1(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_e2m1` followed by :func:`e2m1_decode`: [..., n/2] uint8 ->
    [..., n] float32 values."""
    b = packed.view(torch.uint8).long()
    nib = torch.stack([b & 0xF, b >> 4], dim=-1).reshape(*b.shape[:-1], -1)
    return e2m1_decode(nib)


def mxfp4_quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize the last dim of ``w`` to MXFP4 (OCP MX v1.0 section 6.3).

    Args:
        w: [..., k] float tensor, k a multiple of 32.

    Returns:
        (packed [..., k/2] uint8, scales [..., k/32] uint8 E8M0 codes: scale = 2^(code-127)).
        An all-zero block gets code 0.

    Raises:
        ValueError: k not a multiple of 32.
    """
    k = w.shape[-1]
    if k % MX_BLOCK:
        raise ValueError(f"last dim {k} is not a multiple of the MX block of {MX_BLOCK}")
    b = w.float().reshape(*w.shape[:-1], k // MX_BLOCK, MX_BLOCK)
    amax = b.abs().amax(dim=-1)
    _, exp = torch.frexp(amax)  # amax = m * 2^exp, m in [0.5, 1): floor(log2(amax)) = exp - 1
    shared = torch.where(amax > 0, exp - 1 - E2M1_EMAX, -E8M0_BIAS).clamp(-E8M0_BIAS, E8M0_BIAS)
    scaled = b * torch.exp2(-shared.float()).unsqueeze(-1)
    packed = pack_e2m1(e2m1_encode(scaled).reshape(w.shape))
    return packed, (shared + E8M0_BIAS).to(torch.uint8)


def mxfp4_dequantize(packed: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """[..., k/2] packed E2M1 and [..., k/32] E8M0 scales -> [..., k] float32."""
    vals = unpack_e2m1(packed)
    scale = torch.exp2(scales.float() - E8M0_BIAS)
    return (vals.reshape(*vals.shape[:-1], -1, MX_BLOCK) * scale.unsqueeze(-1)).reshape(vals.shape)


@dataclass
class QuantParity(ParityResult):
    """Kernel-math parity (the inherited fields, against a reference that dequantizes the
    kernel's own quantized operands) plus ``quant_error``: the same output against the
    unquantized computation, exposed as ``quant_err_*`` Row fields by :attr:`row_fields`."""

    quant_error: ParityResult | None = None

    @property
    def row_fields(self) -> dict[str, Any]:
        """``quant_err_*`` columns of the row (empty without an unquantized reference)."""
        q = self.quant_error
        if q is None:
            return {}
        return dict(quant_err_verdict=q.verdict, quant_err_within_tol_frac=q.within_tol_frac,
                    quant_err_max_abs_err=q.max_abs_err, quant_err_mean_abs_err=q.mean_abs_err,
                    quant_err_cosine=q.cosine)


def quant_parity(candidate: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor], *,
                 kernel_tolerance: tuple[float, float, str], error_tolerance: tuple[float, float, str]) -> QuantParity:
    """Parity of a quantized kernel's ``out``: against the reference's ``out`` (same quantized
    operands) under ``kernel_tolerance``, and against its ``out_unquantized`` (when present)
    under ``error_tolerance``; each (atol, rtol, rule) as in :func:`fibench.parity.metrics.compare`.

    Raises:
        KeyError: no ``out`` in candidate or reference. ValueError: shapes differ.
    """
    cand = {"out": candidate["out"]}
    kernel = compare(cand, {"out": reference["out"]}, tolerances={"out": kernel_tolerance})
    unq = reference.get("out_unquantized")
    error = compare(cand, {"out": unq}, tolerances={"out": error_tolerance}) if unq is not None else None
    return QuantParity(**{f.name: getattr(kernel, f.name) for f in fields(ParityResult)}, quant_error=error)
