"""Decode suite: one new token per request attends over its paged KV cache (GQA);
sizes = batch (requests).

Inputs (shared by all backends, :func:`fibench.suites.attention.inputs.paged_inputs`):
q [B, Hq, D]; k_cache, v_cache in the ``--kv-layout``; the page table (CSR and block-table
forms) of ragged lengths (``--kv-len`` mean, ``--kv-dist``); sink logits [Hq] with
``--sinks``. Outputs: out [B, Hq, D] in the case dtype; lse [B, Hq] fp32 (base 2) from the
backends that return it (FlashInfer's wrappers and the reference).
"""

from __future__ import annotations

from typing import ClassVar

from fibench.suites.attention import axes as ax
from fibench.suites.attention.decode_backends import (CudnnDecode, FlashInferDecode, FlashInferDecodeFA3,
                                                      FlashInferDecodeTC, TrtllmXqaDecode)
from fibench.suites.attention.inputs import lengths
from fibench.suites.attention.suite import PAGED_AXES, PagedAttentionSuite
from fibench.suites.attention.torch_backends import TorchAttention, TorchSdpa
from fibench.suites.base import Backend, Case
from fibench.sweep.axes import Axis

BACKENDS: dict[str, type[Backend]] = {b.name: b for b in (
    TorchAttention, TorchSdpa, FlashInferDecode, FlashInferDecodeTC, FlashInferDecodeFA3, TrtllmXqaDecode,
    CudnnDecode)}


class DecodeSuite(PagedAttentionSuite):
    """Batched paged-KV decode attention."""

    name: ClassVar[str] = "decode"
    description: ClassVar[str] = "paged-KV decode attention (GQA, ragged batches): FlashInfer FA2/FA3, XQA, cuDNN"
    size_name: ClassVar[str] = "batch"
    ops: ClassVar[tuple[str, ...]] = ("decode",)
    axes: ClassVar[tuple[Axis, ...]] = (ax.KV_LEN, *PAGED_AXES)
    backends: ClassVar[dict[str, type[Backend]]] = BACKENDS
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"

    def request_lengths(self, case: Case) -> tuple[list[int], list[int]]:
        kv = lengths(case, case.size, case.params["kv_len"])
        return [1] * len(kv), kv
