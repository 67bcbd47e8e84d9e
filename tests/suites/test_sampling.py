"""Sampling parity on distributions with known answers: exact renormalised distributions,
the TV bound, a correct sampler passes and biased ones fail, the suite's parity paths."""

import math

import pytest
import torch

from fibench.errors import UsageError
from fibench.suites import sampling
from fibench.suites.sampling_stats import DRAWS, ROWS, exact_distribution, tv_bound, tv_check
from fibench.sweep import runner
from fibench.sweep.config import resolve_run

P = torch.tensor([[0.4, 0.3, 0.15, 0.1, 0.05]], dtype=torch.float64)
KW = dict(top_k=2, top_p=0.8, min_p=0.3)


@pytest.mark.parametrize("op, kw, expect", [
    ("top_k", KW, [0.4 / 0.7, 0.3 / 0.7, 0, 0, 0]),
    ("top_p", KW, [0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0, 0]),       # mass before token 3 is 0.85 >= 0.8
    ("top_k_top_p", dict(KW, top_k=4), [0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0, 0]),  # 0.4/.95 + .3/.95 < .8
    ("min_p", KW, [0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0, 0]),       # threshold 0.3 x 0.4 = 0.12
])
def test_exact_distribution_of_each_filter(op, kw, expect):
    dist, allowed = exact_distribution(P, op, **kw)
    assert torch.allclose(dist[0], torch.tensor(expect, dtype=torch.float64))
    assert torch.equal(allowed[0], dist[0] > 0)


def test_top_k_first_renormalises_before_the_nucleus():
    # top-k = 2 leaves [0.5, 0.5] after renormalising: a 0.6 nucleus then needs both tokens
    p = torch.tensor([[0.3, 0.3, 0.2, 0.2]], dtype=torch.float64)
    dist, _ = exact_distribution(p, "top_k_top_p", top_k=2, top_p=0.6, min_p=0.0)
    assert dist[0].tolist() == [0.5, 0.5, 0.0, 0.0]


def test_tokens_at_the_threshold_are_allowed_but_not_expected():
    p = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    dist, allowed = exact_distribution(p, "top_p", top_k=1, top_p=0.8, min_p=0.0)
    assert dist[0, 2] == 0 and bool(allowed[0, 2])  # mass before it is exactly 0.8
    with pytest.raises(ValueError, match="unknown sampling op"):
        exact_distribution(p, "greedy", top_k=1, top_p=0.8, min_p=0.0)


def test_tv_bound_formula():
    expect = math.sqrt((math.log(2 ** 32 - 2) + math.log(4 / 1e-6)) / (2 * 16384))
    assert tv_bound(16384, 32, 4, 1e-6) == pytest.approx(expect) and 0.033 < expect < 0.035
    assert tv_bound(100, 1, 1) == 0.0


def _draws(dist, n=DRAWS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.multinomial(dist.float(), n, replacement=True, generator=gen).t()


def test_correct_sampler_passes_and_biased_samplers_fail():
    p = torch.softmax(torch.randn(3, 200, generator=torch.Generator().manual_seed(1)) * 2, dim=-1).double()
    dist, allowed = exact_distribution(p, "top_k", top_k=20, top_p=1.0, min_p=0.0)
    good = tv_check(_draws(dist), dist, allowed)
    assert good.verdict == "pass" and good.within_tol_frac == 1.0 and good.max_err_over_tol < 1
    # 20 allowed tokens + one bin for the rest of the allowed set (the ambiguous band): 21 outcomes
    assert good.details["draws_per_row"] == DRAWS and good.atol == pytest.approx(tv_bound(DRAWS, 21, 3))

    tempered = dist ** 2 / (dist ** 2).sum(-1, keepdim=True)  # temperature 0.5: same support, wrong shape
    hot = tv_check(_draws(tempered), dist, allowed)
    assert hot.verdict == "fail" and hot.within_tol_frac == 1.0 and hot.max_err_over_tol > 1
    assert hot.worst[0].output == "tv"

    shifted = dist.clone()  # 5% of the mass moved from the top token to the second one
    top2 = dist.topk(2, dim=-1).indices
    shifted.scatter_add_(1, top2, torch.tensor([[-0.05, 0.05]] * 3, dtype=torch.float64))
    assert tv_check(_draws(shifted), dist, allowed).verdict == "fail"


def test_a_draw_outside_the_allowed_set_fails():
    dist, allowed = exact_distribution(P, "top_k", top_k=2, top_p=1.0, min_p=0.0)
    draws = _draws(dist)
    draws[7, 0] = 4  # a token the top-2 filter removed
    r = tv_check(draws, dist, allowed)
    assert r.verdict == "fail" and r.details["outside_allowed"] == 1
    assert r.worst[0].output == "draws" and r.worst[0].index == (7, 0) and r.worst[0].candidate == 4.0


@pytest.mark.parametrize("op", sampling.OPS)
def test_torch_sampler_draws_from_the_exact_distribution(op):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 300, generator=gen) * 3
    probs_in = torch.softmax(x, dim=-1)
    src = x if op.endswith("_logits") else probs_in
    kw = dict(top_k=10, top_p=0.7, min_p=0.05)
    srt, idx = sampling.filtered_sorted(op, src, **kw)
    draws = torch.stack([sampling.exponential_race(srt, idx, gen) for _ in range(4096)])
    dist, allowed = exact_distribution(torch.softmax(x.double(), -1), op, **kw)
    r = tv_check(draws, dist, allowed)
    assert r.verdict == "pass", (op, r.details)


def _fake_flashinfer_step(op, kw, *, ignore_indices=False):
    """Stands in for flashinfer.sampling: the torch sampler, honouring indices and seed."""
    def step(x, indices=None, seed=0, offset=0):
        gen = torch.Generator().manual_seed(seed + offset)
        rows = x if indices is None else x[torch.zeros_like(indices) if ignore_indices else indices]
        srt, idx = sampling.filtered_sorted(op, rows, **kw)
        out = sampling.exponential_race(srt, idx, gen)
        return out.to(torch.int32 if indices is None else indices.dtype)
    return step


def _run_parity(monkeypatch, **fake):
    cfg = resolve_run("sampling", "6", device="cpu", ops="top_k_top_p_logits", iters=2, warmup=1,
                      axes={"vocab": 64, "top_k": 8, "top_p": 0.8})
    case = cfg.cases[0]
    monkeypatch.setattr(sampling, "_flashinfer_call", lambda op, kw: _fake_flashinfer_step(op, kw, **fake))
    inputs = cfg.suite.make_inputs(case, cfg.device)
    ref = runner.call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device, parity=True)
    launch = sampling.FlashInferSampler().prepare(case, inputs)
    out = runner.call_once(launch, cfg.device, parity=True)
    assert out["draws"].shape == (DRAWS, ROWS) and ref["dist"].shape == (ROWS, 64)
    assert runner.call_once(launch, cfg.device)["samples"].shape == (6,)
    assert runner.outputs_bitwise_equal(out, runner.call_once(launch, cfg.device, parity=True))  # fixed seed
    return cfg.suite.check_parity(case, out, ref)


def test_flashinfer_parity_path_maps_indices_to_rows(monkeypatch):
    assert _run_parity(monkeypatch).verdict == "pass"
    wrong_rows = _run_parity(monkeypatch, ignore_indices=True)  # every draw from row 0
    assert wrong_rows.verdict == "fail" and wrong_rows.within_tol_frac < 1.0


def test_sampling_options_are_validated():
    with pytest.raises(UsageError, match="--top-p must be in"):
        resolve_run("sampling", "4", device="cpu", axes={"top_p": 1.5})
    cfg = resolve_run("sampling", "4", model="llama-3-8b", device="cpu", ops="min_p")
    assert cfg.cases[0].params["vocab"] == 128256
    work = sampling.sampling_work(4, 128256)
    assert (work.bytes_read, work.bytes_written, work.flop) == (4 * 128256 * 4, 16, 0.0)
