"""A stand-in ``flashinfer`` package for CPU tests of the attention backends' GPU code paths.

Each stand-in has the parameter names and kinds of FlashInfer 0.6.13's function or method
(flashinfer/decode.py, prefill.py, attention/_core.py, mla/_core.py, cudnn/*.py), so a call
with a wrong keyword or a missing argument fails here as it would on the GPU. They compute
attention independently of fibench's references: token by token through the page-table form
each API takes (CSR indptr/indices/last-page lengths, block tables, element offsets), float64
softmax, LSE in base 2 as FlashInfer returns it.
"""

from __future__ import annotations

import math
import sys
import types

import torch


def _token_rows(cache, pages, length, layout):
    """[length, H, D] (or [length, C] for MLA caches) read one token at a time."""
    page = cache.shape[2] if layout == "HND" else cache.shape[1]
    rows = []
    for t in range(length):
        p, s = int(pages[t // page]), t % page
        rows.append(cache[p, :, s] if layout == "HND" else cache[p, s])
    return torch.stack(rows).double()


def _attend(q, k, v, *, causal, window_left, sinks, scale):
    """q [n_q, Hq, D], k/v [n_k, Hkv, D] float64 -> (out, lse base 2)."""
    n_q, hq, _ = q.shape
    n_k, hkv, _ = k.shape
    heads = torch.arange(hq) // (hq // hkv)
    logits = torch.einsum("qhd,khd->hqk", q, k[:, heads]) * scale
    pos = torch.arange(n_q)[:, None] + n_k - n_q
    j = torch.arange(n_k)[None, :]
    hide = (j > pos) if causal else torch.zeros(n_q, n_k, dtype=torch.bool)
    if window_left >= 0:
        hide |= j < pos - window_left
    logits = logits.masked_fill(hide, float("-inf"))
    if sinks is not None:
        logits = torch.cat([logits, sinks.double()[:, None, None].expand(hq, n_q, 1)], dim=-1)
        v = torch.cat([v, torch.zeros(1, *v.shape[1:], dtype=v.dtype)])
    p = torch.softmax(logits, dim=-1)
    out = torch.einsum("hqk,khd->qhd", p, v[:, heads])
    return out, (torch.logsumexp(logits, dim=-1) / math.log(2)).transpose(0, 1)


def _write(out, lse, o, l):
    out.copy_(o.to(out.dtype))
    if lse is not None:
        lse.copy_(l.float())


class BatchDecodeWithPagedKVCacheWrapper:
    def __init__(self, float_workspace_buffer, kv_layout="NHD", use_cuda_graph=False, use_tensor_cores=False,
                 paged_kv_indptr_buffer=None, paged_kv_indices_buffer=None, paged_kv_last_page_len_buffer=None,
                 backend="auto", jit_args=None):
        self.layout = kv_layout

    def plan(self, indptr, indices, last_page_len, num_qo_heads, num_kv_heads, head_dim, page_size,
             pos_encoding_mode="NONE", window_left=-1, logits_soft_cap=None, q_data_type="float16",
             kv_data_type=None, o_data_type=None, data_type=None, sm_scale=None, rope_scale=None, rope_theta=None,
             non_blocking=True, block_tables=None, seq_lens=None, fixed_split_size=None, disable_split_kv=False,
             q_len_per_req=1):
        assert indptr.device.type == "cpu" and last_page_len.device.type == "cpu"
        lens = [(int(indptr[b + 1]) - int(indptr[b]) - 1) * page_size + int(last_page_len[b])
                for b in range(len(last_page_len))]
        self.table = (indptr, indices, lens, window_left)

    def run(self, q, paged_kv_cache, *args, q_scale=None, k_scale=None, v_scale=None, out=None, lse=None,
            return_lse=False, enable_pdl=None, window_left=None, sinks=None, q_len_per_req=None,
            skip_softmax_threshold_scale_factor=None, kv_cache_sf=None):
        indptr, indices, lens, wl = self.table
        k_cache, v_cache = paged_kv_cache
        for b, n in enumerate(lens):
            pages = indices[int(indptr[b]):int(indptr[b + 1])]
            o, l = _attend(q[b:b + 1].double(), _token_rows(k_cache, pages, n, self.layout),
                           _token_rows(v_cache, pages, n, self.layout), causal=False, window_left=wl, sinks=None,
                           scale=q.shape[-1] ** -0.5)
            _write(out[b:b + 1], lse[b:b + 1] if return_lse else None, o, l)
        return (out, lse) if return_lse else out


class BatchPrefillWithPagedKVCacheWrapper:
    def __init__(self, float_workspace_buffer, kv_layout="NHD", use_cuda_graph=False, qo_indptr_buf=None,
                 paged_kv_indptr_buf=None, paged_kv_indices_buf=None, paged_kv_last_page_len_buf=None,
                 custom_mask_buf=None, mask_indptr_buf=None, backend="auto", jit_args=None, jit_kwargs=None):
        self.layout = kv_layout

    def plan(self, qo_indptr, paged_kv_indptr, paged_kv_indices, paged_kv_last_page_len, num_qo_heads,
             num_kv_heads, head_dim_qk, page_size, head_dim_vo=None, custom_mask=None, packed_custom_mask=None,
             causal=False, pos_encoding_mode="NONE", use_fp16_qk_reduction=False, sm_scale=None, window_left=-1,
             logits_soft_cap=None, rope_scale=None, rope_theta=None, q_data_type="float16", kv_data_type=None,
             o_data_type=None, non_blocking=True, prefix_len_ptr=None, token_pos_in_items_ptr=None,
             token_pos_in_items_len=0, max_item_len_ptr=None, seq_lens=None, seq_lens_q=None, block_tables=None,
             max_token_per_sequence=None, max_sequence_kv=None, fixed_split_size=None, disable_split_kv=False):
        assert qo_indptr.device.type == "cpu" and paged_kv_indptr.device.type == "cpu"
        lens = [(int(paged_kv_indptr[b + 1]) - int(paged_kv_indptr[b]) - 1) * page_size + int(paged_kv_last_page_len[b])
                for b in range(len(paged_kv_last_page_len))]
        self.table = (qo_indptr, paged_kv_indptr, paged_kv_indices, lens, causal, window_left)

    def run(self, q, paged_kv_cache, *args, q_scale=None, k_scale=None, v_scale=None, out=None, lse=None,
            return_lse=False, enable_pdl=None, window_left=None, sinks=None, kv_cache_sf=None,
            skip_softmax_threshold_scale_factor=None):
        qo, indptr, indices, lens, causal, wl = self.table
        sink, scale = (args[0], args[1]) if args else (None, q.shape[-1] ** -0.5)
        k_cache, v_cache = paged_kv_cache
        for b, n in enumerate(lens):
            rows = slice(int(qo[b]), int(qo[b + 1]))
            pages = indices[int(indptr[b]):int(indptr[b + 1])]
            o, l = _attend(q[rows].double(), _token_rows(k_cache, pages, n, self.layout),
                           _token_rows(v_cache, pages, n, self.layout), causal=causal, window_left=wl, sinks=sink,
                           scale=scale)
            _write(out[rows], lse[rows] if return_lse else None, o, l)
        return (out, lse) if return_lse else out


class BatchAttentionWithAttentionSinkWrapper(BatchPrefillWithPagedKVCacheWrapper):
    def __init__(self, float_workspace_buffer, kv_layout="NHD", use_cuda_graph=False, qo_indptr_buf=None,
                 paged_kv_indptr_buf=None, paged_kv_indices_buf=None, paged_kv_last_page_len_buf=None,
                 custom_mask_buf=None, mask_indptr_buf=None, backend="auto", pos_encoding_mode="NONE",
                 use_fp16_qk_reduction=False, q_data_type=torch.bfloat16, kv_data_type=torch.bfloat16,
                 head_dim_qk=128, head_dim_vo=128, window_left=-1):
        assert backend in ("fa2", "fa3", "auto")
        super().__init__(float_workspace_buffer, kv_layout)


def trtllm_batch_decode_with_kv_cache(query, kv_cache, workspace_buffer, block_tables, seq_lens, max_seq_len,
                                      bmm1_scale=1.0, bmm2_scale=1.0, window_left=-1, out=None, out_dtype=None,
                                      o_sf_scale=None, o_sf_vec_size=None, sinks=None, kv_layout="HND",
                                      enable_pdl=None, backend="auto", q_len_per_req=1, o_scale=1.0, mask=None,
                                      max_q_len=None, cum_seq_lens_q=None, skip_softmax_threshold_scale_factor=None,
                                      kv_cache_sf=None, uses_shared_paged_kv_idx=True, lse=None, return_lse=False):
    assert backend == "xqa" and max_seq_len >= int(seq_lens.max())
    k_cache, v_cache = kv_cache
    for b in range(query.shape[0]):
        n = int(seq_lens[b])
        o, _ = _attend(query[b:b + 1].double(), _token_rows(k_cache, block_tables[b], n, kv_layout),
                       _token_rows(v_cache, block_tables[b], n, kv_layout), causal=False, window_left=window_left,
                       sinks=sinks, scale=bmm1_scale)
        out[b:b + 1].copy_((o * bmm2_scale).to(out.dtype))
    return out


def cudnn_batch_decode_with_kv_cache(q, k_cache, v_cache, scale, workspace_buffer, *, max_sequence_kv,
                                     actual_seq_lens_kv=None, block_tables=None, is_cuda_graph_compatible=False,
                                     batch_offsets_q=None, batch_offsets_o=None, batch_offsets_k=None,
                                     batch_offsets_v=None, out=None):
    assert actual_seq_lens_kv.shape == (q.shape[0], 1, 1, 1)
    for b in range(q.shape[0]):
        n = int(actual_seq_lens_kv[b])
        o, _ = _attend(q[b:b + 1].double(), _token_rows(k_cache, block_tables[b], n, "HND"),
                       _token_rows(v_cache, block_tables[b], n, "HND"), causal=False, window_left=-1, sinks=None,
                       scale=scale)
        out[b:b + 1].copy_(o.to(out.dtype))
    return out


def cudnn_batch_prefill_with_kv_cache(q, k_cache, v_cache, scale, workspace_buffer, *, max_token_per_sequence,
                                      max_sequence_kv, actual_seq_lens_q, actual_seq_lens_kv, block_tables=None,
                                      causal, return_lse, q_scale=None, k_scale=None, v_scale=None,
                                      batch_offsets_q=None, batch_offsets_o=None, batch_offsets_k=None,
                                      batch_offsets_v=None, batch_offsets_stats=None, out=None, lse=None,
                                      is_cuda_graph_compatible=False, backend=None, o_data_type=None):
    row = q.shape[1] * q.shape[2]  # element offsets -> token rows
    for b in range(actual_seq_lens_q.shape[0]):
        start, n_q, n_k = int(batch_offsets_q[b]) // row, int(actual_seq_lens_q[b]), int(actual_seq_lens_kv[b])
        o, _ = _attend(q[start:start + n_q].double(), _token_rows(k_cache, block_tables[b], n_k, "HND"),
                       _token_rows(v_cache, block_tables[b], n_k, "HND"), causal=causal, window_left=-1, sinks=None,
                       scale=scale)
        out[start:start + n_q].copy_(o.to(out.dtype))
    return out, None


class BatchMLAPagedAttentionWrapper:
    def __init__(self, float_workspace_buffer, use_cuda_graph=False, qo_indptr=None, kv_indptr=None,
                 kv_indices=None, kv_len_arr=None, backend="auto"):
        pass

    def plan(self, qo_indptr, kv_indptr, kv_indices, kv_len_arr, num_heads, head_dim_ckv, head_dim_kpe, page_size,
             causal, sm_scale, q_data_type, kv_data_type, use_profiler=False):
        assert kv_indptr.device.type == "cpu" and not causal
        self.table = (kv_indptr, kv_indices, [int(n) for n in kv_len_arr], sm_scale)

    def run(self, q_nope, q_pe, ckv_cache, kpe_cache, out=None, lse=None, return_lse=False, profiler_buffer=None,
            kv_len=None, page_table=None, return_lse_base_on_e=False, o_scale=None):
        indptr, indices, lens, scale = self.table
        for b, n in enumerate(lens):
            pages = indices[int(indptr[b]):int(indptr[b + 1])]
            ckv, kpe = _token_rows(ckv_cache, pages, n, "NHD"), _token_rows(kpe_cache, pages, n, "NHD")
            q = torch.cat([q_nope[b:b + 1], q_pe[b:b + 1]], dim=-1).double()
            k = torch.cat([ckv, kpe], dim=-1)[:, None]
            o, l = _attend(q, k, ckv[:, None], causal=False, window_left=-1, sinks=None, scale=scale)
            _write(out[b:b + 1], lse[b:b + 1] if return_lse else None, o, l)
        return (out, lse) if return_lse else out


def install(monkeypatch) -> types.ModuleType:
    """Put the stand-in package (flashinfer, .decode, .prefill, .mla) into sys.modules."""
    fi = types.ModuleType("flashinfer")
    fi.BatchDecodeWithPagedKVCacheWrapper = BatchDecodeWithPagedKVCacheWrapper
    fi.BatchPrefillWithPagedKVCacheWrapper = BatchPrefillWithPagedKVCacheWrapper
    fi.BatchAttentionWithAttentionSinkWrapper = BatchAttentionWithAttentionSinkWrapper
    subs = {"decode": dict(trtllm_batch_decode_with_kv_cache=trtllm_batch_decode_with_kv_cache,
                           cudnn_batch_decode_with_kv_cache=cudnn_batch_decode_with_kv_cache),
            "prefill": dict(cudnn_batch_prefill_with_kv_cache=cudnn_batch_prefill_with_kv_cache),
            "mla": dict(BatchMLAPagedAttentionWrapper=BatchMLAPagedAttentionWrapper)}
    for name, attrs in subs.items():
        mod = types.ModuleType(f"flashinfer.{name}")
        for k, v in attrs.items():
            setattr(mod, k, v)
        setattr(fi, name, mod)
        monkeypatch.setitem(sys.modules, f"flashinfer.{name}", mod)
    monkeypatch.setitem(sys.modules, "flashinfer", fi)
    return fi
