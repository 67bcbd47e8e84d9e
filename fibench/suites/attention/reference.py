"""fp32 reference math for attention, one request at a time (torch only, no fibench imports
beyond this package, so the compat probes can use it too).

Conventions (FlashInfer's, so references and kernels are compared like for like):

* GQA: query head ``h`` reads KV head ``h // (Hq / Hkv)``.
* Causal masks are aligned bottom-right: with ``n_q`` queries over ``n_k`` keys, query ``i``
  sits at position ``p_i = i + n_k - n_q`` and sees keys ``j <= p_i``
  (flashinfer/attention/mask.cuh; for decode ``n_q = 1`` this is every key).
* A sliding window of ``w`` tokens keeps keys ``j > p_i - w`` (FlashInfer's
  ``window_left = w - 1``; XQA's ``sliding_win_size = w``).
* Attention sinks add ``exp(sink_h)`` to the softmax denominator of head ``h`` (the
  AttentionSink variant, flashinfer/jit/attention/variants.py); the LSE includes that term.
* LSE is returned in base 2, ``log2(sum_j exp(s_j))`` of the scaled logits, as FlashInfer's
  kernels return it (``state_t::get_lse`` = m + log2(d) in flashinfer/attention/state.cuh;
  ``return_lse_base_on_e=False`` in flashinfer/mla/_core.py).
"""

from __future__ import annotations

import math

import torch

LOG2E = 1.0 / math.log(2.0)
MAX_SCORE_BYTES = 1 << 28
"""Query rows are processed in chunks so one chunk's fp32 logits stay under 256 MiB."""


def _key_span(n_q: int, n_k: int, rows: range, *, causal: bool, window: int) -> tuple[int, int]:
    """[lo, hi) of the keys any query row in ``rows`` can see (the rest is never computed)."""
    first, last = rows.start + n_k - n_q, rows.stop - 1 + n_k - n_q
    lo = max(0, first - window + 1) if window > 0 else 0
    hi = last + 1 if causal else n_k
    return lo, hi


def _hidden(n_q: int, n_k: int, rows: range, keys: tuple[int, int], *, causal: bool, window: int,
            device: torch.device) -> torch.Tensor | None:
    """[len(rows), hi - lo] bool, True where a query row must not see a key (None: none hidden)."""
    if not causal and window <= 0:
        return None
    pos = torch.arange(rows.start, rows.stop, device=device)[:, None] + (n_k - n_q)
    j = torch.arange(*keys, device=device)[None, :]
    hide = torch.zeros(len(rows), keys[1] - keys[0], dtype=torch.bool, device=device)
    if causal:
        hide |= j > pos
    if window > 0:
        hide |= j <= pos - window
    return hide


def attention_fp32(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool, window: int = 0,
                   sinks: torch.Tensor | None = None, sm_scale: float | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention of one request in fp32.

    Query rows are processed in chunks (logits of one chunk under MAX_SCORE_BYTES), each over
    only the keys some row of the chunk can see (causal and window masks skip the rest).

    Args:
        q: [n_q, Hq, D]; k, v: [n_k, Hkv, D] (any float dtype; upcast to fp32).
        causal: bottom-right causal mask (see the module docstring).
        window: sliding window in tokens; 0 = none.
        sinks: [Hq] sink logits (fp32), or None.
        sm_scale: softmax scale; default 1/sqrt(D).

    Returns:
        (out [n_q, Hq, D] fp32, lse [n_q, Hq] fp32 in base 2).

    Raises:
        ValueError: Hq not a multiple of Hkv.
    """
    n_q, hq, d = q.shape
    n_k, hkv, _ = k.shape
    if hq % hkv:
        raise ValueError(f"{hq} query heads are not a multiple of {hkv} KV heads")
    group = hq // hkv
    scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(d)
    kf, vf = k.float(), v.float()
    qg = q.float().view(n_q, hkv, group, d)
    sink = sinks.float().view(hkv, group, 1, 1) if sinks is not None else None
    chunk = max(1, MAX_SCORE_BYTES // (4 * hq * max(n_k, 1)))
    outs, lses = [], []
    for start in range(0, n_q, chunk):
        rows = range(start, min(n_q, start + chunk))
        lo, hi = _key_span(n_q, n_k, rows, causal=causal, window=window)
        s = torch.einsum("qhgd,khd->hgqk", qg[rows.start:rows.stop], kf[lo:hi]).mul_(scale)
        hide = _hidden(n_q, n_k, rows, (lo, hi), causal=causal, window=window, device=q.device)
        if hide is not None:
            s.masked_fill_(hide, float("-inf"))
        m = s.amax(dim=-1, keepdim=True)
        if sink is not None:
            m = torch.maximum(m, sink)
        p = s.sub_(m).exp_()
        denom = p.sum(dim=-1, keepdim=True)
        if sink is not None:
            denom = denom + torch.exp(sink - m)
        out = torch.einsum("hgqk,khd->hgqd", p, vf[lo:hi]).div_(denom)
        outs.append(out.permute(2, 0, 1, 3).reshape(len(rows), hq, d))
        lses.append(((m + torch.log(denom)) * LOG2E).reshape(hq, len(rows)).transpose(0, 1))
    return torch.cat(outs), torch.cat(lses)


def mla_fp32(q_nope: torch.Tensor, q_pe: torch.Tensor, ckv: torch.Tensor, kpe: torch.Tensor,
             sm_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Absorbed multi-head latent attention (decode) of one request in fp32.

    With the up-projections absorbed (DeepSeek-V2 paper, section 2.1; FlashInfer's MLA blog,
    2025-02-10), every head attends over the shared latent cache:
    ``s_hj = (q_nope_h . ckv_j + q_pe_h . kpe_j) * sm_scale``, ``out_h = softmax_j(s_h) @ ckv``.

    Args:
        q_nope: [n_q, H, C] (C = kv_lora_rank, 512 for DeepSeek-V3); q_pe: [n_q, H, R] (R = 64).
        ckv: [n_k, C] compressed KV; kpe: [n_k, R] RoPE keys.
        sm_scale: softmax scale (DeepSeek: 1/sqrt(qk_nope + qk_rope) = 1/sqrt(192)).

    Returns:
        (out [n_q, H, C] fp32 in latent space, lse [n_q, H] fp32 in base 2).
    """
    s = (torch.einsum("qhc,kc->qhk", q_nope.float(), ckv.float())
         + torch.einsum("qhr,kr->qhk", q_pe.float(), kpe.float())) * sm_scale
    m = s.amax(dim=-1, keepdim=True)
    p = torch.exp(s - m)
    denom = p.sum(dim=-1, keepdim=True)
    out = torch.einsum("qhk,kc->qhc", p / denom, ckv.float())
    return out, ((m + torch.log(denom)) * LOG2E).squeeze(-1)
