"""GEMM suite on the CPU: projection shapes, FLOP/byte model, references against naive
dequantization, two-part parity, shape limits."""

import pytest
import torch

from fibench.errors import UsageError
from fibench.presets import get_preset
from fibench.suites import gemm, quant
from fibench.suites.base import Case
from fibench.sweep.config import resolve_run
from fibench.sweep.runner import call_once


def test_projection_shapes_of_llama_3_8b():
    shapes = gemm.projection_shapes(get_preset("llama-3-8b"))
    assert shapes == {"qkv": [6144, 4096], "o": [4096, 4096], "gate_up": [28672, 4096], "down": [4096, 14336]}
    assert gemm.projection_shapes(get_preset("deepseek-v3"))["qkv"] is None


def test_gemm_work_model():
    m, n, k = 3, 256, 384
    assert gemm.gemm_work("bf16", m, n, k).bytes_read == 2 * (3 * 384 + 256 * 384)
    assert gemm.gemm_work("fp8", m, n, k).bytes_read == 3 * 384 + 256 * 384 + 8
    assert gemm.gemm_work("fp8-block", m, n, k).bytes_read == 2 * 3 * 384 + 256 * 384 + 2 * 3 * 4
    assert gemm.gemm_work("fp8-block", m, 192, k).bytes_read == 2 * 3 * 384 + 192 * 384 + 2 * 3 * 4  # ceil(192/128)
    w = gemm.gemm_work("bf16", m, n, k)
    assert (w.flop, w.bytes_written) == (2.0 * 3 * 256 * 384, 2 * 3 * 256)


def _run(op, sizes="5", **axes):
    cfg = resolve_run("gemm", sizes, device="cpu", ops=op, axes={"proj": "custom", "n": 192, "k": 256, **axes})
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    return cfg, case, inputs, call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device)


def test_fp8_reference_dequantizes_the_same_operands():
    cfg, case, inputs, out = _run("fp8")
    t = inputs.tensors
    a, b = t["a_fp8"].float() * t["a_scale"], t["b_fp8"].float() * t["b_scale"]
    naive = (a[:, None, :] * b[None, :, :]).sum(-1)  # sum of products, no matmul
    assert (out["out"] == naive.to(torch.bfloat16)).double().mean() > 0.99
    assert torch.allclose(out["out_unquantized"].float(), t["a"].float() @ t["b"].float().t(), atol=1e-2)
    kernel_is_exact = cfg.suite.check_parity(case, {"out": out["out"]}, out)
    assert kernel_is_exact.verdict == "pass" and kernel_is_exact.row_fields["quant_err_verdict"] == "pass"
    skipped_quant = cfg.suite.check_parity(case, {"out": out["out_unquantized"]}, out)
    assert skipped_quant.verdict == "fail"  # a kernel that ignored the fp8 operands is caught


def test_fp8_block_reference_quantizes_a_per_group_and_b_per_block():
    cfg, case, inputs, out = _run("fp8-block")
    t = inputs.tensors
    assert t["b_fp8"].shape == (192, 256) and t["b_scale"].shape == (2, 2)  # N=192: a partial last block
    aq, a_s = quant.fp8_group_quantize(t["a"])
    a = aq.float() * a_s.repeat_interleave(128, 1)
    b = t["b_fp8"].float() * t["b_scale"].repeat_interleave(128, 0)[:192].repeat_interleave(128, 1)
    assert (out["out"] == (a @ b.t()).to(torch.bfloat16)).double().mean() > 0.99


def test_gemm_option_errors_and_backend_limits():
    with pytest.raises(UsageError, match="--proj custom needs --n and --k"):
        resolve_run("gemm", "4", device="cpu", axes={"proj": "custom", "n": 64})
    with pytest.raises(UsageError, match="--n/--k set the shape of --proj custom"):
        resolve_run("gemm", "4", device="cpu", axes={"proj": "qkv", "n": 64, "k": 64})
    with pytest.raises(UsageError, match="preset 'deepseek-v3' has no qkv shape"):
        resolve_run("gemm", "4", model="deepseek-v3", device="cpu")
    cfg = resolve_run("gemm", "4", device="cpu", ops="bf16,fp8-block", axes={"proj": "custom", "n": 96, "k": 96})
    bf16, block = cfg.cases
    assert "K % 64" in gemm.FlashInferTinyGemm().unsupported_reason(bf16)
    assert gemm.FlashInferTinyGemm().unsupported_reason(block) == "runs op bf16 only"
    assert "N % 64 == 0 and K % 128 == 0, got N=96 K=96" in gemm.FlashInferBlockScaleGemm().unsupported_reason(block)
    assert "K % 128" in gemm.TorchGemm().unsupported_reason(block)  # the reference says so too


def test_default_sweep_covers_the_four_projections():
    cfg = resolve_run("gemm", "16", model="llama-3-8b", device="cpu", ops="bf16")
    assert [c.case_id for c in cfg.cases] == [f"bf16/16/proj={p}" for p in gemm.PROJECTIONS]
    assert gemm.gemm_nk(cfg.cases[3].params) == (4096, 14336)
    assert isinstance(cfg.cases[0], Case)
