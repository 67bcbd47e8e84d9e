"""The probes' output checks, on the CPU, against stand-in FlashInfer functions written
independently of the probes' references: a correct stand-in must pass, a subtly wrong
one (swapped halves, wrong layout, samples outside top-k, missing sink) must fail.
This is what keeps a "works" / "wrong result" verdict on the GPU honest."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from fibench.audit.compat import calls_attention, calls_ops
from fibench.audit.compat.checks import CheckFailed, attention_ref


class Ctx:
    device = torch.device("cpu")
    build = False


@pytest.fixture
def fake_fi(monkeypatch):
    """An empty stand-in ``flashinfer`` package; tests attach what they need."""
    fi = types.ModuleType("flashinfer")
    for sub in ("norm", "activation", "rope", "sampling"):
        setattr(fi, sub, types.ModuleType(f"flashinfer.{sub}"))
        monkeypatch.setitem(sys.modules, f"flashinfer.{sub}", getattr(fi, sub))
    monkeypatch.setitem(sys.modules, "flashinfer", fi)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    return fi


def test_silu_and_mul_passes_when_right_and_fails_with_swapped_halves(fake_fi):
    def silu_and_mul(x):
        h = x.shape[-1] // 2
        return (x[..., :h] * torch.sigmoid(x[..., :h]) * x[..., h:]).to(x.dtype)

    fake_fi.activation.silu_and_mul = silu_and_mul
    assert calls_ops.act_and_mul(Ctx(), "silu").startswith("matches torch fp32 reference")

    fake_fi.activation.silu_and_mul = lambda x: silu_and_mul(torch.cat(x.chunk(2, dim=-1)[::-1], dim=-1))
    with pytest.raises(CheckFailed, match="outside atol"):
        calls_ops.act_and_mul(Ctx(), "silu")


def test_rmsnorm_and_fused_add_rmsnorm(fake_fi):
    def rms(x, w, eps=1e-6, **_):
        return F.rms_norm(x.float(), (x.shape[-1],), w.float(), eps).to(x.dtype)

    def fused(x, res, w, eps=1e-6, **_):
        res += x
        x.copy_(rms(res, w, eps))

    fake_fi.norm.rmsnorm, fake_fi.norm.fused_add_rmsnorm = rms, fused
    assert "matches torch fp32 reference" in calls_ops.rmsnorm(Ctx())
    assert "residual and output" in calls_ops.fused_add_rmsnorm(Ctx())

    fake_fi.norm.fused_add_rmsnorm = lambda x, res, w, eps=1e-6, **_: x.copy_(rms(x + res, w, eps))
    with pytest.raises(CheckFailed, match="residual"):
        calls_ops.fused_add_rmsnorm(Ctx())


def _rope_complex(x, pos, theta=1e4, interleave=False):
    """Rotation as a complex product (independent of the probe's sin/cos reference)."""
    d = x.shape[-1]
    xf = x.float()
    pairs = xf.view(*x.shape[:-1], d // 2, 2) if interleave else torch.stack(xf.chunk(2, dim=-1), dim=-1)
    z = torch.view_as_complex(pairs.contiguous())
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones_like(freqs), pos.double()[:, None] * freqs[None]).to(torch.complex64)
    out = torch.view_as_real(z * rot[:, None, :])
    out = out.reshape(*x.shape) if interleave else torch.cat([out[..., 0], out[..., 1]], dim=-1)
    return out.to(x.dtype)


def test_rope_checks_the_rotate_half_layout(fake_fi):
    fake_fi.rope.apply_rope_pos_ids = lambda q, k, pos, rope_theta=1e4, **_: (
        _rope_complex(q, pos, rope_theta), _rope_complex(k, pos, rope_theta))
    assert calls_ops.rope(Ctx()).startswith("q and k matches")

    fake_fi.rope.apply_rope_pos_ids = lambda q, k, pos, rope_theta=1e4, **_: (
        _rope_complex(q, pos, rope_theta, True), _rope_complex(k, pos, rope_theta, True))
    with pytest.raises(CheckFailed):
        calls_ops.rope(Ctx())


def _top_k_top_p(probs, top_k, top_p, filter_apply_order="top_k_first", generator=None, **_):
    kept = torch.zeros_like(probs).scatter(1, probs.topk(top_k, dim=-1).indices, 1.0) * probs
    kept = kept / kept.sum(-1, keepdim=True)
    srt, idx = kept.sort(dim=-1, descending=True)
    nucleus = (srt.cumsum(-1) - srt) < top_p
    kept = torch.zeros_like(kept).scatter(1, idx, srt * nucleus)
    return torch.multinomial(kept, 1, generator=generator).squeeze(1).to(torch.int32)


def test_sampling_invariants(fake_fi):
    fake_fi.sampling.top_k_top_p_sampling_from_probs = _top_k_top_p
    assert "stayed in the top-5 set" in calls_ops.sampling(Ctx())

    fake_fi.sampling.top_k_top_p_sampling_from_probs = lambda probs, *a, **k: probs.argmin(-1).to(torch.int32)
    with pytest.raises(CheckFailed, match="outside the top-5 set"):
        calls_ops.sampling(Ctx())


def _nvfp4_quantize(x, gs, block=16, swap_nibbles=False):
    """Round-to-nearest NVFP4 (e2m1 values, e4m3 block scales, packed low nibble first)."""
    lut = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    xb = x.float().view(x.shape[0], -1, block)
    sf = (xb.abs().amax(-1) / 6.0 * gs).to(torch.float8_e4m3fn)
    scaled = xb * gs / sf.float()[..., None].clamp(min=1e-12)
    code = (scaled.abs()[..., None] - lut).abs().argmin(-1) | ((scaled < 0).long() << 3)
    code = code.view(x.shape[0], -1, 2)
    lo, hi = (code[..., 1], code[..., 0]) if swap_nibbles else (code[..., 0], code[..., 1])
    return (lo | (hi << 4)).to(torch.uint8), sf.view(torch.uint8)


def test_fp4_round_trip_tolerance_is_reachable_and_catches_nibble_order(fake_fi):
    fake_fi.fp4_quantize = lambda x, gs, *a, **k: _nvfp4_quantize(x, gs.item())
    assert "relative L2 error" in calls_ops.fp4_quantize(Ctx())

    fake_fi.fp4_quantize = lambda x, gs, *a, **k: _nvfp4_quantize(x, gs.item(), swap_nibbles=True)
    with pytest.raises(CheckFailed, match="relative L2 error"):
        calls_ops.fp4_quantize(Ctx())


def _paged_sdpa(q, k_pages, v_pages, indptr, indices, last_len, sinks=None):
    """Decode attention straight from the page table, with sinks as an extra key whose
    value is zero (the gpt-oss formulation) - independent of checks.attention_ref."""
    outs = []
    page = k_pages.shape[1]
    for b in range(q.shape[0]):
        pages = indices[indptr[b]:indptr[b + 1]].long()
        n = (len(pages) - 1) * page + int(last_len[b])
        k = k_pages[pages].flatten(0, 1)[:n].float().transpose(0, 1)  # (hkv, n, d)
        v = v_pages[pages].flatten(0, 1)[:n].float().transpose(0, 1)
        group = q.shape[1] // k.shape[0]
        k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
        scores = torch.einsum("hd,hnd->hn", q[b].float(), k) / math.sqrt(q.shape[-1])
        if sinks is not None:
            scores = torch.cat([scores, sinks.float()[:, None]], dim=1)
            v = torch.cat([v, torch.zeros_like(v[:, :1])], dim=1)
        outs.append(torch.einsum("hn,hnd->hd", scores.softmax(-1), v))
    return torch.stack(outs).to(q.dtype)


def _decode_wrapper(drop_sinks=False):
    class Wrapper:
        def __init__(self, workspace, layout, use_tensor_cores=False, backend="auto"):
            assert layout == "NHD"

        def plan(self, indptr, indices, last_len, hq, hkv, d, page, **_):
            self.meta = (indptr, indices, last_len)

        def run(self, q, kv, sinks=None):
            return _paged_sdpa(q, kv[0], kv[1], *self.meta, None if drop_sinks else sinks)

    return Wrapper


def test_decode_and_sink_reference_agree_with_an_independent_paged_attention(fake_fi):
    fake_fi.BatchDecodeWithPagedKVCacheWrapper = _decode_wrapper()
    assert calls_attention.decode(Ctx(), "fa2", False).startswith("matches")
    assert calls_attention.decode(Ctx(), "trtllm-gen", False, sinks=True).startswith("matches")

    fake_fi.BatchDecodeWithPagedKVCacheWrapper = _decode_wrapper(drop_sinks=True)
    with pytest.raises(CheckFailed):
        calls_attention.decode(Ctx(), "trtllm-gen", False, sinks=True)


def test_causal_reference_matches_torch_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(5, 4, 16), torch.randn(9, 2, 16), torch.randn(9, 2, 16)
    ref = attention_ref(q, k, v, causal=True)
    mask = torch.ones(5, 9, dtype=torch.bool).tril(diagonal=9 - 5)
    sdpa = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1).repeat_interleave(2, 0),
                                          v.transpose(0, 1).repeat_interleave(2, 0), attn_mask=mask)
    torch.testing.assert_close(ref, sdpa.transpose(0, 1), atol=1e-5, rtol=1e-5)
    very_negative = torch.full((4,), -1e4)
    torch.testing.assert_close(attention_ref(q, k, v, True, sinks=very_negative), ref, atol=1e-6, rtol=1e-6)
