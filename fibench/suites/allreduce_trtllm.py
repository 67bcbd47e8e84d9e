"""``flashinfer-trtllm-ar``: FlashInfer's TensorRT-LLM all-reduce fusion (FlashInfer 0.6.13,
flashinfer/comm/trtllm_ar.py), plain (pattern kAllReduce) and with the residual add and
RMSNorm (kARResidualRMSNorm), one kernel per call.

Workspace (``trtllm_create_ipc_workspace_for_all_reduce_fusion``): every rank allocates a
buffer of N x tokens x hidden x 2 bytes, N x 256 int32 barrier flags and a Lamport buffer of
3 x N x tokens x hidden x 2 bytes (x 4 in fp32; at most ~2 GiB per copy), through torch's
CUDA symmetric memory (cuMemCreate + POSIX file-descriptor exchange, flashinfer/comm/
torch_symmetric_memory.py); peers' buffers are mapped over NVLink/PCIe P2P. With
TORCH_SYMM_MEM_DISABLE_MULTICAST=1 (set for every rank, fibench.distributed.env) the rendezvous
creates no multicast object; the fusion kernels use plain P2P loads and stores (no multimem
instructions in flashinfer/data/include/flashinfer/comm/trtllm_allreduce_fusion.cuh). The
unified ``create_allreduce_fusion_workspace(backend="auto")`` is not used: it may pick the
MNNVL backend, which does create multicast objects.

One workspace is kept per process and grown (power of two >= 128 tokens) when a case needs
more; creating one is a collective call, made by every rank for the same case.

Call settings follow the unified API's defaults (flashinfer/comm/allreduce.py
``allreduce_fusion``): launch_with_pdl=False, trigger_completion_at_end=True, one-shot or
two-shot by FlashInfer's heuristic (``_should_use_oneshot``), except fp32_acc=True as
engines use it; the row's detail records them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch

from fibench.distributed.group import current_group
from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs
from fibench.suites.norm import EPS

FUSED = "allreduce_add_rmsnorm"
WORLD_SIZES = (2, 4, 8, 16)
"""Rank counts the fusion kernel is built for (allreduce_fusion_op's switch on nranks)."""
MAX_COMM_BYTES = 2147483647 & ~((1 << 21) - 1)
"""FlashInfer's MAX_COMM_SIZE: a Lamport copy is clamped to this many bytes."""


def workspace_tokens(tokens: int) -> int:
    """Token capacity of the workspace made for ``tokens``: a power of two, at least 128."""
    return max(128, 1 << (max(tokens, 1) - 1).bit_length())


def workspace_bytes(world_size: int, tokens: int, hidden: int, elem: int) -> int:
    """Bytes one rank allocates for a workspace of ``tokens`` capacity (FlashInfer 0.6.13
    trtllm_create_ipc_workspace_for_all_reduce_fusion: buffer + flags + 3 Lamport copies;
    ``elem`` 4 for fp32 Lamport buffers, else 2)."""
    buffer = world_size * tokens * hidden * 2
    flags = world_size * 256 * 4
    lamport = min(world_size * tokens * hidden * elem, MAX_COMM_BYTES)
    return buffer + flags + 3 * lamport


@dataclass
class Workspace:
    """A live workspace: capacity, the IPC pointers, the pointer tensor the kernel reads."""

    key: tuple[int, int, torch.dtype]
    max_tokens: int
    ipc_handles: Any
    pointers: torch.Tensor
    metadata: dict[str, Any]


_WORKSPACE: list[Workspace] = []


def release_workspace() -> None:
    """Free the process's workspace; every rank calls it together (a barrier first, so no
    peer still reads this rank's buffers)."""
    if not _WORKSPACE:
        return
    import torch.distributed as dist
    from flashinfer.comm import trtllm_ar

    while _WORKSPACE:
        ws = _WORKSPACE.pop()
        torch.cuda.synchronize()
        dist.barrier()
        trtllm_ar.trtllm_destroy_ipc_workspace_for_all_reduce_fusion(ws.ipc_handles)


def workspace_for(tokens: int, hidden: int, dtype: torch.dtype) -> Workspace:
    """The workspace for ``tokens`` x ``hidden`` of ``dtype`` on this process's group,
    reusing the live one when it is large enough; a collective call."""
    from flashinfer.comm import trtllm_ar

    group = current_group()
    key = (group.world_size, hidden, dtype)
    if _WORKSPACE and _WORKSPACE[0].key == key and _WORKSPACE[0].max_tokens >= tokens:
        return _WORKSPACE[0]
    release_workspace()
    cap = workspace_tokens(tokens)
    ipc, pointers, metadata = trtllm_ar.trtllm_create_ipc_workspace_for_all_reduce_fusion(
        tp_rank=group.rank, tp_size=group.world_size, max_token_num=cap, hidden_dim=hidden,
        use_fp32_lamport=dtype == torch.float32, create_metadata=True)
    _WORKSPACE.append(Workspace(key, cap, ipc, pointers, metadata))
    return _WORKSPACE[0]


class TrtllmAllReduce(Backend):
    """flashinfer.comm.trtllm_allreduce_fusion: all-reduce (+ residual add + RMSNorm) in one
    kernel over a P2P workspace (see the module docstring).

    Needs: 2, 4, 8 or 16 ranks, P2P access between every pair of the ranks' GPUs, and free
    memory for the workspace (:func:`workspace_bytes`).
    """

    name: ClassVar[str] = "flashinfer-trtllm-ar"
    description: ClassVar[str] = ("flashinfer.comm.trtllm_allreduce_fusion (TensorRT-LLM all-reduce fusion; "
                                  "2/4/8/16 GPUs with P2P; workspace ~4 x N x tokens x hidden x 2 B)")
    needs: ClassVar[Needs] = Needs(
        cuda=True, min_cc=(9, 0), modules=("flashinfer.comm",),
        jit=(JitNeed("trtllm_comm", "flashinfer.jit.comm:gen_trtllm_comm_module", 140),))

    def unsupported_reason(self, case: Case) -> str | None:
        reason = super().unsupported_reason(case)
        group = current_group()
        gpus = group.cuda_indices
        if reason or not gpus:
            return reason  # no GPU: the needs check says so
        if group.world_size not in WORLD_SIZES:
            return f"needs {'/'.join(map(str, WORLD_SIZES))} ranks, this run has {group.world_size}"
        major = torch.cuda.get_device_capability(gpus[group.rank])[0]
        if major not in (9, 10):
            return (f"FlashInfer builds trtllm_comm for SM 9.x/10.x only (flashinfer/jit/comm.py), "
                    f"this GPU is SM {major}.x")
        no_p2p = [(a, b) for a in gpus for b in gpus if a != b and not torch.cuda.can_device_access_peer(a, b)]
        if no_p2p:
            return f"needs P2P access between the ranks' GPUs; GPU {no_p2p[0][0]} cannot reach GPU {no_p2p[0][1]}"
        return self._memory_reason(case, group.world_size, gpus[group.rank])

    @staticmethod
    def _memory_reason(case: Case, world_size: int, device: int) -> str | None:
        tokens, hidden, dtype = case.size, case.params["hidden"], case.torch_dtype
        live = _WORKSPACE[0] if _WORKSPACE else None
        if live and live.key == (world_size, hidden, dtype) and live.max_tokens >= tokens:
            return None
        need = workspace_bytes(world_size, workspace_tokens(tokens), hidden, 4 if dtype == torch.float32 else 2)
        free = torch.cuda.mem_get_info(device)[0]
        if need > 0.5 * free:
            return f"workspace needs {need / 2**30:.2f} GiB per GPU, {free / 2**30:.1f} GiB free"
        return None

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.comm import trtllm_ar

        group = current_group()
        tokens, hidden, dtype = case.size, case.params["hidden"], case.torch_dtype
        t0 = time.perf_counter()
        trtllm_ar.get_trtllm_comm_module()  # JIT build or load before any collective
        load_s = time.perf_counter() - t0
        ws = workspace_for(tokens, hidden, dtype)
        fused = case.op == FUSED
        pattern = (trtllm_ar.AllReduceFusionPattern.kARResidualRMSNorm if fused
                   else trtllm_ar.AllReduceFusionPattern.kAllReduce)
        heuristic = getattr(trtllm_ar, "_should_use_oneshot", None)  # private: for the detail only
        shot = ("one" if heuristic(tokens, hidden, dtype, group.world_size) else "two") if heuristic else "?"
        names = ("x", "residual", "weight") if fused else ("x",)

        def bind(t: Mapping[str, torch.Tensor]):
            out = torch.empty_like(t["x"])
            residual_out = torch.empty_like(t["x"]) if fused else None

            def call() -> Outputs:
                trtllm_ar.trtllm_allreduce_fusion(
                    allreduce_in=t["x"], world_size=group.world_size, world_rank=group.rank, token_num=tokens,
                    hidden_dim=hidden, workspace_ptrs=ws.pointers, launch_with_pdl=False,
                    trigger_completion_at_end=True, fp32_acc=True, pattern_code=pattern, use_oneshot=None,
                    allreduce_out=None if fused else out, residual_in=t["residual"] if fused else None,
                    residual_out=residual_out, norm_out=out if fused else None, quant_out=None, scale_out=None,
                    rms_gamma=t["weight"] if fused else None, rms_eps=EPS if fused else None,
                    scale_factor=None, layout_code=None, metadata=ws.metadata)
                return {"out": out, "residual": residual_out} if fused else {"out": out}
            return call

        detail = (f"pattern {'kARResidualRMSNorm' if fused else 'kAllReduce'}, {shot}-shot "
                  f"(FlashInfer heuristic), fp32_acc, no PDL; workspace {ws.max_tokens} tokens; "
                  f"trtllm_comm module ready in {load_s:.1f} s")
        return Launch({k: inputs.tensors[k] for k in names}, bind, detail=detail)
