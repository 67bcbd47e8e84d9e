"""All-reduce suite: sizes = tokens; each rank of a run on several GPUs (``--gpus N``) holds
a [tokens, hidden] buffer (hidden from the preset; llama-3-70b: 8192), as after the
row-parallel linear of a tensor-parallel layer.

Ops:
  allreduce:             out = sum over ranks r of x_r
  allreduce_add_rmsnorm: s = sum_r x_r; residual_out = s + residual;
                         out = residual_out / sqrt(mean(residual_out^2) + eps) * weight
                         (TensorRT-LLM's kARResidualRMSNorm pattern; eps = 1e-6)

Inputs on rank r of N: x [tokens, hidden] (seeded by the case seed and r), x_all [N, tokens,
hidden] (every rank's x, regenerated on each rank for the reference), residual [tokens,
hidden] and weight [hidden] identical on every rank (replicated, as tensor parallelism keeps
them), all in the case dtype.

Reference (``torch``): the sum of x_all in fp32 on each rank, without communication, then
the residual add and RMSNorm in fp32 (fp32 outputs; parity rounds them to the candidate's
dtype for the bit-level metrics). Its time is local math, not a collective: its rows get no
bandwidth.

Cold L2 defaults to ``off``: a serving engine all-reduces the output its previous GEMM has
just written, and nccl-tests (the usual point of comparison) times warm buffers; ``--cold-l2
rotate`` is honoured up to 1024 collectives per graph (fibench.distributed.collective).

The byte model counts this rank's local reads and writes (inputs, outputs); the traffic
between GPUs is the bus bandwidth of each row (nccl-tests' algbw/busbw, fibench.distributed.busbw).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Mapping

import torch
import torch.distributed as dist

from fibench.distributed.group import current_group
from fibench.suites.collective import CollectiveSuite
from fibench.suites.allreduce_trtllm import FUSED, TrtllmAllReduce, release_workspace
from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Work, op_only_reason
from fibench.suites.norm import EPS, norm_work, rmsnorm_fp32
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

OPS = ("allreduce", "allreduce_add_rmsnorm")


def allreduce_work(op: str, tokens: int, hidden: int, elem: int, world_size: int) -> Work:
    """Local FLOP/byte model of one rank: (N-1) adds per element; reads x (and residual,
    weight), writes out (and residual_out); the RMSNorm adds 5 FLOP per element as in the
    norm suite."""
    n = tokens * hidden
    flop = float((world_size - 1) * n)
    if op == FUSED:
        norm = norm_work("fused_add_rmsnorm", tokens, hidden, elem)
        return dataclasses.replace(norm, flop=flop + norm.flop)
    return Work(flop=flop, bytes_read=n * elem, bytes_written=n * elem)


class TorchAllReduce(Backend):
    """Reference: fp32 sum of every rank's input computed locally, fp32 add and RMSNorm."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: fp32 sum of every rank's input on each rank (no communication)"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        names = ("x_all", "residual", "weight") if case.op == FUSED else ("x_all",)

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("sum"):
                    s = t["x_all"].float().sum(dim=0)
                if case.op != FUSED:
                    return {"out": s}
                with op_range("add"):
                    s = s + t["residual"].float()
                with op_range("rmsnorm"):
                    return {"out": rmsnorm_fp32(s, t["weight"]), "residual": s}
            return call
        return Launch({k: inputs.tensors[k] for k in names}, bind)


class _InPlaceAllReduce(Backend):
    """torch.distributed.all_reduce in place on a clone of x (and, for the fused op, the
    residual add and RMSNorm that :meth:`_norm` does)."""

    process_group: ClassVar[str] = ""

    def unsupported_reason(self, case: Case) -> str | None:
        backend = current_group().backend
        if backend != self.process_group:
            return f"needs a {self.process_group} process group (this run's is {backend})"
        return super().unsupported_reason(case)

    def _norm(self, t: Mapping[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        fused = case.op == FUSED
        reads = {"x": inputs.tensors["x"].clone()}
        if fused:
            reads.update(residual=inputs.tensors["residual"].clone(), weight=inputs.tensors["weight"])

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("allreduce"):
                    dist.all_reduce(t["x"])
                if not fused:
                    return {"out": t["x"]}
                self._norm(t)
                return {"out": t["x"], "residual": t["residual"]}
            return call
        return Launch(reads, bind, mutates=("x", "residual") if fused else ("x",),
                      detail=f"torch.distributed.all_reduce over {self.process_group}")


class GlooAllReduce(_InPlaceAllReduce):
    """CPU smoke path of the suite: all_reduce over gloo on CPU tensors; the fused op adds
    the residual and normalises in fp32 (one rounding per output). Says nothing about GPUs."""

    name: ClassVar[str] = "gloo"
    description: ClassVar[str] = ("torch.distributed.all_reduce over gloo on the CPU "
                                  "(smoke test; fused op: fp32 add + RMSNorm)")
    process_group: ClassVar[str] = "gloo"

    def _norm(self, t: Mapping[str, torch.Tensor]) -> None:
        with op_range("add_rmsnorm"):
            s = t["x"].float() + t["residual"].float()
            t["residual"].copy_(s)
            t["x"].copy_(rmsnorm_fp32(s, t["weight"]))


class NcclAllReduce(_InPlaceAllReduce):
    """torch.distributed.all_reduce over NCCL (in place; NVLS off, see fibench.distributed.env)."""

    name: ClassVar[str] = "nccl"
    description: ClassVar[str] = "torch.distributed.all_reduce over NCCL (NVLink multicast off)"
    needs: ClassVar[Needs] = Needs(cuda=True)
    process_group: ClassVar[str] = "nccl"

    def unsupported_reason(self, case: Case) -> str | None:
        return op_only_reason("allreduce", case) or super().unsupported_reason(case)


class NcclRmsnorm(_InPlaceAllReduce):
    """What an engine runs without fusion: NCCL all-reduce, then FlashInfer's
    fused_add_rmsnorm (residual += x; x = rmsnorm(residual), in place)."""

    name: ClassVar[str] = "nccl+rmsnorm"
    description: ClassVar[str] = "NCCL all-reduce, then flashinfer.norm.fused_add_rmsnorm (unfused engine path)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(7, 5), modules=("flashinfer.norm",), dtypes=("bf16", "fp16"),
                                   jit=(JitNeed("norm", "flashinfer.jit.norm:gen_norm_module", 20),))
    process_group: ClassVar[str] = "nccl"

    def unsupported_reason(self, case: Case) -> str | None:
        return op_only_reason(FUSED, case) or super().unsupported_reason(case)

    def _norm(self, t: Mapping[str, torch.Tensor]) -> None:
        import flashinfer.norm as fi_norm

        with op_range("add_rmsnorm"):
            fi_norm.fused_add_rmsnorm(t["x"], t["residual"], t["weight"], EPS)


class AllReduceSuite(CollectiveSuite):
    """All-reduce and all-reduce + residual add + RMSNorm across the ranks of a run."""

    name: ClassVar[str] = "allreduce"
    description: ClassVar[str] = "all-reduce, and all-reduce + residual add + RMSNorm, across GPUs (--gpus N)"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("hidden", int, "hidden size (elements per token)", preset="hidden", minimum=1),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {
        b.name: b for b in (TorchAllReduce, NcclAllReduce, NcclRmsnorm, TrtllmAllReduce, GlooAllReduce)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-70b"
    default_baseline: ClassVar[str | None] = "nccl"
    default_cold_l2: ClassVar[str] = "off"

    def finish(self) -> None:
        """Free the TensorRT-LLM all-reduce workspace (a collective call)."""
        release_workspace()

    def collective_bytes(self, case: Case) -> int:
        """One rank's buffer: tokens x hidden elements of the case dtype."""
        return case.size * case.params["hidden"] * torch.empty((), dtype=case.torch_dtype).element_size()

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        tokens, hidden = case.size, case.params["hidden"]
        group = current_group()
        dtype = case.torch_dtype

        def randn(*shape: int, seed: int) -> torch.Tensor:
            gen = torch.Generator(device=device).manual_seed(seed)
            return torch.randn(*shape, generator=gen, device=device)

        x_all = torch.stack([randn(tokens, hidden, seed=case.seed * 1000 + 1 + r) for r in range(group.world_size)])
        tensors = {"x_all": x_all.to(dtype), "residual": randn(tokens, hidden, seed=case.seed * 1000).to(dtype),
                   "weight": (1.0 + 0.1 * randn(hidden, seed=case.seed * 1000 + 999)).to(dtype)}
        tensors["x"] = tensors["x_all"][group.rank]
        elem = torch.empty((), dtype=dtype).element_size()
        info = {"world_size": group.world_size, "rank": group.rank, "bytes_per_rank": self.collective_bytes(case)}
        return Inputs(tensors, allreduce_work(case.op, tokens, hidden, elem, group.world_size), info)
