"""Activation and RoPE suites on the CPU: references against naive formulas, FLOP/byte
models, the Llama-3.1 frequency scaling against FlashInfer's kernel formula, in-place semantics."""

import math

import pytest
import torch

from fibench.errors import UsageError
from fibench.suites import activation, rope
from fibench.sweep.config import resolve_run
from fibench.sweep.runner import call_once


@pytest.mark.parametrize("op, act", [
    ("silu_and_mul", lambda g: g / (1 + math.exp(-g))),
    ("gelu_and_mul", lambda g: 0.5 * g * (1 + math.erf(g / math.sqrt(2)))),
    ("gelu_tanh_and_mul", lambda g: 0.5 * g * (1 + math.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))),
])
def test_activation_reference_matches_the_formula(op, act):
    x = torch.tensor([[-2.0, 0.5, 3.0, 1.5, -1.0, 2.0]])  # gate [-2, .5, 3], up [1.5, -1, 2]
    out = activation.act_and_mul_reference(op, x)
    expect = [act(g) * u for g, u in zip([-2.0, 0.5, 3.0], [1.5, -1.0, 2.0])]
    assert out[0].tolist() == pytest.approx(expect, rel=1e-5)  # fp32 math


def test_activation_work_and_cpu_run():
    w = activation.activation_work("gelu_tanh_and_mul", tokens=3, dim=8, elem=2)
    assert (w.flop, w.bytes_read, w.bytes_written) == ((9 + 1) * 3 * 8, 3 * 16 * 2, 3 * 8 * 2)  # + gating multiply
    cfg = resolve_run("activation", "5", device="cpu", ops="silu_and_mul", axes={"dim": 32})
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    out = call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device)["out"]
    assert out.shape == (5, 32) and out.dtype == torch.bfloat16
    with pytest.raises(UsageError, match="--dim is required and preset 'deepseek-v3' has no ffn_intermediate"):
        resolve_run("activation", "5", model="deepseek-v3", device="cpu")


def _kernel_llama31_freq(d, theta, factor, low, high, old_len):
    """pos_enc.cuh's formula: smooth = clamp(f * a + b, 0, 1), f' = (1 - s) f / factor + s f."""
    a = old_len / (2 * math.pi * high - 2 * math.pi * low)
    b = -1.0 / (high / low - 1.0)
    out = []
    for i in range(d // 2):
        f = (1 / theta) ** (2 * i / d)
        s = min(1.0, max(0.0, f * a + b))
        out.append((1 - s) * f / factor + s * f)
    return out


def test_llama31_scaling_equals_the_kernel_formula_and_changes_low_frequencies():
    f = rope.inv_freq(128, 500000.0, rope.LLAMA31_SCALING)
    assert f.tolist() == pytest.approx(_kernel_llama31_freq(128, 500000.0, *rope.LLAMA31_SCALING), rel=1e-12)
    plain = rope.inv_freq(128, 500000.0, None)
    assert f[0] == plain[0] and f[-1] == pytest.approx(plain[-1] / 8)  # high freq kept, low freq / factor


def _rotate_complex(x, pos, freq, d):
    """Rotation as a complex product on (x_i, x_{i+d/2}) pairs: independent of rope.rotate."""
    xf = x.double().view(x.shape[0], -1, d)
    z = torch.complex(xf[..., : d // 2], xf[..., d // 2:])
    z = z * torch.polar(torch.ones_like(freq), pos.double()[:, None] * freq)[:, None, :]
    return torch.cat([z.real, z.imag], dim=-1).reshape(x.shape)


@pytest.mark.parametrize("op", rope.OPS)
def test_rope_reference_matches_complex_rotation(op):
    cfg = resolve_run("rope", "7", model="llama-3.1-8b", device="cpu", ops=op,
                      axes={"q_heads": 2, "kv_heads": 1, "max_pos": 9000})
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    t = inputs.tensors
    out = call_once(cfg.suite.backends["torch"]().prepare(case, inputs), cfg.device)
    freq = rope.inv_freq(128, 500000.0, rope.LLAMA31_SCALING)
    for name in ("q", "k"):
        expect = _rotate_complex(t[name], t["positions"], freq, 128)
        assert (out[name].double() - expect).abs().max() < 2e-2  # bf16 rounding of O(3) values
        assert (out[name] == expect.to(out[name].dtype)).double().mean() > 0.99  # the same bf16 value
    if op == "rope_cos_sin_cache_inplace":  # pristine inputs untouched, the launch's own copies rotated
        assert not torch.equal(out["q"], t["q"])


def test_rope_work_model_and_option_errors():
    w = rope.rope_work(tokens=4, q_heads=2, kv_heads=1, head_dim=8, elem=2, cache_rows=3)
    assert (w.flop, w.bytes_read, w.bytes_written) == (3 * 4 * 3 * 8, 4 * 3 * 8 * 2 + 4 * 8 + 3 * 8 * 4, 4 * 3 * 8 * 2)
    cfg = resolve_run("rope", "64", device="cpu", ops="rope_cos_sin_cache", axes={"max_pos": 16})
    inputs = cfg.suite.make_inputs(cfg.cases[0], cfg.device)
    assert inputs.work.bytes_read == rope.rope_work(64, 4, 2, 64, 2, inputs.info["distinct_positions"]).bytes_read
    assert inputs.info["distinct_positions"] <= 16
    with pytest.raises(UsageError, match="--head-dim must be even"):
        resolve_run("rope", "4", device="cpu", axes={"head_dim": 63})
    with pytest.raises(UsageError, match="--kv-heads is required and preset 'deepseek-v3' has no kv_heads"):
        resolve_run("rope", "4", model="deepseek-v3", device="cpu")
