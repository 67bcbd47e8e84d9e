"""Ragged lengths and page tables against a dense reference (CPU)."""

import math

import pytest
import torch

from fibench.errors import UsageError
from fibench.suites.attention.paging import build_page_table, draw_lengths, gather_request


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_uniform_lengths_are_the_mean():
    assert draw_lengths(5, 37, "uniform", _gen()) == [37] * 5


@pytest.mark.parametrize("batch, mean", [(1, 100), (7, 1), (16, 3), (64, 1024), (257, 50)])
def test_random_lengths_keep_the_total_and_range(batch, mean):
    lengths = draw_lengths(batch, mean, "random", _gen(3))
    assert len(lengths) == batch
    assert sum(lengths) == batch * mean
    assert min(lengths) >= 1 and max(lengths) <= 2 * mean - 1
    if batch >= 16 and mean >= 50:  # really ragged (uniform on [1, 2m-1] has std ~0.58 m), not nudged to the mean
        assert torch.tensor(lengths, dtype=torch.float64).std() > 0.4 * mean


def test_random_lengths_follow_the_seed():
    a = draw_lengths(32, 500, "random", _gen(1))
    assert a == draw_lengths(32, 500, "random", _gen(1))
    assert a != draw_lengths(32, 500, "random", _gen(2))


def test_bad_length_requests():
    with pytest.raises(UsageError, match="unknown value 'zipf'"):
        draw_lengths(2, 8, "zipf", _gen())
    with pytest.raises(UsageError, match=">= 1"):
        draw_lengths(2, 0, "uniform", _gen())


def test_page_table_holds_exactly_the_pages_used():
    lens = [1, 16, 17, 40]
    t = build_page_table(lens, 16, _gen(5))
    pages = [math.ceil(n / 16) for n in lens]  # 1, 1, 2, 3
    assert t.num_pages == sum(pages) == 7
    assert t.indptr.tolist() == [0, 1, 2, 4, 7]
    assert sorted(t.indices.tolist()) == list(range(7))  # every page used once
    assert t.last_page_len.tolist() == [1, 16, 1, 8]
    assert t.block_tables.shape == (4, 3)
    for b, p in enumerate(pages):
        assert t.block_tables[b, :p].tolist() == t.pages_of(b).tolist()
        assert t.block_tables[b, p:].tolist() == [0] * (3 - p)
    assert int(t.tail_mask().sum()) == 7 * 16 - sum(lens)  # unused slots = allocated - used


@pytest.mark.parametrize("layout", ["NHD", "HND"])
def test_paged_cache_round_trips_a_dense_batch(layout):
    """Scatter dense per-request K into a paged cache through the table, read it back with
    gather_request: the same tokens in the same order, and no live slot is shared."""
    heads, dim, page = 3, 4, 4
    lens = draw_lengths(6, 9, "random", _gen(7))
    t = build_page_table(lens, page, _gen(8))
    dense = [torch.randn(n, heads, dim) for n in lens]
    shape = (t.num_pages, page, heads, dim) if layout == "NHD" else (t.num_pages, heads, page, dim)
    cache = torch.full(shape, float("nan"))
    written = torch.zeros(t.num_pages, page, dtype=torch.int64)
    for b, k in enumerate(dense):
        pid, slot = t.token_slots(b)
        if layout == "NHD":
            cache[pid, slot] = k
        else:
            cache[pid, :, slot] = k
        written[pid, slot] += 1
    assert int(written.max()) == 1 and int(written.sum()) == sum(lens)
    assert torch.equal(written == 0, t.tail_mask())  # the unwritten slots are exactly the tails
    for b, k in enumerate(dense):
        assert torch.equal(gather_request(cache, t.pages_of(b), lens[b], layout), k)


def test_page_table_refuses_empty_requests():
    with pytest.raises(UsageError, match="at least one KV token"):
        build_page_table([3, 0], 16, _gen())
