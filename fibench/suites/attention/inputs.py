"""Input tensors of the attention suites, generated once per case and shared by every backend.

Values: q, K and V are N(0, 1) except that q is scaled by :data:`SCORE_STD`, so the logits
``q.k / sqrt(D)`` have standard deviation ``SCORE_STD``: attention is peaked enough that the
outputs are O(0.1) rather than averages close to zero (which any wrong kernel would match
within tolerance). Slots past a request's length in its last page hold K/V noise
:data:`TAIL_SCALE` times larger: a kernel that attends past a request's end fails parity
visibly instead of by a rounding step. Sink logits are N(0, SCORE_STD^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fibench.suites.attention.paging import PageTable, build_page_table, draw_lengths
from fibench.suites.base import Case

SCORE_STD = 2.0
TAIL_SCALE = 8.0
LENGTH_SEED_OFFSET = 0
PAGE_SEED_OFFSET = 1
DEVICE_SEED_OFFSET = 2


@dataclass(frozen=True)
class Shape:
    """Attention shape of a case.

    Attributes:
        q_heads, kv_heads, head_dim: Hq, Hkv, D.
        page_size: tokens per page; layout: "HND" or "NHD".
        causal: causal mask; window: sliding window (0 = none); sinks: sink logits on.
    """

    q_heads: int
    kv_heads: int
    head_dim: int
    page_size: int
    layout: str
    causal: bool
    window: int
    sinks: bool

    @classmethod
    def of(cls, case: Case) -> "Shape":
        """Shape from a case's parameters; causal only where the case has a true ``causal``
        (prefill's axis; decode has none: one query per request sees every key either way)."""
        p = case.params
        return cls(p["q_heads"], p["kv_heads"], p["head_dim"], p["page_size"], p.get("kv_layout", "HND"),
                   bool(p.get("causal", False)), p.get("window", 0), bool(p.get("sinks", False)))

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.q_heads // self.kv_heads

    @property
    def window_left(self) -> int:
        """FlashInfer's ``window_left`` (keys before the query inside the window; -1 = none)."""
        return self.window - 1 if self.window > 0 else -1

    def page_shape(self, pages: int) -> tuple[int, ...]:
        """Shape of one K or V cache tensor holding ``pages`` pages."""
        if self.layout == "HND":
            return (pages, self.kv_heads, self.page_size, self.head_dim)
        return (pages, self.page_size, self.kv_heads, self.head_dim)


def host_generator(case: Case, offset: int) -> torch.Generator:
    """CPU generator for lengths (``LENGTH_SEED_OFFSET``) or page ids (``PAGE_SEED_OFFSET``):
    identical on every device and for every backend."""
    return torch.Generator().manual_seed(case.seed + offset)


def device_generator(case: Case, device: torch.device) -> torch.Generator:
    """Generator for tensor values, on the device the values are made on."""
    return torch.Generator(device=device).manual_seed(case.seed + DEVICE_SEED_OFFSET)


def require_memory(nbytes: int, device: torch.device, what: str) -> None:
    """Refuse, before allocating, inputs that cannot fit in free device memory.

    Raises:
        torch.cuda.OutOfMemoryError: ``nbytes`` exceeds the free memory of a CUDA ``device``
            (the runner turns it into ``oom`` rows that say how much was needed).
    """
    if device.type != "cuda":
        return
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes > free:
        raise torch.cuda.OutOfMemoryError(
            f"{what} needs {nbytes / 2**30:.1f} GiB; {free / 2**30:.1f} GiB free on {device}")


def _tail_scale(table: PageTable, shape: Shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-slot multiplier [P, page] (1 live, TAIL_SCALE past the end) shaped to broadcast
    over one cache tensor of ``shape.layout``."""
    scale = 1.0 + (TAIL_SCALE - 1.0) * table.tail_mask().to(dtype)
    if shape.layout == "HND":
        return scale[:, None, :, None].to(device)
    return scale[:, :, None, None].to(device)


def paged_inputs(case: Case, device: torch.device, shape: Shape, qo_lens: list[int],
                 kv_lens: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of one paged GQA batch (decode or prefill) on ``device``.

    Returns:
        (tensors, info). Tensors: ``q`` [sum(qo_lens), Hq, D]; ``k_cache``, ``v_cache``
        (:meth:`Shape.page_shape`); ``qo_indptr`` [B+1]; ``kv_indptr`` [B+1];
        ``kv_indices`` [P]; ``kv_last_page_len`` [B]; ``kv_lens`` [B]; ``block_tables``
        [B, max_pages] (all int32); ``sinks`` [Hq] fp32 when ``shape.sinks``. Info: the
        per-request lengths (``qo_lens``, ``kv_lens``), ``pages`` and ``kv_cache_bytes``.

    Raises:
        torch.cuda.OutOfMemoryError: the inputs do not fit (see :func:`require_memory`).
    """
    dtype = case.torch_dtype
    table = build_page_table(kv_lens, shape.page_size, host_generator(case, PAGE_SEED_OFFSET))
    elem = torch.empty((), dtype=dtype).element_size()
    cache_bytes = 2 * table.num_pages * shape.page_size * shape.kv_heads * shape.head_dim * elem
    q_bytes = sum(qo_lens) * shape.q_heads * shape.head_dim * elem
    require_memory(cache_bytes + 2 * q_bytes, device, f"KV cache of {table.num_pages} pages plus q/o")
    gen = device_generator(case, device)
    q = torch.randn(sum(qo_lens), shape.q_heads, shape.head_dim, generator=gen, device=device, dtype=dtype)
    q.mul_(SCORE_STD)
    tail = _tail_scale(table, shape, dtype, device)
    caches = {}
    for name in ("k_cache", "v_cache"):
        caches[name] = torch.randn(shape.page_shape(table.num_pages), generator=gen, device=device, dtype=dtype)
        caches[name].mul_(tail)
    qo_indptr = torch.zeros(len(qo_lens) + 1, dtype=torch.int32)
    qo_indptr[1:] = torch.cumsum(torch.tensor(qo_lens), 0)
    tensors = {
        "q": q, **caches,
        "qo_indptr": qo_indptr.to(device), "kv_indptr": table.indptr.to(device),
        "kv_indices": table.indices.to(device), "kv_last_page_len": table.last_page_len.to(device),
        "kv_lens": torch.tensor(kv_lens, dtype=torch.int32, device=device),
        "block_tables": table.block_tables.to(device),
    }
    if shape.sinks:
        tensors["sinks"] = SCORE_STD * torch.randn(shape.q_heads, generator=gen, device=device, dtype=torch.float32)
    info = {"qo_lens": list(qo_lens), "kv_lens": list(kv_lens), "pages": table.num_pages,
            "kv_cache_bytes": cache_bytes}
    return tensors, info


def mla_inputs(case: Case, device: torch.device, kv_lens: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of one MLA decode batch on ``device``.

    Returns:
        (tensors, info). Tensors: ``q_nope`` [B, H, C], ``q_pe`` [B, H, R]; ``ckv_cache``
        [P, page, C], ``kpe_cache`` [P, page, R]; ``qo_indptr``, ``kv_indptr``,
        ``kv_indices``, ``kv_lens`` (int32). q is scaled so the logits have standard
        deviation SCORE_STD at the case's sm_scale.

    Raises:
        torch.cuda.OutOfMemoryError: the inputs do not fit.
    """
    p, dtype = case.params, case.torch_dtype
    heads, c, r, page = p["q_heads"], p["kv_lora_rank"], p["qk_rope_head_dim"], p["page_size"]
    table = build_page_table(kv_lens, page, host_generator(case, PAGE_SEED_OFFSET))
    elem = torch.empty((), dtype=dtype).element_size()
    cache_bytes = table.num_pages * page * (c + r) * elem
    require_memory(cache_bytes + 3 * len(kv_lens) * heads * (c + r) * elem, device,
                   f"latent cache of {table.num_pages} pages plus q/o")
    gen = device_generator(case, device)
    # logit = (q_nope.ckv + q_pe.kpe) * sm_scale has std q_std * sqrt(C + R) * sm_scale
    q_std = SCORE_STD / (mla_sm_scale(p) * (c + r) ** 0.5)
    q_nope = torch.randn(len(kv_lens), heads, c, generator=gen, device=device, dtype=dtype).mul_(q_std)
    q_pe = torch.randn(len(kv_lens), heads, r, generator=gen, device=device, dtype=dtype).mul_(q_std)
    tail = (1.0 + (TAIL_SCALE - 1.0) * table.tail_mask().to(dtype))[:, :, None].to(device)
    ckv = torch.randn(table.num_pages, page, c, generator=gen, device=device, dtype=dtype).mul_(tail)
    kpe = torch.randn(table.num_pages, page, r, generator=gen, device=device, dtype=dtype).mul_(tail)
    tensors = {"q_nope": q_nope, "q_pe": q_pe, "ckv_cache": ckv, "kpe_cache": kpe,
               "qo_indptr": torch.arange(len(kv_lens) + 1, dtype=torch.int32, device=device),
               "kv_indptr": table.indptr.to(device), "kv_indices": table.indices.to(device),
               "kv_lens": torch.tensor(kv_lens, dtype=torch.int32, device=device)}
    info = {"kv_lens": list(kv_lens), "pages": table.num_pages, "kv_cache_bytes": cache_bytes}
    return tensors, info


def mla_sm_scale(params: dict[str, Any]) -> float:
    """Softmax scale of absorbed MLA: 1/sqrt(qk_nope_head_dim + qk_rope_head_dim), the head
    dimension before absorption (FlashInfer's BatchMLAPagedAttentionWrapper example; DeepSeek's
    YaRN mscale correction is not applied: it changes no kernel's work)."""
    return (params["qk_nope_head_dim"] + params["qk_rope_head_dim"]) ** -0.5


def lengths(case: Case, batch: int, mean: int) -> list[int]:
    """The case's ragged lengths (``kv_dist`` around ``mean``) from their own host generator,
    so they do not depend on the page size or the device."""
    return draw_lengths(batch, mean, case.params.get("kv_dist", "uniform"), host_generator(case, LENGTH_SEED_OFFSET))
