"""Pure-torch backends of paged GQA attention (decode and prefill share them: decode is one
query per request).

* ``torch`` (reference): per request, gather the request's pages, attend in fp32
  (:func:`fibench.suites.attention.reference.attention_fp32`), round the output once.
* ``torch-sdpa``: what a user writes without FlashInfer: gather every request's pages into a
  padded dense batch (from the block table), build the padding/causal/window mask, call
  ``torch.nn.functional.scaled_dot_product_attention``, unpad. For one query per request the
  query heads of a KV group are laid out as the group's query rows (exact, and no KV copy per
  query head); otherwise K/V are expanded to the query heads (``repeat_interleave``).

Both take their lengths from the case on the host, so neither synchronises inside the call
(both are graph-capturable).
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import torch
import torch.nn.functional as F

from fibench.suites.attention.inputs import Shape
from fibench.suites.attention.paging import gather_request
from fibench.suites.attention.reference import attention_fp32
from fibench.suites.base import Backend, Case, Inputs, Launch, Outputs
from fibench.trace.markers import op_range


class TorchAttention(Backend):
    """Reference: fp32 attention per request over its gathered pages, one final rounding of
    the output; the LSE (base 2) stays fp32."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: pages gathered per request, fp32 softmax attention"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        shape, dtype = Shape.of(case), case.torch_dtype
        qo_lens, kv_lens = inputs.info["qo_lens"], inputs.info["kv_lens"]
        starts = [0]
        for n in qo_lens:
            starts.append(starts[-1] + n)
        pages = inputs.tensors["kv_indptr"].tolist()
        names = ["q", "k_cache", "v_cache", "kv_indices"] + (["sinks"] if shape.sinks else [])

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("gather"):  # one range per step, not per request: ranges cost the trace
                    kv = [(gather_request(t["k_cache"], t["kv_indices"][pages[b]:pages[b + 1]], n, shape.layout),
                           gather_request(t["v_cache"], t["kv_indices"][pages[b]:pages[b + 1]], n, shape.layout))
                          for b, n in enumerate(kv_lens)]
                with op_range("attention"):
                    res = [attention_fp32(t["q"][starts[b]:starts[b + 1]], k, v, causal=shape.causal,
                                          window=shape.window, sinks=t.get("sinks")) for b, (k, v) in enumerate(kv)]
                with op_range("output"):
                    return {"out": torch.cat([o for o, _ in res]).to(dtype), "lse": torch.cat([lse for _, lse in res])}
            return call

        return Launch({k: inputs.tensors[k] for k in names}, bind, detail="fp32 per-request loop")


class TorchSdpa(Backend):
    """torch SDPA on a padded batch gathered from the block table (see the module docstring).
    Attention sinks are not expressible as an SDPA mask, so sink cases are unsupported."""

    name: ClassVar[str] = "torch-sdpa"
    description: ClassVar[str] = "torch scaled_dot_product_attention on pages gathered into a padded batch"

    def unsupported_reason(self, case: Case) -> str | None:
        if case.params.get("sinks"):
            return "attention sinks: scaled_dot_product_attention has no sink term"
        return super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        shape, dtype = Shape.of(case), case.torch_dtype
        qo_lens, kv_lens = inputs.info["qo_lens"], inputs.info["kv_lens"]
        batch, lq, lk = len(kv_lens), max(qo_lens), max(kv_lens)
        dev = inputs.tensors["q"].device
        # Host-known lengths give static shapes: the padded (request, row) -> packed row maps.
        rows = [(b, i) for b, n in enumerate(qo_lens) for i in range(n)]
        unpad = torch.tensor([b * lq + i for b, i in rows], dtype=torch.long, device=dev)
        pad = torch.tensor([[sum(qo_lens[:b]) + min(i, n - 1) for i in range(lq)] for b, n in enumerate(qo_lens)],
                           dtype=torch.long, device=dev)
        reads = {k: inputs.tensors[k] for k in ("q", "k_cache", "v_cache", "block_tables", "kv_lens", "qo_indptr")}
        reads.update(pad_rows=pad, unpad_rows=unpad)
        page, group = shape.page_size, shape.group

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("gather"):
                    tok = torch.arange(lk, device=dev)
                    page_ids = t["block_tables"][:, tok // page].long()
                    k_src, v_src = t["k_cache"], t["v_cache"]
                    if shape.layout == "HND":
                        k_src, v_src = k_src.transpose(1, 2), v_src.transpose(1, 2)
                    k = k_src[page_ids, tok % page].transpose(1, 2)  # [B, Hkv, Lk, D]
                    v = v_src[page_ids, tok % page].transpose(1, 2)
                    q = t["q"][t["pad_rows"]]  # [B, Lq, Hq, D]
                with op_range("mask"):
                    n_k = t["kv_lens"].long()[:, None, None]
                    n_q = (t["qo_indptr"][1:] - t["qo_indptr"][:-1]).long()[:, None, None]
                    pos = torch.arange(lq, device=dev)[None, :, None] + n_k - n_q
                    j = tok[None, None, :]
                    keep = j < n_k
                    if shape.causal:
                        keep = keep & (j <= pos)
                    if shape.window:
                        keep = keep & (j > pos - shape.window)
                with op_range("attention"):
                    if lq == 1:  # one query per request: a KV group's query heads as its query rows
                        qg = q.view(batch, shape.kv_heads, group, shape.head_dim)
                        o = F.scaled_dot_product_attention(qg, k, v, attn_mask=keep[:, None])
                    else:
                        o = F.scaled_dot_product_attention(
                            q.transpose(1, 2), k.repeat_interleave(group, dim=1),
                            v.repeat_interleave(group, dim=1), attn_mask=keep[:, None]).transpose(1, 2)
                with op_range("output"):
                    o = o.reshape(batch * lq, shape.q_heads, shape.head_dim)
                    return {"out": o[t["unpad_rows"]].to(dtype)}
            return call

        return Launch(reads, bind, detail="padded gather + F.scaled_dot_product_attention with a boolean mask")
