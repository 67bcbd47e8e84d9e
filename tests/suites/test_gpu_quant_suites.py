"""GPU tests of the FlashInfer backends of the quantized MoE and the dense-op suites (marked
``gpu``; skipped without CUDA). Each runs one small case end to end through the runner and
needs parity to pass; a backend whose JIT module is not built (``--jit never``) is skipped
with the runner's reason, never compiled here."""

import pytest

from fibench.env import EnvSnapshot
from fibench.sweep import runner
from fibench.sweep.config import resolve_run
from fibench.sweep.results import Status

pytestmark = pytest.mark.gpu


def _row(suite, backend, op=None, model=None, **axes):
    cfg = resolve_run(suite, "16", model=model, ops=op, backends=backend, iters=3, warmup=1, jit="never",
                      per_kernel=False, axes=axes)
    ctx = runner.RunContext(cfg, EnvSnapshot(), None, None)
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    ref, reason = runner.reference_outputs(ctx, case, inputs)
    row, _, _ = runner.run_backend(ctx, case, inputs, backend, ref, reason)
    if row.status == Status.UNSUPPORTED:
        pytest.skip(row.reason)
    return row


@pytest.mark.parametrize("quant", ["fp8", "fp8-block", "mxfp4"])
def test_cutlass_moe_quant_modes(quant):
    row = _row("moe", "flashinfer-cutlass", model="qwen3-30b-a3b", quant=quant, experts=16)
    assert row.status == Status.OK, row.reason
    assert row.quant_err_verdict == "pass" and row.quant_err_cosine > 0.98


@pytest.mark.parametrize("suite, backend, op, model", [
    ("activation", "flashinfer", "silu_and_mul", "llama-3-8b"),
    ("rope", "flashinfer", "rope_cos_sin_cache_inplace", "llama-3.1-8b"),
    ("rope", "flashinfer", "llama31_rope", "llama-3.1-8b"),
    ("gemm", "flashinfer-blockscale", "fp8-block", "llama-3-8b"),
    ("gemm", "flashinfer-bmm-fp8", "fp8", "llama-3-8b"),
    ("sampling", "flashinfer", "top_k_top_p_logits", "llama-3-8b"),
])
def test_flashinfer_dense_ops(suite, backend, op, model):
    row = _row(suite, backend, op=op, model=model)
    assert row.status == Status.OK and row.parity_verdict == "pass", (row.reason, row.max_err_over_tol)
    assert row.deterministic
