"""Norm suite: rmsnorm and fused_add_rmsnorm; sizes = rows.

Inputs: x [rows, hidden], residual [rows, hidden] (fused_add only), weight [hidden], all in
the case dtype; eps = 1e-6.

rmsnorm:           out = x / sqrt(mean(x^2) + eps) * weight
fused_add_rmsnorm: residual <- x + residual; x <- residual / sqrt(mean(residual^2) + eps) * weight
                   (in place, returns nothing; FlashInfer's flashinfer/norm semantics: the
                   sum is kept in fp32 for the normalisation and stored rounded in residual)
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import torch

from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Suite, Work
from fibench.suites.trtllm_backends import TrtllmRmsNorm
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

EPS = 1e-6
OPS = ("rmsnorm", "fused_add_rmsnorm")


def norm_work(op: str, rows: int, hidden: int, elem: int) -> Work:
    """FLOP/byte model: every element read once, every output written once.

    rmsnorm reads x and weight, writes out; 4 FLOP per element (square, sum, scale,
    weight). fused_add_rmsnorm also reads residual, writes residual and x; 5 FLOP per
    element (plus the add).
    """
    n = rows * hidden
    if op == "rmsnorm":
        return Work(flop=4.0 * n, bytes_read=(n + hidden) * elem, bytes_written=n * elem)
    return Work(flop=5.0 * n, bytes_read=(2 * n + hidden) * elem, bytes_written=2 * n * elem)


def rmsnorm_fp32(v: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """RMSNorm of fp32 rows ``v`` [rows, hidden] with ``weight`` [hidden] (any float dtype),
    in fp32: ``v / sqrt(mean(v^2) + EPS) * weight``."""
    return v * torch.rsqrt(v.pow(2).mean(dim=-1, keepdim=True) + EPS) * weight.float()


class TorchNorm(Backend):
    """Reference: fp32 math, one rounding to the case dtype at the end (in place for
    fused_add_rmsnorm, like FlashInfer)."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: torch ops in fp32, one final rounding"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        dtype = case.torch_dtype
        if case.op == "rmsnorm":
            def bind(t: Mapping[str, torch.Tensor]):
                def call() -> Outputs:
                    with op_range("rmsnorm"):
                        return {"out": rmsnorm_fp32(t["x"].float(), t["weight"]).to(dtype)}
                return call
            return Launch({k: inputs.tensors[k] for k in ("x", "weight")}, bind)

        def bind_fused(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("add"):
                    s = t["x"].float() + t["residual"].float()
                    t["residual"].copy_(s)
                with op_range("rmsnorm"):
                    t["x"].copy_(rmsnorm_fp32(s, t["weight"]))
                return {"out": t["x"], "residual": t["residual"]}
            return call

        reads = {"x": inputs.tensors["x"].clone(), "residual": inputs.tensors["residual"].clone(),
                 "weight": inputs.tensors["weight"]}
        return Launch(reads, bind_fused, mutates=("x", "residual"))


class FlashInferNorm(Backend):
    """flashinfer.norm.rmsnorm / fused_add_rmsnorm.

    FlashInfer 0.6 runs a CuTe-DSL kernel when nvidia-cutlass-dsl imports and its CUDA JIT
    kernel otherwise (flashinfer/norm/__init__.py ``_USE_CUDA_NORM``); the row's detail
    says which one ran.
    """

    name: ClassVar[str] = "flashinfer"
    description: ClassVar[str] = "flashinfer.norm.rmsnorm / fused_add_rmsnorm"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(7, 5), modules=("flashinfer.norm",),
                                   dtypes=("bf16", "fp16"),
                                   jit=(JitNeed("norm", "flashinfer.jit.norm:gen_norm_module", 20),))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import flashinfer.norm as fi_norm

        impl = "cuda-jit" if getattr(fi_norm, "_USE_CUDA_NORM", True) else "cute-dsl"
        detail = f"implementation {impl} (flashinfer.norm._USE_CUDA_NORM={getattr(fi_norm, '_USE_CUDA_NORM', '?')})"
        if case.op == "rmsnorm":
            def bind(t: Mapping[str, torch.Tensor]):
                out = torch.empty_like(t["x"])

                def call() -> Outputs:
                    fi_norm.rmsnorm(t["x"], t["weight"], EPS, out=out)
                    return {"out": out}
                return call
            return Launch({k: inputs.tensors[k] for k in ("x", "weight")}, bind, detail=detail)

        def bind_fused(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                fi_norm.fused_add_rmsnorm(t["x"], t["residual"], t["weight"], EPS)
                return {"out": t["x"], "residual": t["residual"]}
            return call

        reads = {"x": inputs.tensors["x"].clone(), "residual": inputs.tensors["residual"].clone(),
                 "weight": inputs.tensors["weight"]}
        return Launch(reads, bind_fused, mutates=("x", "residual"), detail=detail)


class NormSuite(Suite):
    """RMSNorm kernels over [rows, hidden]."""

    name: ClassVar[str] = "norm"
    description: ClassVar[str] = "rmsnorm and fused_add_rmsnorm (in place)"
    size_name: ClassVar[str] = "rows"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("hidden", int, "hidden size (elements per row)", preset="hidden", minimum=1),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (TorchNorm, FlashInferNorm, TrtllmRmsNorm)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        rows, hidden = case.size, case.params["hidden"]
        gen = torch.Generator(device=device).manual_seed(case.seed)
        dtype = case.torch_dtype
        tensors = {
            "x": torch.randn(rows, hidden, generator=gen, device=device).to(dtype),
            "weight": (1.0 + 0.1 * torch.randn(hidden, generator=gen, device=device)).to(dtype),
        }
        if case.op == "fused_add_rmsnorm":
            tensors["residual"] = torch.randn(rows, hidden, generator=gen, device=device).to(dtype)
        elem = torch.empty((), dtype=dtype).element_size()
        return Inputs(tensors, norm_work(case.op, rows, hidden, elem))
