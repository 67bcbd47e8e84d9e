"""FLOP/byte models of the attention suites, checked by hand (CPU)."""

import pytest

from fibench.suites.attention.work import mla_work, paged_attention_work, visible


@pytest.mark.parametrize("n_q, n_k, causal, window, pairs, keys", [
    (1, 10, False, 0, 10, 10),   # decode: every key
    (1, 10, False, 4, 4, 4),     # decode, window 4: the last 4 keys
    (4, 4, True, 0, 10, 4),      # causal: 1 + 2 + 3 + 4 (diagonal included)
    (4, 4, False, 0, 16, 4),     # full square
    (4, 4, True, 2, 7, 4),       # causal window 2: 1 + 2 + 2 + 2
    (2, 5, True, 0, 9, 5),       # 2 queries after a 3-token prefix: 4 + 5
    (2, 5, True, 2, 4, 3),       # ...with window 2: keys 2..4 are read
])
def test_visible_pairs_by_hand(n_q, n_k, causal, window, pairs, keys):
    v = visible(n_q, n_k, causal=causal, window=window)
    assert (v.pairs, v.keys_read) == (pairs, keys)


def test_causal_prefill_counts_the_lower_triangle_with_its_diagonal():
    n = 2048
    assert visible(n, n, causal=True).pairs == n * (n + 1) // 2


def test_decode_work_by_hand():
    # 2 requests of 3 and 5 KV tokens, Hq 4, Hkv 2, D 8, bf16 (2 bytes)
    w = paged_attention_work([1, 1], [3, 5], q_heads=4, kv_heads=2, head_dim=8, elem_bytes=2, causal=False)
    assert w.flop == 4 * 4 * 8 * 8  # 4 x Hq x D x total KV tokens = 1024
    assert w.bytes_read == (8 * 2 * 8 * 2 + 2 * 4 * 8) * 2  # K and V of 8 tokens + q = 640
    assert w.bytes_written == 2 * 4 * 8 * 2  # o = 128


def test_prefill_work_by_hand():
    # one request of 4 tokens, causal: 10 pairs; Hq 2, Hkv 1, D 4, fp32
    w = paged_attention_work([4], [4], q_heads=2, kv_heads=1, head_dim=4, elem_bytes=4, causal=True)
    assert w.flop == 4 * 2 * 4 * 10
    assert w.bytes_read == (4 * 1 * 4 * 2 + 4 * 2 * 4) * 4
    assert w.bytes_written == 4 * 2 * 4 * 4


def test_mla_work_by_hand():
    # one request of 3 tokens, H 2, C 4, R 2, bf16
    w = mla_work([3], heads=2, kv_lora_rank=4, rope_dim=2, elem_bytes=2)
    assert w.flop == 2 * 2 * 3 * (4 + 2) + 2 * 2 * 3 * 4  # logits 2(C+R) + output 2C per (head, key) = 120
    assert w.bytes_read == (3 * 6 + 1 * 2 * 6) * 2  # latent rows once + q_nope/q_pe
    assert w.bytes_written == 1 * 2 * 4 * 2


def test_deepseek_decode_arithmetic_intensity():
    """128 heads share each 576-element latent row: 2 x 128 x 1088 FLOP per 576 x 2 bytes, diluted
    by q (128 heads x 576 elements per request, i.e. 128/4096 of the cache bytes at 4096 tokens)."""
    w = mla_work([4096] * 64, heads=128, kv_lora_rank=512, rope_dim=64, elem_bytes=2)
    assert w.flop / w.bytes_read == pytest.approx(2 * 128 * 1088 / (576 * 2) / (1 + 128 / 4096), rel=1e-9)
