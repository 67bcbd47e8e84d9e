"""Activation suite: gated activations of an MLP, ``act(x[:, :d]) * x[:, d:]``; sizes = tokens.

Inputs: x [tokens, 2*d] in the case dtype (gate half first, as FlashInfer's
``flashinfer.activation.<act>_and_mul`` reads it). Output: out [tokens, d], case dtype.
``d`` is the preset's dense MLP intermediate size (``--dim`` to override).

Ops: silu_and_mul (SwiGLU: silu(g) = g * sigmoid(g)), gelu_and_mul (GeGLU, exact erf GELU),
gelu_tanh_and_mul (GELU's tanh approximation, Hendrycks & Gimpel 2016:
0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))).
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import torch
import torch.nn.functional as F

from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Suite, Work
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

OPS = ("silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul")
FLOP_PER_OUTPUT = {"silu_and_mul": 5, "gelu_and_mul": 6, "gelu_tanh_and_mul": 10}
"""FLOP per output element, a transcendental (exp, erf, tanh) counted as one, plus the
gating multiply: silu g/(1+exp(-g)) = 4; gelu 0.5 g (1 + erf(g/sqrt 2)) = 5; gelu_tanh
0.5 g (1 + tanh(c (g + 0.044715 g^3))) = 9."""

_TORCH_ACT = {
    "silu_and_mul": F.silu,
    "gelu_and_mul": F.gelu,
    "gelu_tanh_and_mul": lambda g: F.gelu(g, approximate="tanh"),
}


def activation_work(op: str, tokens: int, dim: int, elem: int) -> Work:
    """FLOP/byte model: x read once (tokens x 2d), out written once (tokens x d), FLOP per
    output element from :data:`FLOP_PER_OUTPUT`. Memory-bound: SOL by bandwidth."""
    return Work(flop=float(FLOP_PER_OUTPUT[op] * tokens * dim), bytes_read=tokens * 2 * dim * elem,
                bytes_written=tokens * dim * elem)


def act_and_mul_reference(op: str, x: torch.Tensor) -> torch.Tensor:
    """act(gate) * up in fp32 (gate = first half of the last dim), one rounding to x's dtype."""
    g, up = x.float().chunk(2, dim=-1)
    return (_TORCH_ACT[op](g) * up).to(x.dtype)


class TorchActivation(Backend):
    """Reference: torch ops in fp32, one final rounding."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: torch ops in fp32, one final rounding"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("activation"):
                    return {"out": act_and_mul_reference(case.op, t["x"])}
            return call
        return Launch({"x": inputs.tensors["x"]}, bind)


def _jit_spec(act: str):
    from flashinfer.jit.activation import gen_act_and_mul_module

    return gen_act_and_mul_module(act)


def silu_spec():
    """JitSpec of FlashInfer's ``silu_and_mul`` module (flashinfer/jit/activation.py)."""
    return _jit_spec("silu")


def gelu_spec():
    """JitSpec of FlashInfer's ``gelu_and_mul`` module."""
    return _jit_spec("gelu")


def gelu_tanh_spec():
    """JitSpec of FlashInfer's ``gelu_tanh_and_mul`` module."""
    return _jit_spec("gelu_tanh")


class FlashInferActivation(Backend):
    """flashinfer.activation.<op> writing into a preallocated output (PDL left at
    FlashInfer's default: on for SM >= 9.0). Each op is its own JIT module (~3-8 s)."""

    name: ClassVar[str] = "flashinfer"
    description: ClassVar[str] = "flashinfer.activation.silu_and_mul / gelu_and_mul / gelu_tanh_and_mul"
    needs: ClassVar[Needs] = Needs(
        cuda=True, min_cc=(8, 0), modules=("flashinfer.activation",), dtypes=("bf16", "fp16"),
        jit=(JitNeed("silu_and_mul", "fibench.suites.activation:silu_spec", 8),
             JitNeed("gelu_and_mul", "fibench.suites.activation:gelu_spec", 8),
             JitNeed("gelu_tanh_and_mul", "fibench.suites.activation:gelu_tanh_spec", 8)))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import flashinfer.activation as fi_act

        fn = getattr(fi_act, case.op)

        def bind(t: Mapping[str, torch.Tensor]):
            out = torch.empty(*t["x"].shape[:-1], t["x"].shape[-1] // 2, dtype=t["x"].dtype, device=t["x"].device)

            def call() -> Outputs:
                fn(t["x"], out=out)
                return {"out": out}
            return call
        return Launch({"x": inputs.tensors["x"]}, bind, detail=f"flashinfer.activation.{case.op}")


class ActivationSuite(Suite):
    """Gated MLP activations over [tokens, 2*d]."""

    name: ClassVar[str] = "activation"
    description: ClassVar[str] = "gated activations: silu_and_mul, gelu_and_mul, gelu_tanh_and_mul"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("dim", int, "output width d (input is 2*d: gate then up)", preset="ffn_intermediate", minimum=1),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (TorchActivation, FlashInferActivation)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"
    cpu_default_model: ClassVar[str | None] = "small"

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        tokens, dim = case.size, case.params["dim"]
        gen = torch.Generator(device=device).manual_seed(case.seed)
        x = (torch.randn(tokens, 2 * dim, generator=gen, device=device) * 2.0).to(case.torch_dtype)
        elem = torch.empty((), dtype=case.torch_dtype).element_size()
        return Inputs({"x": x}, activation_work(case.op, tokens, dim, elem))
