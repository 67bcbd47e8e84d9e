"""Prefill suite: each request's prompt attends over its own tokens, already written to the
paged KV cache (the cache holds the same tokens as the queries); sizes = query tokens per
request (mean, ragged with ``--kv-dist``), ``--batch`` requests.

Inputs: q [sum(n_b), Hq, D] packed by request; the paged K/V and page table of
:func:`fibench.suites.attention.inputs.paged_inputs`. Outputs: out [sum(n_b), Hq, D];
lse [sum(n_b), Hq] fp32 base 2 where returned. ``--causal`` (default) masks keys after the
query's own position; with queries = keys per request, top-left and bottom-right alignment
coincide.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch

from fibench.suites.attention import axes as ax
from fibench.suites.attention.decode_backends import cudnn_reason, fa3_reason
from fibench.suites.attention.inputs import Shape, lengths
from fibench.suites.attention.planning import HostTable, paged_wrapper_launch, prefill_plan, sink_wrapper, workspace
from fibench.suites.attention.suite import PAGED_AXES, PagedAttentionSuite
from fibench.suites.attention.torch_backends import TorchAttention, TorchSdpa
from fibench.suites.base import Backend, Case, Inputs, Launch, Needs, Outputs
from fibench.sweep.axes import Axis


class FlashInferPrefill(Backend):
    """``BatchPrefillWithPagedKVCacheWrapper`` (FA2): plan once, run per call, LSE returned.
    With ``--sinks``: ``BatchAttentionWithAttentionSinkWrapper`` (its AttentionSink variant;
    the plain wrapper never reads sinks on FA2/FA3, flashinfer/prefill.py)."""

    name: ClassVar[str] = "flashinfer-fa2"
    description: ClassVar[str] = "flashinfer BatchPrefillWithPagedKVCacheWrapper, FA2"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("flashinfer.prefill",), dtypes=("bf16", "fp16"))
    fi_backend: ClassVar[str] = "fa2"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import flashinfer

        shape, dtype, t = Shape.of(case), case.torch_dtype, inputs.tensors
        host = HostTable.of(inputs)
        ws = workspace(t["q"].device)
        if shape.sinks:
            wrapper: Any = sink_wrapper(ws, shape.layout, self.fi_backend, shape.head_dim, shape.window_left, dtype)
            detail = f"BatchAttentionWithAttentionSinkWrapper(backend={self.fi_backend})"
        else:
            wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(ws, shape.layout, backend=self.fi_backend)
            detail = f"BatchPrefillWithPagedKVCacheWrapper(backend={self.fi_backend})"

        return paged_wrapper_launch(wrapper, prefill_plan(wrapper, host, t, shape, dtype), t, shape,
                                    detail=f"{detail}, {shape.layout} cache, causal={shape.causal}")


class FlashInferPrefillFA3(FlashInferPrefill):
    """FA3 (Hopper wgmma/TMA) prefill."""

    name: ClassVar[str] = "flashinfer-fa3"
    description: ClassVar[str] = "flashinfer BatchPrefillWithPagedKVCacheWrapper, FA3 (SM90)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(9, 0), modules=("flashinfer.prefill",), dtypes=("bf16", "fp16"))
    fi_backend: ClassVar[str] = "fa3"

    def unsupported_reason(self, case: Case) -> str | None:
        return fa3_reason(case) or super().unsupported_reason(case)


class CudnnPrefill(Backend):
    """``flashinfer.prefill.cudnn_batch_prefill_with_kv_cache`` (cuDNN SDPA, paged K/V, packed
    q located by element offsets, as the compat probe calls it). cuDNN's LSE comes padded per
    request in natural-log units, so it is not requested (parity on the output only). Head
    dim must be 128 (FlashInfer's docstring: qk 128 or 192, vo 128)."""

    name: ClassVar[str] = "cudnn"
    description: ClassVar[str] = "cuDNN SDPA paged prefill (flashinfer cudnn_batch_prefill_with_kv_cache)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("cudnn", "flashinfer.prefill"),
                                   dtypes=("bf16", "fp16"))

    def unsupported_reason(self, case: Case) -> str | None:
        if case.params["head_dim"] != 128:
            return f"head dim {case.params['head_dim']}: FlashInfer's cuDNN prefill takes 128 (cudnn/prefill.py)"
        return cudnn_reason(case) or super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.prefill import cudnn_batch_prefill_with_kv_cache

        shape, t = Shape.of(case), inputs.tensors
        ws = workspace(t["q"].device)
        qo_lens, kv_lens = inputs.info["qo_lens"], inputs.info["kv_lens"]
        batch, max_q, max_kv = len(kv_lens), max(qo_lens), max(kv_lens)
        offsets = (t["qo_indptr"].long() * shape.q_heads * shape.head_dim).to(torch.int32)  # element offsets
        reads = {k: t[k] for k in ("q", "k_cache", "v_cache", "block_tables", "kv_lens")}
        reads.update(q_lens=t["qo_indptr"][1:] - t["qo_indptr"][:-1], q_offsets=offsets)

        def bind(r: Mapping[str, torch.Tensor]):
            out = torch.empty_like(r["q"])
            q_lens, kv_lens_4d = r["q_lens"].view(batch, 1, 1, 1), r["kv_lens"].view(batch, 1, 1, 1)

            def call() -> Outputs:
                cudnn_batch_prefill_with_kv_cache(
                    r["q"], r["k_cache"], r["v_cache"], shape.head_dim ** -0.5, ws,
                    max_token_per_sequence=max_q, max_sequence_kv=max_kv,
                    actual_seq_lens_q=q_lens, actual_seq_lens_kv=kv_lens_4d,
                    block_tables=r["block_tables"], causal=shape.causal, return_lse=False,
                    batch_offsets_q=r["q_offsets"], batch_offsets_o=r["q_offsets"], out=out)
                return {"out": out}
            return call

        return Launch(reads, bind, detail=f"cuDNN SDPA graph (built on first call), HND cache, causal={shape.causal}")


BACKENDS: dict[str, type[Backend]] = {b.name: b for b in (
    TorchAttention, TorchSdpa, FlashInferPrefill, FlashInferPrefillFA3, CudnnPrefill)}


class PrefillSuite(PagedAttentionSuite):
    """Batched paged-KV prefill attention."""

    name: ClassVar[str] = "prefill"
    description: ClassVar[str] = "paged-KV prefill attention (GQA, causal, ragged batches): FlashInfer FA2/FA3, cuDNN"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = ("prefill",)
    axes: ClassVar[tuple[Axis, ...]] = (ax.BATCH, ax.CAUSAL, *PAGED_AXES)
    backends: ClassVar[dict[str, type[Backend]]] = BACKENDS
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"

    def request_lengths(self, case: Case) -> tuple[list[int], list[int]]:
        n = lengths(case, case.params["batch"], case.size)
        return n, list(n)
