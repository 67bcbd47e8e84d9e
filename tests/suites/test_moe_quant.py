"""Quantized MoE on the CPU: references against naive per-token formulas, the FLOP/byte
model, MXFP4 padding, the two-part parity, and the runner's quantization-error columns."""

import pytest
import torch
import torch.nn.functional as F

from fibench.errors import UsageError
from fibench.env import EnvSnapshot
from fibench.suites import moe_backends, moe_quant, quant
from fibench.suites.base import Backend, Case, Launch
from fibench.suites.moe import moe_work
from fibench.sweep import runner
from fibench.sweep.config import resolve_run
from fibench.sweep.results import Status


def _case(mode, sizes="5"):
    cfg = resolve_run("moe", sizes, model="small", device="cpu", iters=2, warmup=1, axes={"quant": mode})
    case = cfg.cases[0]
    return cfg, case, cfg.suite.make_inputs(case, cfg.device)


def _naive(case, t, expert_out):
    """Per token, per routed slot: routing weight x expert_out(token, expert), fp32, one rounding."""
    local = case.params["experts"] // case.params["ep"]
    out = torch.zeros(t["topk_ids"].shape[0], case.params["hidden"])
    for i in range(out.shape[0]):
        for k in range(t["topk_ids"].shape[1]):
            e = int(t["topk_ids"][i, k])
            if e < local:
                out[i] += t["topk_weights"][i, k] * expert_out(i, e)
    return out.to(case.torch_dtype)


def _agree(ref, naive):
    """Same math, different loop order: fp32 summation order may flip a rare bf16 rounding."""
    return (ref == naive).float().mean() >= 0.99 and (ref.float() - naive.float()).abs().max() <= 1e-2


def _swiglu(h, inter):
    return F.silu(h[inter:]) * h[:inter]


def _reference(cfg, case, inputs):
    return runner.call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device, parity=True)


def test_fp8_block_reference_matches_the_naive_formula():
    cfg, case, inputs = _case("fp8-block")
    t, inter, bf = inputs.tensors, case.params["intermediate"], torch.bfloat16

    def expert_out(i, e):
        xq, xs = quant.fp8_group_quantize(t["x"][i:i + 1])  # this token's 1x128 groups
        w1 = t["w1_q"][e].float() * t["w1_scale"][e].repeat_interleave(128, 0).repeat_interleave(128, 1)
        w2 = t["w2_q"][e].float() * t["w2_scale"][e].repeat_interleave(128, 0).repeat_interleave(128, 1)
        h = ((xq.float() * xs.repeat_interleave(128, 1))[0] @ w1.t()).to(bf).float()
        aq, as_ = quant.fp8_group_quantize(_swiglu(h, inter).to(bf)[None])
        return (aq.float() * as_.repeat_interleave(128, 1))[0] @ w2.t()

    ref = _reference(cfg, case, inputs)
    naive = _naive(case, t, expert_out)
    assert _agree(ref["out"], naive)
    assert torch.equal(ref["out_unquantized"], _reference_bf16(case, inputs))


def _reference_bf16(case, inputs):
    bf16 = moe_backends.TorchMoe().prepare(Case("moe", "moe", case.size, "bf16", {**case.params, "quant": "bf16"}),
                                           inputs)
    return runner.call_once(bf16, torch.device("cpu"))["out"]


def test_fp8_per_tensor_reference_and_calibrated_activation_scale():
    cfg, case, inputs = _case("fp8")
    t, inter, bf = inputs.tensors, case.params["intermediate"], torch.bfloat16
    a1 = t["x"].float().abs().max() / 448
    assert t["a1_scale"].item() == pytest.approx(a1.item())
    w1s = torch.stack([w.float().abs().max() / 448 for w in t["w1"]])
    assert torch.allclose(t["fc1_dequant"], a1 * w1s)

    acts = {}

    def expert_out(i, e):
        h = ((t["x_fp8"][i].float() @ t["w1_q"][e].float().t()) * t["fc1_dequant"][e]).to(bf).float()
        act = _swiglu(h, inter)
        acts[(i, e)] = act
        a = (act / (1 / t["fc2_quant"])).clamp(-448, 448).to(torch.float8_e4m3fn).float()
        return (a @ t["w2_q"][e].float().t()) * t["fc2_dequant"][e]

    naive = _naive(case, t, expert_out)
    ref = _reference(cfg, case, inputs)
    assert _agree(ref["out"], naive)
    # the static GEMM2 input scale maps the largest intermediate of this case to 448
    amax = max(a.abs().max() for a in acts.values())
    assert (amax * t["fc2_quant"]).item() == pytest.approx(448.0, rel=1e-5)


def test_mxfp4_reference_matches_the_naive_formula_and_shows_quantization_error():
    cfg, case, inputs = _case("mxfp4")
    t, inter, bf = inputs.tensors, case.params["intermediate"], torch.bfloat16

    def expert_out(i, e):
        w1 = quant.mxfp4_dequantize(t["w1_q"][e], t["w1_scale"][e])
        w2 = quant.mxfp4_dequantize(t["w2_q"][e], t["w2_scale"][e])
        h = (t["x"][i].float() @ w1.t()).to(bf).float()
        return _swiglu(h, inter).to(bf).float() @ w2.t()

    ref = _reference(cfg, case, inputs)
    assert _agree(ref["out"], _naive(case, t, expert_out))
    p = moe_quant.moe_quant_parity("mxfp4", {"out": ref["out"]}, ref)
    assert p.verdict == "pass" and p.max_abs_err == 0
    q = p.row_fields
    assert q["quant_err_verdict"] == "pass" and 0.9 < q["quant_err_cosine"] < 0.9999  # 4-bit weights: visible error
    assert q["quant_err_max_abs_err"] > 0.01


def test_kernel_parity_fails_a_kernel_that_skips_or_misscales_the_quantization():
    cfg, case, inputs = _case("mxfp4", "16")
    ref = _reference(cfg, case, inputs)
    unquantized_kernel = moe_quant.moe_quant_parity("mxfp4", {"out": ref["out_unquantized"]}, ref)
    assert unquantized_kernel.verdict == "fail"
    cfg, case, inputs = _case("fp8-block", "16")
    ref = _reference(cfg, case, inputs)
    off_by_10pct = moe_quant.moe_quant_parity("fp8-block", {"out": (ref["out"].float() * 1.1).to(torch.bfloat16)}, ref)
    assert off_by_10pct.verdict == "fail" and off_by_10pct.within_tol_frac < 0.85


def test_work_model_counts_real_weight_bytes_and_scales():
    params = dict(model="t", hidden=256, intermediate=128, experts=8, top_k=2, ep=2)
    ids = torch.tensor([[0, 5], [1, 0], [6, 7]], dtype=torch.int32)  # local experts 0..3: 0 and 1 hit
    per = {"bf16": 3 * 256 * 128 * 2, "fp8": 3 * 256 * 128 + 8, "fp8-block": 3 * 256 * 128 + 3 * 2 * 1 * 4,
           "mxfp4": 3 * 256 * 128 // 2 + 3 * 256 * 128 // 32}
    for mode, weight_bytes in per.items():
        work, _ = moe_work(Case("moe", "moe", 3, "bf16", {**params, "quant": mode}), ids)
        x_bytes = 2 * 256 * (1 if mode == "fp8" else 2)  # two tokens have a local expert
        assert work.bytes_read == 2 * weight_bytes + x_bytes + 3 * 2 * 8 + (8 if mode == "fp8" else 0), mode
        assert work.flop == 6.0 * 3 * 256 * 128 and work.bytes_written == 3 * 256 * 2
        # fp8 x fp8 products run on fp8 tensor cores; MXFP4 weights are dequantized to bf16 math
        assert work.flop_dtype == ("fp8" if mode in ("fp8", "fp8-block") else "bf16"), mode
    # gpt-oss: 2880 is padded to 2944 in the kernel's layout; bytes follow the padding
    assert moe_quant.weight_bytes_per_expert("mxfp4", 2880, 2880, 2) == 3 * 2944 * 2944 * 17 // 32


def test_mxfp4_padding_dequantizes_to_zero_padded_weights():
    w = torch.randn(2, 2 * 64, 96, generator=torch.Generator().manual_seed(0))  # [E, 2I, H]: I=64, H=96
    packed, scales = quant.mxfp4_quantize(w)
    pp, ps = moe_quant.pad_mxfp4(packed, scales, halves=2, rows=128, k=128)
    assert pp.shape == (2, 256, 64) and ps.shape == (2, 256, 4)
    deq, padded = quant.mxfp4_dequantize(packed, scales), quant.mxfp4_dequantize(pp, ps)
    expect = torch.zeros(2, 2, 128, 128)
    expect[:, :, :64, :96] = deq.reshape(2, 2, 64, 96)  # up and gate halves padded separately
    assert torch.equal(padded, expect.reshape(2, 256, 128))


def test_quant_shape_limits_are_usage_errors():
    with pytest.raises(UsageError, match="fp8-block needs hidden and intermediate divisible by 128"):
        resolve_run("moe", "4", model="small", device="cpu", axes={"quant": "fp8-block", "hidden": 192})
    with pytest.raises(UsageError, match="unknown value 'int4'"):
        resolve_run("moe", "4", model="small", device="cpu", axes={"quant": "int4"})
    cfg = resolve_run("moe", "4", model="small", device="cpu", axes={"quant": "bf16,mxfp4"})
    assert [c.case_id for c in cfg.cases] == ["moe/4", "moe/4/quant=mxfp4"]


class _PerturbedKernel(Backend):
    """Stands in for a quantized kernel: the reference's dequantized output, 1% off."""
    name = "perturbed"
    description = "test stand-in"

    def prepare(self, case, inputs):
        ref = moe_backends.TorchMoe().prepare(case, inputs)

        def bind(t):
            call = ref.bind(t)
            return lambda: {"out": (call()["out"].float() * 1.01).to(torch.bfloat16)}
        return Launch(ref.reads, bind, capturable=False)


def test_runner_writes_kernel_parity_and_quantization_error_columns(monkeypatch):
    monkeypatch.setitem(moe_backends.BACKENDS, "perturbed", _PerturbedKernel)
    cfg = resolve_run("moe", "8", model="small", device="cpu", iters=2, warmup=1, backends="torch,perturbed",
                      axes={"quant": "fp8-block"})
    ctx = runner.RunContext(cfg, EnvSnapshot(), None, None)
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    ref, _ = runner.reference_outputs(ctx, case, inputs)
    assert set(ref) == {"out", "out_unquantized"}
    row, _, _ = runner.run_backend(ctx, case, inputs, "perturbed", ref, "")
    assert row.status == Status.OK and row.parity_rule == "hit-ratio" and row.atol == 8e-3
    assert row.quant_err_verdict == "pass" and 0.99 < row.quant_err_cosine < 1.0
    assert row.bytes_read == inputs.work.bytes_read
    grouped, _, _ = runner.run_backend(ctx, case, inputs, "torch-grouped", ref, "")
    assert grouped.status == Status.UNSUPPORTED and "bf16 weights only" in grouped.reason


def test_report_shows_the_quantization_error_table():
    from fibench.report.parity_md import parity_sections
    from fibench.sweep.results import Row

    base = dict(suite="moe", op="moe", size=8, dtype="bf16", model="small", axes={"quant": "fp8-block"},
                median_us=1.0)
    rows = [Row(case_id="moe/8/quant=fp8-block", backend="torch", status=Status.OK, parity_verdict="reference", **base),
            Row(case_id="moe/8/quant=fp8-block", backend="flashinfer-cutlass", status=Status.OK,
                parity_verdict="pass", quant_err_verdict="pass", quant_err_within_tol_frac=0.9991,
                quant_err_max_abs_err=0.05, quant_err_mean_abs_err=0.004, quant_err_cosine=0.9987, **base)]
    text = "\n".join(parity_sections(rows))
    assert "Quantization error" in text
    assert "| moe | 8 | flashinfer-cutlass | pass | 0.99910 | 0.0500 | 0.00400 | 0.998700 |" in text
