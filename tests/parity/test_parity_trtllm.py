"""TensorRT-LLM backends on a CPU: the argument mapping (shapes, weight layout, dtypes,
schema), unsupported rows without TensorRT-LLM, and the thin backends run end to end
against stand-in ops registered with TensorRT-LLM 1.2's argument names."""

import contextlib
import dataclasses
import sys
import types
from typing import List, Optional

import pytest
import torch
import torch.nn.functional as F

from fibench.parity.metrics import compare
from fibench.suites import get_suite
from fibench.suites.needs import check_needs
from fibench.suites.norm import TorchNorm
from fibench.suites.trtllm_backends import (OUTPUT_DTYPES, TrtllmMoe, TrtllmRmsNorm, fused_moe_kwargs,
                                            group_rmsnorm_args, rmsnorm_unsupported, schema_arguments)
from fibench.sweep.config import build_cases

SCHEMA_12 = ("input", "token_selected_experts", "token_final_scales", "fc1_expert_weights", "fc1_expert_biases",
             "fc2_expert_weights", "fc2_expert_biases", "output_dtype", "quant_scales", "input_sf", "tp_size",
             "tp_rank", "ep_size", "ep_rank")


@torch.library.custom_op("fibench_test::fused_moe", mutates_args=())
def stand_in_fused_moe(input: torch.Tensor, token_selected_experts: torch.Tensor, token_final_scales: torch.Tensor,
                       fc1_expert_weights: torch.Tensor, fc1_expert_biases: Optional[torch.Tensor],
                       fc2_expert_weights: torch.Tensor, fc2_expert_biases: Optional[torch.Tensor],
                       output_dtype: torch.dtype, quant_scales: List[torch.Tensor], input_sf: Optional[torch.Tensor] = None,
                       tp_size: int = 1, tp_rank: int = 0, ep_size: int = 1, ep_rank: int = 0) -> List[torch.Tensor]:
    """Stand-in with the 1.2 argument names: the routed SwiGLU MoE on w3_w1 [E, 2I, H]
    (rows [0, I) up, [I, 2I) gate), experts [rank * E, (rank + 1) * E) local."""
    local, two_i, _ = fc1_expert_weights.shape
    inter = two_i // 2
    out = torch.zeros(input.shape, dtype=torch.float32)
    for t in range(input.shape[0]):
        for k in range(token_selected_experts.shape[1]):
            e = int(token_selected_experts[t, k]) - ep_rank * local
            if 0 <= e < local:
                h = fc1_expert_weights[e].float() @ input[t].float()
                act = (F.silu(h[inter:]) * h[:inter]).to(output_dtype).float()
                out[t] += float(token_final_scales[t, k]) * (fc2_expert_weights[e].float() @ act)
    return [out.to(output_dtype)]


@torch.library.custom_op("fibench_test::group_rms_norm_base", mutates_args=("outputs",))
def stand_in_group_rms_norm(inputs: List[torch.Tensor], outputs: List[torch.Tensor], weights: List[torch.Tensor],
                            eps: float, weight_bias: float) -> None:
    """Stand-in with groupRMSNormBase's arguments: out = x * rsqrt(mean(x^2) + eps) * (w + bias)."""
    for x, o, w in zip(inputs, outputs, weights):
        v = x.float()
        o.copy_(v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps) * (w.float() + weight_bias))


@pytest.fixture
def fake_trtllm(monkeypatch):
    """tensorrt_llm importable as empty modules and torch.ops.trtllm pointing at the stand-ins."""
    tuned = []

    @contextlib.contextmanager
    def autotune(tune_mode=True):
        tuned.append(tune_mode)
        yield

    for name in ("tensorrt_llm", "tensorrt_llm._torch", "tensorrt_llm._torch.custom_ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "tensorrt_llm._torch.autotuner",
                        types.SimpleNamespace(autotune=autotune))
    monkeypatch.setattr(torch.ops, "trtllm", torch.ops.fibench_test, raising=False)
    return tuned


def _moe_case(size=3, **axes):
    suite = get_suite("moe")
    cases, _ = build_cases(suite, [size], "bf16", 0, ["moe"], "small", axes)
    return suite, cases[0]


def _moe_tensors(tokens=3, experts=4, hidden=8, inter=6, top_k=2, dtype=torch.bfloat16):
    g = torch.Generator().manual_seed(0)
    return {"x": torch.randn(tokens, hidden, generator=g).to(dtype),
            "topk_ids": torch.randint(0, experts, (tokens, top_k), generator=g, dtype=torch.int32),
            "topk_weights": torch.rand(tokens, top_k, generator=g),
            "w1": torch.randn(experts, 2 * inter, hidden, generator=g).to(dtype),
            "w2": torch.randn(experts, hidden, inter, generator=g).to(dtype)}


def test_fused_moe_kwargs_map_the_suite_layout():
    t = _moe_tensors()
    kw = fused_moe_kwargs(t, output_dtype=torch.bfloat16, ep_size=2, schema=SCHEMA_12)
    assert kw["input"] is t["x"] and kw["fc1_expert_weights"] is t["w1"] and kw["fc2_expert_weights"] is t["w2"]
    assert kw["token_selected_experts"] is t["topk_ids"] and kw["token_final_scales"] is t["topk_weights"]
    assert (kw["ep_size"], kw["ep_rank"], kw["tp_size"], kw["tp_rank"]) == (2, 0, 1, 0)
    assert kw["quant_scales"] == [] and kw["fc1_expert_biases"] is None and kw["fc2_expert_biases"] is None
    assert "input_sf" not in kw  # optional arguments keep TensorRT-LLM's defaults
    older = tuple(a for a in SCHEMA_12 if "bias" not in a)  # 1.0-era schema: no biases
    assert "fc1_expert_biases" not in fused_moe_kwargs(t, output_dtype=torch.bfloat16, ep_size=1, schema=older)
    assert OUTPUT_DTYPES == {"bf16": torch.bfloat16, "fp16": torch.float16}


@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(w2=t["w2"].transpose(1, 2).contiguous()), "w3_w1 \\[E, 2I, H\\] and w2 \\[E, H, I\\]"),
    (lambda t: t.update(w1=t["w1"][:, :-1]), "w3_w1 \\[E, 2I, H\\]"),
    (lambda t: t.update(topk_ids=t["topk_ids"].long()), "int32 expert ids"),
    (lambda t: t.update(topk_weights=t["topk_weights"].double()), "float32 scales"),
    (lambda t: t.update(x=t["x"].half()), "torch.bfloat16 activations/weights"),
    (lambda t: t.update(topk_ids=t["topk_ids"][:2]), "routing \\[T, K\\]"),
])
def test_fused_moe_kwargs_refuse_what_the_op_does_not_take(change, message):
    t = _moe_tensors()
    change(t)
    with pytest.raises(ValueError, match=message):
        fused_moe_kwargs(t, output_dtype=torch.bfloat16, ep_size=1, schema=SCHEMA_12)


def test_fused_moe_kwargs_name_missing_schema_arguments():
    with pytest.raises(ValueError, match="has no argument quant_scales, ep_rank"):
        fused_moe_kwargs(_moe_tensors(), output_dtype=torch.bfloat16, ep_size=1,
                         schema=tuple(a for a in SCHEMA_12 if a not in ("quant_scales", "ep_rank")))


def test_schema_arguments_read_a_registered_op():
    assert schema_arguments(torch.ops.fibench_test.fused_moe) == SCHEMA_12


def test_group_rmsnorm_args_and_vector_width():
    x = torch.randn(3, 16, dtype=torch.bfloat16)
    w = torch.ones(16, dtype=torch.bfloat16)
    out = torch.empty_like(x)
    inputs, outputs, weights, eps, bias = group_rmsnorm_args(x, w, out, 1e-6)
    assert inputs[0] is x and outputs[0] is out and weights[0] is w and (eps, bias) == (1e-6, 0.0)
    with pytest.raises(ValueError, match="one dtype"):
        group_rmsnorm_args(x, w.float(), out, 1e-6)
    with pytest.raises(ValueError, match="weight \\[hidden\\]"):
        group_rmsnorm_args(x, w[:8], out, 1e-6)
    # 16-byte vectors: 8 bf16, 4 fp32 elements
    assert rmsnorm_unsupported(4096, torch.bfloat16) is None and rmsnorm_unsupported(12, torch.float32) is None
    assert "multiple of 16, got 12" in rmsnorm_unsupported(12, torch.bfloat16)


def test_without_tensorrt_llm_the_backends_are_unsupported_with_the_reason():
    if any(m == "tensorrt_llm" for m in sys.modules):
        pytest.skip("tensorrt_llm is importable here")
    for backend in (TrtllmMoe, TrtllmRmsNorm):
        assert check_needs(backend.needs, torch.device("cpu")).reason == "needs a CUDA GPU (this run is on the CPU)"
        importable = dataclasses.replace(backend.needs, cuda=False, min_cc=None)  # as if on a GPU host
        assert check_needs(importable, torch.device("cpu")).reason == (
            "python module 'tensorrt_llm._torch.custom_ops' is not installed")


def test_rmsnorm_backend_refuses_fused_add_and_odd_hidden():
    suite = get_suite("norm")
    fused, _ = build_cases(suite, [4], "bf16", 0, ["fused_add_rmsnorm"], "llama-3-8b", {})
    assert "calls FlashInfer's fused_add_rmsnorm" in TrtllmRmsNorm().unsupported_reason(fused[0])
    odd, _ = build_cases(suite, [4], "bf16", 0, ["rmsnorm"], "llama-3-8b", {"hidden": "12"})
    assert "multiple of 16" in TrtllmRmsNorm().unsupported_reason(odd[0])


def test_moe_backend_end_to_end_with_a_stand_in_op(fake_trtllm):
    suite, case = _moe_case(size=3)
    inputs = suite.make_inputs(case, torch.device("cpu"))
    launch = TrtllmMoe().prepare(case, inputs)
    with launch.first_call_context():
        out = launch.bind(launch.reads)()
    assert fake_trtllm == [True]  # the first call ran under TensorRT-LLM's autotuner
    ref = suite.backends["torch"]().prepare(case, inputs)
    result = compare(out, ref.bind(ref.reads)())
    assert out["out"].shape == (3, case.params["hidden"]) and result.verdict == "pass", result


def test_rmsnorm_backend_end_to_end_with_a_stand_in_op(fake_trtllm):
    suite = get_suite("norm")
    cases, _ = build_cases(suite, [3], "bf16", 0, ["rmsnorm"], "llama-3-8b", {"hidden": "64"})
    inputs = suite.make_inputs(cases[0], torch.device("cpu"))
    launch = TrtllmRmsNorm().prepare(cases[0], inputs)
    out = launch.bind(launch.reads)()
    ref = TorchNorm().prepare(cases[0], inputs)
    assert compare(out, ref.bind(ref.reads)()).bitwise_equal_frac == 1.0  # fp32 math, one rounding, like the reference
