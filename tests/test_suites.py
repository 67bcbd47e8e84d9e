"""Suites on the CPU: presets, FLOP/byte models, routing, backend agreement, in-place semantics."""

import pytest
import torch

from fibench.sweep.config import resolve_run
from fibench.errors import UsageError
from fibench.parity.metrics import compare
from fibench.presets import PRESETS, get_preset
from fibench.sweep.runner import call_once
from fibench.suites.base import Case
from fibench.suites.moe import moe_work
from fibench.suites.norm import norm_work
from fibench.suites.routing import deepseek_grouped, softmax_topk
from fibench.measure.rotation import RotationSet
from fibench.measure.coldl2 import ColdL2Plan


def test_presets_match_published_shapes():
    ds = get_preset("deepseek-v3")
    assert (ds.hidden, ds.intermediate, ds.experts, ds.top_k, ds.n_group, ds.topk_group) == (7168, 2048, 256, 8, 8, 4)
    assert (PRESETS["qwen3-30b-a3b"].hidden, PRESETS["qwen3-30b-a3b"].experts) == (2048, 128)
    assert PRESETS["mixtral-8x7b"].intermediate == 14336 and PRESETS["gpt-oss-120b"].top_k == 4
    assert not PRESETS["llama-3-8b"].is_moe
    with pytest.raises(UsageError, match="unknown model preset"):
        get_preset("gpt-5")


def test_norm_work_model():
    w = norm_work("rmsnorm", rows=4, hidden=8, elem=2)
    assert (w.flop, w.bytes_read, w.bytes_written) == (128.0, (32 + 8) * 2, 64)
    f = norm_work("fused_add_rmsnorm", rows=4, hidden=8, elem=2)
    assert (f.flop, f.bytes_read, f.bytes_written) == (160.0, (64 + 8) * 2, 128)


def test_moe_work_counts_only_local_experts_hit():
    params = dict(model="t", hidden=16, intermediate=8, experts=8, top_k=2, ep=2)
    case = Case("moe", "moe", 3, "bf16", params)
    ids = torch.tensor([[0, 5], [1, 0], [6, 7]], dtype=torch.int32)  # rank 0 holds experts 0..3
    work, info = moe_work(case, ids)
    assert info == {"experts_hit": 2, "local_experts": 4, "local_assignments": 3, "local_tokens": 2}
    assert work.flop == 6.0 * 3 * 16 * 8
    assert work.bytes_read == 2 * 3 * 16 * 8 * 2 + 2 * 16 * 2 + 3 * 2 * 8
    assert work.bytes_written == 3 * 16 * 2


def test_softmax_topk_normalises():
    logits = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    ids, w = softmax_topk(logits, 3)
    assert ids.dtype == torch.int32 and ids.shape == (5, 3)
    assert torch.allclose(w.sum(-1), torch.ones(5))
    assert torch.equal(ids.long(), torch.topk(logits, 3).indices)  # softmax is monotonic


def test_deepseek_grouped_keeps_only_top_groups():
    # 8 experts in 4 groups of 2; keep 2 groups. Group strength = sum of its 2 biased scores.
    logits = torch.tensor([[5.0, 5.0, 0.0, 0.0, 4.0, 4.0, 6.0, -9.0]])
    bias = torch.zeros(8)
    ids, w = deepseek_grouped(logits, bias, top_k=3, n_group=4, topk_group=2, routed_scaling=2.5)
    # groups: (0,1)=2*sig(5), (2,3)=2*sig(0), (4,5)=2*sig(4), (6,7)=sig(6)+sig(-9) -> keep groups 0 and 2
    assert set(ids[0].tolist()) == {0, 1, 4} or set(ids[0].tolist()) == {0, 1, 5}
    assert 6 not in ids[0].tolist()  # the single best expert is in a dropped group
    assert w.sum().item() == pytest.approx(2.5)


def test_deepseek_bias_steers_selection_but_not_weights():
    logits = torch.zeros(1, 8)
    bias = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1.0])
    ids, w = deepseek_grouped(logits, bias, top_k=2, n_group=1, topk_group=1, routed_scaling=1.0)
    assert 7 in ids[0].tolist()
    assert torch.allclose(w, torch.full_like(w, 0.5))  # unbiased scores are all sigmoid(0)


@pytest.mark.parametrize("ep", [1, 2])
def test_torch_grouped_matches_reference_on_cpu(ep):
    cfg = resolve_run("moe", "1,37", model="small", device="cpu", axes={"ep": ep})
    for case in cfg.cases:
        inputs = cfg.suite.make_inputs(case, cfg.device)
        outs = {name: call_once(cfg.suite.backends[name]().prepare(case, inputs), cfg.device)
                for name in ("torch", "torch-grouped")}
        r = compare(outs["torch-grouped"], outs["torch"])
        assert r.verdict == "pass", (case.case_id, r.max_err_over_tol)
        assert r.cosine > 0.9999
        if ep == 2:  # tokens routed only to rank 1's experts get an all-zero output row
            only_remote = (inputs.tensors["topk_ids"] >= 4).all(dim=1)
            assert torch.all(outs["torch"]["out"][only_remote] == 0)


def test_fused_add_rmsnorm_reference_semantics():
    cfg = resolve_run("norm", "3", device="cpu", ops="fused_add_rmsnorm", axes={"hidden": 64})
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    x, res, w = (inputs.tensors[k] for k in ("x", "residual", "weight"))
    out = call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device)
    s = x.float() + res.float()
    expect = (s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()).to(x.dtype)
    assert torch.equal(out["residual"], s.to(x.dtype)) and torch.equal(out["out"], expect)
    assert torch.equal(inputs.tensors["x"], x) and torch.equal(inputs.tensors["residual"], res)  # pristine


def test_rotation_restore_gives_every_call_the_same_inputs():
    cfg = resolve_run("norm", "2", device="cpu", ops="fused_add_rmsnorm", axes={"hidden": 32})
    case = cfg.cases[0]
    launch = cfg.suite.backends["torch"]().prepare(case, cfg.suite.make_inputs(case, cfg.device))
    plan = ColdL2Plan("rotate", "rotate", True, copies=3, calls_per_graph=3, restore=True, flush_bytes=0)
    rs = RotationSet(launch, plan, cfg.device)
    first = [{k: v.clone() for k, v in c().items()} for c in rs.calls]
    rs.restore()
    second = [{k: v.clone() for k, v in c().items()} for c in rs.calls]
    assert all(torch.equal(a["out"], b["out"]) for a, b in zip(first, second))
    third = [{k: v.clone() for k, v in c().items()} for c in rs.calls]  # without restore: drifts
    assert not torch.equal(third[0]["residual"], first[0]["residual"])
