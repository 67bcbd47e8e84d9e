"""Attention probes (run inside a probe subprocess): paged decode and prefill on each
backend, attention sinks, MLA. Each call runs FlashInfer on a tiny paged KV cache and
compares with an fp32 torch reference; each ``*_modules`` function names the JIT
modules the call loads, computed with FlashInfer's own URI functions (flashinfer/jit/
attention/modules.py) so nothing is built to find out.

Shapes: 2 requests, 24 KV tokens each on pages of 16 (the second page half full, its
tail filled with noise the kernel must ignore), 8 query heads over 2 KV heads (GQA),
head_dim 128, bf16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from fibench.audit.compat.checks import attention_ref, close_to

BATCH, KV_LEN, PAGE, HQ, HKV, HEAD_DIM = 2, 24, 16, 8, 2, 128
DTYPE = torch.bfloat16
ATOL, RTOL = 2e-2, 2e-2
WORKSPACE_BYTES = 128 * 1024 * 1024


@dataclass
class PagedKV:
    """A tiny paged KV cache in NHD layout plus the index tensors FlashInfer wants."""

    k: torch.Tensor  # (pages, PAGE, HKV, HEAD_DIM)
    v: torch.Tensor
    indptr: torch.Tensor  # (BATCH + 1,) int32
    indices: torch.Tensor  # (pages,) int32
    last_page_len: torch.Tensor  # (BATCH,) int32
    seq_lens: torch.Tensor  # (BATCH,) int32
    block_tables: torch.Tensor  # (BATCH, pages per request) int32

    def request_kv(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, v) of request ``b`` as (KV_LEN, HKV, HEAD_DIM)."""
        pages = self.block_tables[b].long()
        k = self.k[pages].reshape(-1, HKV, HEAD_DIM)[:KV_LEN]
        v = self.v[pages].reshape(-1, HKV, HEAD_DIM)[:KV_LEN]
        return k, v

    def hnd(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, v) in HND layout (pages, HKV, PAGE, HEAD_DIM), contiguous."""
        return self.k.transpose(1, 2).contiguous(), self.v.transpose(1, 2).contiguous()


def make_paged_kv(device: torch.device) -> PagedKV:
    """Random paged KV cache (seeded) on ``device``."""
    torch.manual_seed(0)
    pages_per_req = math.ceil(KV_LEN / PAGE)
    num_pages = BATCH * pages_per_req
    k = torch.randn(num_pages, PAGE, HKV, HEAD_DIM, dtype=DTYPE, device=device)
    v = torch.randn(num_pages, PAGE, HKV, HEAD_DIM, dtype=DTYPE, device=device)
    i32 = dict(dtype=torch.int32, device=device)
    return PagedKV(
        k=k,
        v=v,
        indptr=torch.arange(0, num_pages + 1, pages_per_req, **i32),
        indices=torch.arange(num_pages, **i32),
        last_page_len=torch.full((BATCH,), KV_LEN - (pages_per_req - 1) * PAGE, **i32),
        seq_lens=torch.full((BATCH,), KV_LEN, **i32),
        block_tables=torch.arange(num_pages, **i32).view(BATCH, pages_per_req),
    )


def _workspace(device: torch.device) -> torch.Tensor:
    return torch.zeros(WORKSPACE_BYTES, dtype=torch.uint8, device=device)


def _sinks(device: torch.device) -> torch.Tensor:
    return torch.linspace(-1.0, 2.0, HQ, device=device, dtype=torch.float32)


def _decode_ref(kv: PagedKV, q: torch.Tensor, sinks: torch.Tensor | None) -> torch.Tensor:
    outs = [attention_ref(q[b : b + 1], *kv.request_kv(b), causal=False, sinks=sinks) for b in range(BATCH)]
    return torch.cat(outs, dim=0)


def _prefill_ref(kv: PagedKV, q: torch.Tensor, sinks: torch.Tensor | None = None) -> torch.Tensor:
    outs = [
        attention_ref(q[b * KV_LEN : (b + 1) * KV_LEN], *kv.request_kv(b), causal=True, sinks=sinks)
        for b in range(BATCH)
    ]
    return torch.cat(outs, dim=0)


# ---- module names (no JitSpec is built) ---------------------------------------------


def _uri_args() -> tuple[Any, ...]:
    return (DTYPE, DTYPE, DTYPE, torch.int32, HEAD_DIM, HEAD_DIM, 0, False, False)


def decode_modules(backend: str, tensor_cores: bool, **_: Any) -> list[str]:
    """batch_decode module (CUDA cores) or batch_prefill module (tensor cores), as
    decode.py BatchDecodeWithPagedKVCacheWrapper.plan picks them."""
    from flashinfer.jit import get_batch_decode_uri, get_batch_prefill_uri  # type: ignore

    if not tensor_cores:
        return [get_batch_decode_uri(*_uri_args())]
    return [get_batch_prefill_uri(backend, *_uri_args(), False)]


def prefill_modules(backend: str, **_: Any) -> list[str]:
    """The batch_prefill module BatchPrefillWithPagedKVCacheWrapper.plan loads."""
    from flashinfer.jit import get_batch_prefill_uri  # type: ignore

    return [get_batch_prefill_uri(backend, *_uri_args(), False)]


def sink_modules(backend: str, **_: Any) -> list[str]:
    """The URI BatchAttentionWithAttentionSinkWrapper builds (flashinfer/attention/_core.py)."""
    from flashinfer.jit.utils import filename_safe_dtype_map  # type: ignore

    return [f"batch_prefill_attention_sink_{filename_safe_dtype_map[DTYPE]}_swa_False_{backend}"]


def xqa_modules(**_: Any) -> list[str]:
    """The XQA module for these shapes (gen_xqa_module only assembles flags)."""
    from flashinfer.jit.xqa import gen_xqa_module  # type: ignore

    return [gen_xqa_module(DTYPE, DTYPE, PAGE, HEAD_DIM, HQ // HKV, False, DTYPE, 1).name]


def trtllm_modules(**_: Any) -> list[str]:
    """trtllm-gen attention launcher; name from jit/attention/modules.py (building the
    spec would download cubin headers, so only the name is used)."""
    return ["fmha_gen"]


def mla_modules(backend: str, **_: Any) -> list[str]:
    """The batch_mla module BatchMLAPagedAttentionWrapper.plan loads."""
    from flashinfer.jit import get_batch_mla_uri  # type: ignore

    return [get_batch_mla_uri(backend, DTYPE, DTYPE, DTYPE, torch.int32, MLA_CKV, MLA_KPE, False)]


# ---- calls --------------------------------------------------------------------------


def decode(ctx: Any, backend: str, tensor_cores: bool, sinks: bool = False) -> str:
    """BatchDecodeWithPagedKVCacheWrapper on ``backend``; optional attention sinks."""
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(
        _workspace(dev), "NHD", use_tensor_cores=tensor_cores, backend=backend
    )
    wrapper.plan(kv.indptr, kv.indices, kv.last_page_len, HQ, HKV, HEAD_DIM, PAGE,
                 q_data_type=DTYPE, kv_data_type=DTYPE)
    s = _sinks(dev) if sinks else None
    out = wrapper.run(q, (kv.k, kv.v), sinks=s) if sinks else wrapper.run(q, (kv.k, kv.v))
    torch.cuda.synchronize(dev)
    return close_to("decode", out, _decode_ref(kv, q, s), ATOL, RTOL)


def xqa_decode(ctx: Any, sinks: bool = False) -> str:
    """trtllm_batch_decode_with_kv_cache(backend='xqa') (HND cache), optional sinks."""
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    s = _sinks(dev) if sinks else None
    out = flashinfer.decode.trtllm_batch_decode_with_kv_cache(
        q, kv.hnd(), _workspace(dev), kv.block_tables, kv.seq_lens, KV_LEN,
        bmm1_scale=1.0 / math.sqrt(HEAD_DIM), bmm2_scale=1.0, sinks=s, kv_layout="HND", backend="xqa",
    )
    torch.cuda.synchronize(dev)
    return close_to("xqa decode", out, _decode_ref(kv, q, s), ATOL, RTOL)


def cudnn_decode(ctx: Any) -> str:
    """cudnn_batch_decode_with_kv_cache (HND cache). Fails early when the cudnn Python
    package is missing: FlashInfer's fallback would download cubins."""
    _require_cudnn()
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    k, v = kv.hnd()
    out = flashinfer.decode.cudnn_batch_decode_with_kv_cache(
        q, k, v, 1.0 / math.sqrt(HEAD_DIM), _workspace(dev), max_sequence_kv=KV_LEN,
        actual_seq_lens_kv=kv.seq_lens.view(BATCH, 1, 1, 1), block_tables=kv.block_tables,
    )
    torch.cuda.synchronize(dev)
    return close_to("cudnn decode", out, _decode_ref(kv, q, None), ATOL, RTOL)


def prefill(ctx: Any, backend: str) -> str:
    """BatchPrefillWithPagedKVCacheWrapper on ``backend``, causal, qo_len == kv_len."""
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH * KV_LEN, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    qo_indptr = torch.arange(0, BATCH * KV_LEN + 1, KV_LEN, dtype=torch.int32, device=dev)
    wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(_workspace(dev), "NHD", backend=backend)
    wrapper.plan(qo_indptr, kv.indptr, kv.indices, kv.last_page_len, HQ, HKV, HEAD_DIM, PAGE,
                 causal=True, q_data_type=DTYPE, kv_data_type=DTYPE)
    out = wrapper.run(q, (kv.k, kv.v))
    torch.cuda.synchronize(dev)
    return close_to("prefill", out, _prefill_ref(kv, q), ATOL, RTOL)


def cudnn_prefill(ctx: Any) -> str:
    """cudnn_batch_prefill_with_kv_cache (HND cache, causal, packed q with element offsets)."""
    _require_cudnn()
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH * KV_LEN, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    k, v = kv.hnd()
    lens = kv.seq_lens.view(BATCH, 1, 1, 1)
    # cuDNN's q/o batch stride is one token; requests are found by element offsets
    # (flashinfer/cudnn/prefill.py _build_prefill_graph, ragged q/o).
    offsets = (torch.arange(BATCH + 1, device=dev) * KV_LEN * HQ * HEAD_DIM).to(torch.int32)
    out, _ = flashinfer.prefill.cudnn_batch_prefill_with_kv_cache(
        q, k, v, 1.0 / math.sqrt(HEAD_DIM), _workspace(dev), max_token_per_sequence=KV_LEN,
        max_sequence_kv=KV_LEN, actual_seq_lens_q=lens, actual_seq_lens_kv=lens,
        block_tables=kv.block_tables, causal=True, return_lse=False,
        batch_offsets_q=offsets, batch_offsets_o=offsets,
    )
    torch.cuda.synchronize(dev)
    return close_to("cudnn prefill", out, _prefill_ref(kv, q), ATOL, RTOL)


def sink(ctx: Any, backend: str) -> str:
    """BatchAttentionWithAttentionSinkWrapper (fa2/fa3), causal prefill with sinks."""
    import flashinfer  # type: ignore

    dev = ctx.device
    kv = make_paged_kv(dev)
    q = torch.randn(BATCH * KV_LEN, HQ, HEAD_DIM, dtype=DTYPE, device=dev)
    qo_indptr = torch.arange(0, BATCH * KV_LEN + 1, KV_LEN, dtype=torch.int32, device=dev)
    wrapper = flashinfer.BatchAttentionWithAttentionSinkWrapper(
        _workspace(dev), "NHD", backend=backend, q_data_type=DTYPE, kv_data_type=DTYPE,
        head_dim_qk=HEAD_DIM, head_dim_vo=HEAD_DIM, window_left=-1,
    )
    wrapper.plan(qo_indptr, kv.indptr, kv.indices, kv.last_page_len, HQ, HKV, HEAD_DIM, PAGE,
                 causal=True, window_left=-1, q_data_type=DTYPE, kv_data_type=DTYPE)
    s = _sinks(dev)
    out = wrapper.run(q, (kv.k, kv.v), s, 1.0 / math.sqrt(HEAD_DIM))
    torch.cuda.synchronize(dev)
    return close_to("sink prefill", out, _prefill_ref(kv, q, s), ATOL, RTOL)


MLA_HEADS, MLA_CKV, MLA_KPE, MLA_LEN = 16, 512, 64, 24


def _mla_ref(q_nope, q_pe, ckv, kpe, sm_scale: float) -> torch.Tensor:
    """One request: q_* (heads, d), ckv (L, 512), kpe (L, 64) -> (heads, 512) fp32 (the mla
    suite's reference, fibench.suites.attention.reference.mla_fp32)."""
    from fibench.suites.attention.reference import mla_fp32

    return mla_fp32(q_nope[None], q_pe[None], ckv, kpe, sm_scale)[0][0]


def mla(ctx: Any, backend: str) -> str:
    """BatchMLAPagedAttentionWrapper decode (page_size 1, DeepSeek dims 512 + 64)."""
    import flashinfer  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    i32 = dict(dtype=torch.int32, device=dev)
    total = BATCH * MLA_LEN
    q_nope = torch.randn(BATCH, MLA_HEADS, MLA_CKV, dtype=DTYPE, device=dev)
    q_pe = torch.randn(BATCH, MLA_HEADS, MLA_KPE, dtype=DTYPE, device=dev)
    ckv = torch.randn(total, 1, MLA_CKV, dtype=DTYPE, device=dev)
    kpe = torch.randn(total, 1, MLA_KPE, dtype=DTYPE, device=dev)
    sm_scale = 1.0 / math.sqrt(128 + MLA_KPE)
    wrapper = flashinfer.mla.BatchMLAPagedAttentionWrapper(_workspace(dev), backend=backend)
    wrapper.plan(torch.arange(BATCH + 1, **i32), torch.arange(0, total + 1, MLA_LEN, **i32),
                 torch.arange(total, **i32), torch.full((BATCH,), MLA_LEN, **i32), MLA_HEADS,
                 MLA_CKV, MLA_KPE, 1, False, sm_scale, DTYPE, DTYPE)
    out = wrapper.run(q_nope, q_pe, ckv, kpe)
    torch.cuda.synchronize(dev)
    ref = torch.stack([
        _mla_ref(q_nope[b], q_pe[b], ckv[b * MLA_LEN:(b + 1) * MLA_LEN, 0], kpe[b * MLA_LEN:(b + 1) * MLA_LEN, 0],
                 sm_scale)
        for b in range(BATCH)
    ])
    return close_to("mla", out, ref, ATOL, RTOL)


def mla_trtllm(ctx: Any) -> str:
    """trtllm_batch_decode_with_kv_cache_mla on trtllm-gen (DeepSeek dims, 128 heads,
    pages of 64 so the page count is a multiple of 128 / page_size)."""
    import flashinfer  # type: ignore

    dev = ctx.device
    torch.manual_seed(0)
    heads, page, kv_len = 128, 64, 100
    pages_per_req = 2
    d = MLA_CKV + MLA_KPE
    query = torch.randn(BATCH, 1, heads, d, dtype=DTYPE, device=dev)
    cache = torch.randn(BATCH * pages_per_req, page, d, dtype=DTYPE, device=dev)
    tables = torch.arange(BATCH * pages_per_req, dtype=torch.int32, device=dev).view(BATCH, pages_per_req)
    lens = torch.full((BATCH,), kv_len, dtype=torch.int32, device=dev)
    sm_scale = 1.0 / math.sqrt(128 + MLA_KPE)
    out = flashinfer.mla.trtllm_batch_decode_with_kv_cache_mla(
        query, cache, _workspace(dev), 128, MLA_CKV, MLA_KPE, tables, lens, page * pages_per_req,
        bmm1_scale=sm_scale, bmm2_scale=1.0, backend="trtllm-gen",
    )
    torch.cuda.synchronize(dev)
    refs = []
    for b in range(BATCH):
        kv = cache[tables[b].long()].reshape(-1, d)[:kv_len]
        refs.append(_mla_ref(query[b, 0, :, :MLA_CKV], query[b, 0, :, MLA_CKV:], kv[:, :MLA_CKV],
                             kv[:, MLA_CKV:], sm_scale))
    return close_to("trtllm-gen mla", out.reshape(BATCH, heads, MLA_CKV), torch.stack(refs), ATOL, RTOL)


def _require_cudnn() -> None:
    import importlib.util

    if importlib.util.find_spec("cudnn") is None:
        raise ModuleNotFoundError(
            "No module named 'cudnn': install nvidia-cudnn-frontend (without it FlashInfer falls "
            "back to cuDNN SDPA cubins fetched over the network)"
        )
