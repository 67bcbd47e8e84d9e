"""Ragged request lengths and paged KV-cache page tables (host side, built once per case).

A batch of ``B`` requests with KV lengths ``L_b`` is stored in pages of ``page_size`` tokens.
Request ``b`` owns ``ceil(L_b / page_size)`` pages; the cache holds exactly the pages the
requests use (no free pages), so the bytes a kernel must read and the bytes allocated agree
and cold-L2 rotation copies what is really read. Physical page ids are a seeded random
permutation, as in a serving engine whose allocator has been running for a while (pages of
one request are not contiguous). The page table is given in the two forms kernels take:

* CSR (FlashInfer wrappers): ``indptr [B+1]``, ``indices [P]``, ``last_page_len [B]``
  (flashinfer/decode.py ``BatchDecodeWithPagedKVCacheWrapper.plan``);
* block table (XQA, cuDNN): ``block_tables [B, max_pages]``, rows padded with page 0
  (never read: the kernels stop at each request's length).

All tensors here are int32 on the CPU; :mod:`fibench.suites.attention.inputs` moves them to
the device once per case, so every backend reads the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fibench.errors import UsageError

KV_DISTS = ("uniform", "random")
"""``uniform``: every request has the mean length. ``random``: lengths drawn from the seed,
uniform on [1, 2 x mean - 1], then nudged so that they sum to exactly batch x mean (the FLOP
and byte models of the two distributions are equal; only the imbalance differs)."""


def draw_lengths(batch: int, mean: int, dist: str, gen: torch.Generator) -> list[int]:
    """Per-request lengths with the given mean.

    Args:
        batch: number of requests (>= 1).
        mean: mean length in tokens (>= 1); ``sum(lengths) == batch * mean`` exactly.
        dist: "uniform" or "random" (see :data:`KV_DISTS`).
        gen: CPU generator (the case seed), so every backend and every run see the same lengths.

    Returns:
        ``batch`` integers in [1, 2 * mean - 1].

    Raises:
        UsageError: unknown distribution, batch or mean below 1.
    """
    if dist not in KV_DISTS:
        raise UsageError(f"--kv-dist: unknown value '{dist}'; known: {', '.join(KV_DISTS)}")
    if batch < 1 or mean < 1:
        raise UsageError(f"batch and mean length must be >= 1, got {batch} and {mean}")
    if dist == "uniform":
        return [mean] * batch
    lo, hi = 1, 2 * mean - 1
    lengths = torch.randint(lo, hi + 1, (batch,), generator=gen).tolist()
    diff = batch * mean - sum(lengths)
    order = torch.randperm(batch, generator=gen).tolist()
    while diff:  # spread the correction over all requests that still have room
        step = 1 if diff > 0 else -1
        room = [i for i in order if lo <= lengths[i] + step <= hi]
        per = max(1, abs(diff) // len(room))
        for i in room:
            if not diff:
                break
            limit = hi - lengths[i] if step > 0 else lengths[i] - lo
            delta = min(per, limit, abs(diff))
            lengths[i] += step * delta
            diff -= step * delta
    return lengths


@dataclass(frozen=True)
class PageTable:
    """Where each request's tokens live in a paged KV cache.

    Attributes:
        page_size: tokens per page.
        kv_lens: tokens per request (length B).
        indptr: [B+1] int32, request b owns ``indices[indptr[b]:indptr[b+1]]``.
        indices: [P] int32 physical page ids (a permutation of 0..P-1).
        last_page_len: [B] int32 tokens in each request's last page (1..page_size).
        block_tables: [B, max_pages] int32, row b = request b's pages, padded with 0.
    """

    page_size: int
    kv_lens: tuple[int, ...]
    indptr: torch.Tensor
    indices: torch.Tensor
    last_page_len: torch.Tensor
    block_tables: torch.Tensor

    @property
    def num_pages(self) -> int:
        """Pages in the cache (all of them used)."""
        return int(self.indices.numel())

    def pages_of(self, b: int) -> torch.Tensor:
        """[n_pages] int32 physical pages of request ``b``, in token order."""
        return self.indices[int(self.indptr[b]):int(self.indptr[b + 1])]

    def token_slots(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(page id, slot in page) of every token of request ``b``, each [L_b] int64."""
        t = torch.arange(self.kv_lens[b])
        return self.pages_of(b).long()[t // self.page_size], t % self.page_size

    def tail_mask(self) -> torch.Tensor:
        """[P, page_size] bool: True on slots past a request's length (the unused end of its
        last page), which a correct kernel never attends to."""
        mask = torch.zeros(self.num_pages, self.page_size, dtype=torch.bool)
        last_pages = self.indices[(self.indptr[1:] - 1).long()].long()
        slots = torch.arange(self.page_size)
        mask[last_pages] = slots[None, :] >= self.last_page_len[:, None]
        return mask


def build_page_table(kv_lens: list[int], page_size: int, gen: torch.Generator) -> PageTable:
    """Page table for requests of lengths ``kv_lens`` on pages of ``page_size`` tokens.

    Args:
        kv_lens: tokens per request, each >= 1.
        page_size: tokens per page, >= 1.
        gen: CPU generator for the physical page permutation.

    Raises:
        UsageError: empty batch, a length or page size below 1.
    """
    if not kv_lens or min(kv_lens) < 1:
        raise UsageError("every request needs at least one KV token")
    if page_size < 1:
        raise UsageError(f"--page-size must be >= 1, got {page_size}")
    pages = [math.ceil(n / page_size) for n in kv_lens]
    indptr = torch.zeros(len(kv_lens) + 1, dtype=torch.int32)
    indptr[1:] = torch.cumsum(torch.tensor(pages), 0)
    total = int(indptr[-1])
    indices = torch.randperm(total, generator=gen).to(torch.int32)
    last = torch.tensor([n - (p - 1) * page_size for n, p in zip(kv_lens, pages)], dtype=torch.int32)
    tables = torch.zeros(len(kv_lens), max(pages), dtype=torch.int32)
    for b, p in enumerate(pages):
        tables[b, :p] = indices[int(indptr[b]):int(indptr[b + 1])]
    return PageTable(page_size, tuple(kv_lens), indptr, indices, last, tables)


def gather_request(cache: torch.Tensor, pages: torch.Tensor, length: int, layout: str) -> torch.Tensor:
    """One request's tokens from a paged cache, in token order.

    Args:
        cache: [P, page, H, D] for layout "NHD" or [P, H, page, D] for "HND" (any dtype/device).
        pages: [n_pages] physical page ids of the request (int32/int64, same device).
        length: tokens of the request (<= n_pages * page).
        layout: "NHD" or "HND".

    Returns:
        [length, H, D] (a gather copy, same dtype as ``cache``).
    """
    blocks = cache.index_select(0, pages.long())
    if layout == "HND":
        blocks = blocks.transpose(1, 2)
    return blocks.reshape(-1, *blocks.shape[2:])[:length]
