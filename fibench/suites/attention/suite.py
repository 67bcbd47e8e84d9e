"""What the attention suites share: parity on the outputs a backend returns (output, and the
log-sum-exp where the backend gives it), and the paged GQA suite base of decode and prefill.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from fibench.errors import UsageError
from fibench.suites.attention import axes as ax
from fibench.suites.attention.inputs import Shape, paged_inputs
from fibench.suites.attention.work import paged_attention_work
from fibench.suites.base import Case, Inputs, Outputs, Suite
from fibench.sweep.axes import Axis

LSE_TOLERANCE = (1e-3, 1e-3, "allclose")
"""atol/rtol of the log-sum-exp (base 2). The LSE is the kernel's fp32 softmax state; the
fp32 default (1e-5) would fail on summation order alone (exp2 approximations, split-KV
merges). 1e-3 in log2 units is a 0.07% change of the softmax denominator, below half a bf16
ULP of the output (2^-9 = 0.2%), so any LSE error that could matter to a cascade merge still
fails."""


class AttentionSuite(Suite):
    """Base of the attention suites.

    Backends return ``out`` and, when their kernel gives it, ``lse``; the reference returns
    both. Parity compares the outputs the backend returns (the verdict covers both when LSE is
    present; its worst elements name the output). ``out`` uses the dtype table of DESIGN.md;
    ``lse`` uses :data:`LSE_TOLERANCE` (why: see there).
    """

    tolerances: ClassVar[dict[str, tuple[float, float, str]]] = {"lse": LSE_TOLERANCE}
    cpu_default_model: ClassVar[str | None] = "small"

    def check_parity(self, case: Case, candidate: Outputs, reference: Outputs) -> Any:
        """Element-wise parity of the candidate's outputs against the same-named reference
        outputs.

        Raises:
            ValueError: the candidate returns an output the reference does not.
        """
        from fibench.parity.metrics import compare

        extra = sorted(set(candidate) - set(reference))
        if extra:
            raise ValueError(f"outputs {extra} have no reference counterpart")
        return compare(candidate, {k: reference[k] for k in candidate}, tolerances=self.tolerances)


PAGED_AXES: tuple[Axis, ...] = (ax.PAGE_SIZE, ax.KV_DIST, ax.KV_LAYOUT, ax.Q_HEADS, ax.KV_HEADS, ax.HEAD_DIM,
                                ax.WINDOW, ax.SINKS)


class PagedAttentionSuite(AttentionSuite):
    """Paged GQA attention (decode and prefill): shared checks and input generation.

    Subclasses say how a case maps to request lengths (:meth:`request_lengths`); the mask is
    causal where the case's ``causal`` parameter is (:meth:`Shape.of`).
    """

    def check_preset(self, preset: Any) -> None:
        """Refuse MLA-only presets (their attention is the mla suite's).

        Raises:
            UsageError: the preset's attention is MLA.
        """
        if preset.is_mla and not preset.kv_heads:
            raise UsageError(f"preset '{preset.name}' uses multi-head latent attention; run `fibench run mla`")

    def check_point(self, params: dict[str, Any]) -> None:
        """Raises UsageError when q heads are not a whole number of KV-head groups."""
        if params["q_heads"] % params["kv_heads"]:
            raise UsageError(f"--q-heads {params['q_heads']} is not a multiple of --kv-heads {params['kv_heads']} "
                             "(GQA shares each KV head among a whole group of query heads)")

    def request_lengths(self, case: Case) -> tuple[list[int], list[int]]:
        """(query tokens, KV tokens) per request."""
        raise NotImplementedError

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        """Paged inputs (see :func:`fibench.suites.attention.inputs.paged_inputs`) and the
        FLOP/byte model of the drawn lengths."""
        shape = Shape.of(case)
        qo_lens, kv_lens = self.request_lengths(case)
        tensors, info = paged_inputs(case, device, shape, qo_lens, kv_lens)
        elem = torch.empty((), dtype=case.torch_dtype).element_size()
        work = paged_attention_work(qo_lens, kv_lens, q_heads=shape.q_heads, kv_heads=shape.kv_heads,
                                    head_dim=shape.head_dim, elem_bytes=elem, causal=shape.causal,
                                    window=shape.window)
        return Inputs(tensors, work, info)
