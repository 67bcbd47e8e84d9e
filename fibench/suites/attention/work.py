"""FLOP/byte models of paged attention and MLA: what a perfect kernel must do for one call.

Counting rules (the standard ones, e.g. FlashAttention-2 paper section 4 / FlashInfer's
benchmarks, written out here so every number can be checked by hand):

* A (query, key) pair that is attended costs ``2 * D`` FLOP for the logit (Q.K^T) and
  ``2 * D_v`` for the weighted value (P.V): multiply-add = 2. Softmax, scaling and masking
  are not counted. With ``D_v = D``: ``4 * D`` FLOP per pair and query head, so decode is
  ``4 * Hq * D * (total KV tokens)``.
* Causal prefill counts exactly the visible pairs: query ``i`` of a request with
  ``n_q = n_k = n`` sees keys ``0..i``, so ``n (n + 1) / 2`` pairs (the lower triangle with
  its diagonal), not ``n^2 / 2``. Sliding windows count only the keys inside the window.
* Bytes read: every K and V row some query of the request attends, once (KV heads x D x 2
  tensors x element size), plus Q once; bytes written: O once. Page-table metadata
  (4 bytes per page vs. tens of KiB of K/V per page), sink logits and the fp32 LSE output
  (4 bytes per query head, <2% of O at D = 128 in bf16) are not counted.
* MLA (absorbed, decode): per (head, key) the logit costs ``2 * (C + R)`` FLOP
  (``q_nope . ckv + q_pe . kpe``) and the output ``2 * C`` (``P . ckv``); the latent cache
  row (``C + R`` elements) is read once for all heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fibench.suites.base import Work


@dataclass(frozen=True)
class Visible:
    """What one request's queries attend.

    Attributes:
        pairs: (query, key) pairs attended, per query head.
        keys_read: distinct keys some query attends (rows of K and V a kernel must read).
    """

    pairs: int
    keys_read: int


def visible(n_q: int, n_k: int, *, causal: bool, window: int = 0) -> Visible:
    """Pairs and keys of one request under the bottom-right causal / sliding-window masks of
    :mod:`fibench.suites.attention.reference`.

    Query ``i`` (position ``p = i + n_k - n_q``) sees keys ``lo_i..hi_i`` with
    ``hi_i = p`` if causal else ``n_k - 1`` and ``lo_i = max(0, p - window + 1)`` with a
    window, else 0.

    Raises:
        ValueError: ``n_q`` or ``n_k`` below 1, or ``n_q > n_k`` with a causal mask.
    """
    if n_q < 1 or n_k < 1:
        raise ValueError(f"need at least one query and one key, got {n_q} and {n_k}")
    if causal and n_q > n_k:
        raise ValueError(f"causal attention with {n_q} queries over {n_k} keys leaves queries without keys")
    pos = torch.arange(n_q, dtype=torch.int64) + (n_k - n_q)
    hi = pos if causal else torch.full_like(pos, n_k - 1)
    lo = (pos - window + 1).clamp(min=0) if window > 0 else torch.zeros_like(pos)
    pairs = int((hi - lo + 1).clamp(min=0).sum())
    first_lo, last_hi = int(lo.min()), int(hi.max())
    return Visible(pairs, max(0, last_hi - first_lo + 1))


def paged_attention_work(qo_lens: list[int], kv_lens: list[int], *, q_heads: int, kv_heads: int, head_dim: int,
                         elem_bytes: int, causal: bool, window: int = 0) -> Work:
    """FLOP/byte model of one batch of paged GQA attention (decode: all ``qo_lens`` are 1).

    Args:
        qo_lens, kv_lens: query and KV tokens per request.
        q_heads, kv_heads, head_dim: Hq, Hkv, D (D_v = D).
        elem_bytes: bytes per element of Q, K, V and O.
        causal, window: masks as in :func:`visible`.

    Returns:
        :class:`~fibench.suites.base.Work` (FLOP, bytes read, bytes written).
    """
    pairs = keys = 0
    for n_q, n_k in zip(qo_lens, kv_lens):
        v = visible(n_q, n_k, causal=causal, window=window)
        pairs += v.pairs
        keys += v.keys_read
    queries = sum(qo_lens)
    return Work(flop=4.0 * q_heads * head_dim * pairs,
                bytes_read=(keys * kv_heads * head_dim * 2 + queries * q_heads * head_dim) * elem_bytes,
                bytes_written=queries * q_heads * head_dim * elem_bytes)


def mla_work(kv_lens: list[int], *, heads: int, kv_lora_rank: int, rope_dim: int, elem_bytes: int) -> Work:
    """FLOP/byte model of one batch of absorbed MLA decode (one query token per request).

    Args:
        kv_lens: KV tokens per request.
        heads: query heads H; kv_lora_rank: C; rope_dim: R.
        elem_bytes: bytes per element of q, the latent cache and the output.
    """
    tokens, batch = sum(kv_lens), len(kv_lens)
    c, r = kv_lora_rank, rope_dim
    return Work(flop=2.0 * heads * tokens * (2 * c + r),
                bytes_read=(tokens * (c + r) + batch * heads * (c + r)) * elem_bytes,
                bytes_written=batch * heads * c * elem_bytes)
