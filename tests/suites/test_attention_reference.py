"""The fp32 attention references against naive formulas on small shapes (CPU)."""

import math

import pytest
import torch

from fibench.suites.attention.reference import attention_fp32, mla_fp32


def _naive(q, k, v, *, causal, window=0, sinks=None):
    """Scalar loops in float64: out[i, h] = sum_j p_ij v_j; lse = log2(sum exp(s) [+ exp(sink)])."""
    n_q, hq, d = q.shape
    n_k, hkv, _ = k.shape
    group = hq // hkv
    out = torch.zeros(n_q, hq, d, dtype=torch.float64)
    lse = torch.zeros(n_q, hq, dtype=torch.float64)
    for i in range(n_q):
        pos = i + n_k - n_q
        for h in range(hq):
            kh = h // group
            keys = [j for j in range(n_k) if (not causal or j <= pos) and (window == 0 or j > pos - window)]
            s = {j: sum(float(q[i, h, e]) * float(k[j, kh, e]) for e in range(d)) / math.sqrt(d) for j in keys}
            total = sum(math.exp(x) for x in s.values()) + (math.exp(float(sinks[h])) if sinks is not None else 0.0)
            for j in keys:
                out[i, h] += math.exp(s[j]) / total * v[j, kh].double()
            lse[i, h] = math.log2(total)
    return out, lse


@pytest.mark.parametrize("n_q, n_k, causal, window, sinks", [
    (1, 7, False, 0, False),   # decode
    (1, 7, False, 3, True),    # decode, sliding window, sinks
    (5, 5, True, 0, False),    # causal prefill
    (4, 6, True, 2, True),     # causal, queries after a prefix, window, sinks
    (3, 4, False, 0, False),   # non-causal
])
def test_attention_reference_matches_the_naive_formula(n_q, n_k, causal, window, sinks):
    torch.manual_seed(n_q * 10 + n_k)
    q, k, v = torch.randn(n_q, 4, 8), torch.randn(n_k, 2, 8), torch.randn(n_k, 2, 8)  # GQA group 2
    s = torch.randn(4) if sinks else None
    out, lse = attention_fp32(q, k, v, causal=causal, window=window, sinks=s)
    ref_out, ref_lse = _naive(q, k, v, causal=causal, window=window, sinks=s)
    torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-5, rtol=1e-5)


def test_attention_reference_chunks_query_rows(monkeypatch):
    """Row chunking (to bound memory) gives the same numbers as one pass."""
    q, k, v = torch.randn(9, 2, 4), torch.randn(9, 1, 4), torch.randn(9, 1, 4)
    whole = attention_fp32(q, k, v, causal=True, window=4)
    monkeypatch.setattr("fibench.suites.attention.reference.MAX_SCORE_BYTES", 4 * 2 * 9 * 2)  # 2 rows a chunk
    chunked = attention_fp32(q, k, v, causal=True, window=4)
    torch.testing.assert_close(chunked[0], whole[0], atol=1e-6, rtol=1e-6)  # einsum batching order only
    torch.testing.assert_close(chunked[1], whole[1], atol=1e-6, rtol=1e-6)


def test_mla_absorbed_formula_equals_multi_head_attention():
    """Absorbed MLA (q_nope W_UK^T against the latent cache, output W_UV applied after) equals
    ordinary attention with per-head K = [ckv W_UK, kpe] and V = ckv W_UV (DeepSeek-V2 sec. 2.1)."""
    torch.manual_seed(0)
    heads, c, r, nope, dv, n_k = 3, 16, 4, 8, 6, 11
    ckv, kpe = torch.randn(n_k, c, dtype=torch.float64), torch.randn(n_k, r, dtype=torch.float64)
    w_uk, w_uv = torch.randn(heads, c, nope, dtype=torch.float64), torch.randn(heads, c, dv, dtype=torch.float64)
    q_nope_mha, q_pe = torch.randn(1, heads, nope, dtype=torch.float64), torch.randn(1, heads, r, dtype=torch.float64)
    scale = 1.0 / math.sqrt(nope + r)
    # non-absorbed: each head has its own keys and values
    k = torch.cat([torch.einsum("kc,hcn->khn", ckv, w_uk), kpe[:, None, :].expand(n_k, heads, r)], dim=-1)
    v = torch.einsum("kc,hcv->khv", ckv, w_uv)
    logits = torch.einsum("hd,khd->hk", torch.cat([q_nope_mha[0], q_pe[0]], dim=-1), k) * scale
    mha_out = torch.einsum("hk,khv->hv", torch.softmax(logits, dim=-1), v)
    # absorbed: q_nope <- q_nope W_UK^T, attend over the latent cache, then apply W_UV
    q_abs = torch.einsum("qhn,hcn->qhc", q_nope_mha, w_uk)
    latent, lse = mla_fp32(q_abs, q_pe, ckv, kpe, scale)
    torch.testing.assert_close(torch.einsum("hc,hcv->hv", latent[0].double(), w_uv), mha_out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(lse[0].double(), torch.logsumexp(logits, dim=-1) / math.log(2), atol=1e-5, rtol=1e-5)
