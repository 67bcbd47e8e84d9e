"""Every attention backend on a tiny case on the GPU: parity against the fp32 reference,
a measured plan time where the backend plans, and a CUDA-graph capture of its call.

Shapes are the hardware runs' (llama-3-8b heads, DeepSeek-V3 MLA dims, bf16, pages of 16 /
1 / 64), so these tests also build the JIT modules those runs use. The gpt-oss tests
(sinks + 128-token window) build extra modules (~30 s, ~70 s with FA3); deselect them with
``-k "not gpt_oss"`` when device time is short.
"""

import pytest
import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.timing import TIMER_GRAPH, run_timing
from fibench.suites import get_suite
from fibench.suites.needs import check_needs
from fibench.sweep.config import build_cases
from fibench.sweep.runner import call_once

pytestmark = pytest.mark.gpu

DEV = torch.device("cuda")
NO_PLAN = ("trtllm-xqa", "cudnn", "torch-sdpa")


# FA2 prefill's log-sum-exp exceeds its tolerance (1e-3 + 1e-3 x |lse|) by 1.1-1.46x while
# its out passes (audits/h200-2026-11-30/README.md, "Prefill"): a finding, not a test defect.
FA2_PREFILL_LSE_OVER_TOL = 2.0


def _check(suite_name: str, backend: str, size: int, model: str, **axes) -> None:
    suite = get_suite(suite_name)
    case = build_cases(suite, [size], "bf16", 0, list(suite.ops), model, axes)[0][0]
    impl = suite.backends[backend]()
    reason = impl.unsupported_reason(case) or check_needs(impl.needs, DEV, "auto").reason
    if reason:
        pytest.skip(reason)
    inputs = suite.make_inputs(case, DEV)
    ref = call_once(suite.backends["torch"]().prepare(case, inputs), DEV)
    launch = impl.prepare(case, inputs)
    out = call_once(launch, DEV, first=True)
    if suite_name == "prefill" and backend == "flashinfer-fa2":
        lse = suite.check_parity(case, {"lse": out["lse"]}, ref)
        assert lse.max_err_over_tol <= FA2_PREFILL_LSE_OVER_TOL, (case.case_id, lse.worst[:2])
        out = {"out": out["out"]}
    parity = suite.check_parity(case, out, ref)
    assert parity.verdict == "pass", (backend, case.case_id, parity.max_abs_err, parity.worst[:2])
    assert (launch.plan_us is None) == (backend in NO_PLAN)
    warm = ColdL2Plan("off", "off", False, 1, 2, False, 0)
    timing = run_timing(launch, lambda graph: warm, device=DEV, graph=True, warmup=1, iters=3)
    if backend == "cudnn" and timing.timer != TIMER_GRAPH:  # the runner then times it with events, and says so
        pytest.xfail(f"cuDNN call not capturable in a CUDA graph: {timing.notes}")
    assert timing.timer == TIMER_GRAPH and not timing.notes, timing.notes


@pytest.mark.parametrize("backend", ["flashinfer-fa2", "flashinfer-fa2-tc", "flashinfer-fa3", "trtllm-xqa", "cudnn",
                                     "torch-sdpa"])
@pytest.mark.parametrize("layout", ["HND", "NHD"])
def test_decode_backends_match_the_reference(backend, layout):
    _check("decode", backend, 3, "llama-3-8b", kv_len="50", kv_dist="random", kv_layout=layout)


@pytest.mark.parametrize("backend", ["flashinfer-fa2", "flashinfer-fa2-tc", "trtllm-xqa"])
def test_decode_split_kv_long_request(backend):
    """One long request: FA2 splits the KV across CTAs and merges (the merge kernel runs)."""
    _check("decode", backend, 1, "llama-3-8b", kv_len="4096")


@pytest.mark.parametrize("backend", ["flashinfer-fa2", "flashinfer-fa3", "cudnn", "torch-sdpa"])
def test_prefill_backends_match_the_reference(backend):
    _check("prefill", backend, 40, "llama-3-8b", batch="2", kv_dist="random")


@pytest.mark.parametrize("backend", ["flashinfer-fa2", "flashinfer-fa3"])
@pytest.mark.parametrize("page_size", ["1", "64"])
def test_mla_backends_match_the_reference(backend, page_size):
    _check("mla", backend, 2, "deepseek-v3", kv_len="100", kv_dist="random", page_size=page_size)


@pytest.mark.parametrize("backend", ["trtllm-xqa", "flashinfer-fa2-tc", "flashinfer-fa3"])
def test_gpt_oss_decode_with_sinks_and_window(backend):
    _check("decode", backend, 2, "gpt-oss-120b", kv_len="300", window="128")


@pytest.mark.parametrize("backend", ["flashinfer-fa2", "flashinfer-fa3"])
def test_gpt_oss_prefill_with_sinks_and_window(backend):
    _check("prefill", backend, 200, "gpt-oss-120b", batch="2", window="128")
