"""Decode backends that call FlashInfer 0.6.13: its FA2 kernels (CUDA cores and tensor cores),
its FA3 kernels (SM90), TensorRT-LLM's XQA kernel as FlashInfer ships it, and cuDNN.

All read the suite's shared tensors (see :mod:`fibench.suites.attention.inputs`); every call
writes into outputs allocated in ``bind``, so the timed call launches only the kernels.
Working calls for each were verified on an H200 by ``fibench audit compat``
(fibench/audit/compat/calls_attention.py; cuDNN needs nvidia-cudnn-frontend installed).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch

from fibench.suites.attention.inputs import Shape
from fibench.suites.attention.planning import (HostTable, paged_wrapper_launch, prefill_plan, sink_wrapper,
                                                sm_arch_reason, workspace)
from fibench.suites.base import Backend, Case, Inputs, Launch, Needs, Outputs

FA3_ARCH = ((9,), "FlashInfer's FA3 kernels are sm_90a code: flashinfer/utils.py is_sm90a_supported")
XQA_ARCH = ((9, 10, 12), "flashinfer/xqa.py xqa")
XQA_PAGE_SIZES = (16, 32, 64, 128)
"""flashinfer/jit/xqa.py gen_xqa_module: "only 16, 32, 64, 128 are supported"."""
CUDA_CORE_GROUPS = (1, 2, 3, 4, 8)
"""Query heads per KV head the CUDA-core decode kernel is instantiated for
(DISPATCH_GQA_GROUP_SIZE in flashinfer/utils.cuh; others raise "Unsupported group_size")."""
XQA_HEAD_DIMS = (64, 128, 256)
"""The fp16/bf16 XQA kernel (csrc/xqa/mha.cu) splits the head into 64-wide warp tiles over a
4-warp CTA: ``gemm1WarpsPerGrp = exactDiv(headElems, 64)`` and ``exactDiv(4, that)``."""


FA3_HEAD_DIMS = (64, 128, 256)
"""FlashInfer's FA3 paged kernels are instantiated for these head dims only
(static_assert in flashinfer/attention/hopper/prefill_sm90.cuh)."""


def fa3_reason(case: Case) -> str | None:
    """Why FlashInfer's FA3 GQA kernels cannot run ``case`` here (None if they can)."""
    if case.params["head_dim"] not in FA3_HEAD_DIMS:
        allowed = "/".join(map(str, FA3_HEAD_DIMS))
        return f"head dim {case.params['head_dim']}: FA3 kernels are built for {allowed} (hopper/prefill_sm90.cuh)"
    return sm_arch_reason("FA3", *FA3_ARCH)


class FlashInferDecode(Backend):
    """``BatchDecodeWithPagedKVCacheWrapper`` (plan once, run per call, LSE returned).

    With ``--sinks`` the tensor-core variants use ``BatchAttentionWithAttentionSinkWrapper``
    (the same FA2/FA3 prefill kernels with the AttentionSink variant, planned with one query
    per request): the decode wrapper accepts ``sinks`` but its FA2/FA3 paths never read them
    (flashinfer/decode.py ``run`` passes them to trtllm-gen only), so using it would silently
    drop the sinks.
    """

    name: ClassVar[str] = "flashinfer-fa2"
    description: ClassVar[str] = "flashinfer BatchDecodeWithPagedKVCacheWrapper, FA2 on CUDA cores"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("flashinfer.decode",), dtypes=("bf16", "fp16"))
    tensor_cores: ClassVar[bool] = False
    fi_backend: ClassVar[str] = "fa2"

    def unsupported_reason(self, case: Case) -> str | None:
        if not self.tensor_cores:
            if case.params.get("sinks"):
                return ("attention sinks: the CUDA-core decode kernel has no sink variant "
                        "(BatchDecodeWithPagedKVCacheWrapper.run ignores sinks off trtllm-gen)")
            group = case.params["q_heads"] // case.params["kv_heads"]
            if group not in CUDA_CORE_GROUPS:
                allowed = "/".join(map(str, CUDA_CORE_GROUPS))
                return f"GQA group {group}: the CUDA-core decode kernel is built for groups {allowed} (utils.cuh)"
        return super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import flashinfer

        shape, dtype, t = Shape.of(case), case.torch_dtype, inputs.tensors
        host = HostTable.of(inputs)
        ws = workspace(t["q"].device)
        if shape.sinks:
            wrapper: Any = sink_wrapper(ws, shape.layout, self.fi_backend, shape.head_dim, shape.window_left, dtype)
            detail = f"BatchAttentionWithAttentionSinkWrapper(backend={self.fi_backend}), one query per request"
            plan = prefill_plan(wrapper, host, t, shape, dtype)  # decode shapes are not causal
        else:
            wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(
                ws, shape.layout, use_tensor_cores=self.tensor_cores, backend=self.fi_backend)
            detail = (f"BatchDecodeWithPagedKVCacheWrapper(use_tensor_cores={self.tensor_cores}, "
                      f"backend={self.fi_backend})")

            def plan() -> None:
                wrapper.plan(host.kv_indptr, t["kv_indices"], host.kv_last_page_len, shape.q_heads, shape.kv_heads,
                             shape.head_dim, shape.page_size, window_left=shape.window_left, q_data_type=dtype,
                             kv_data_type=dtype)

        return paged_wrapper_launch(wrapper, plan, t, shape, detail=f"{detail}, {shape.layout} cache")


class FlashInferDecodeTC(FlashInferDecode):
    """FA2 tensor-core decode: the batch-prefill kernel with one query per request."""

    name: ClassVar[str] = "flashinfer-fa2-tc"
    description: ClassVar[str] = "flashinfer BatchDecodeWithPagedKVCacheWrapper, FA2 on tensor cores"
    tensor_cores: ClassVar[bool] = True


class FlashInferDecodeFA3(FlashInferDecode):
    """FA3 (Hopper wgmma/TMA) tensor-core decode."""

    name: ClassVar[str] = "flashinfer-fa3"
    description: ClassVar[str] = "flashinfer BatchDecodeWithPagedKVCacheWrapper, FA3 (SM90)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(9, 0), modules=("flashinfer.decode",), dtypes=("bf16", "fp16"))
    tensor_cores: ClassVar[bool] = True
    fi_backend: ClassVar[str] = "fa3"

    def unsupported_reason(self, case: Case) -> str | None:
        return fa3_reason(case) or super().unsupported_reason(case)


class TrtllmXqaDecode(Backend):
    """``flashinfer.decode.trtllm_batch_decode_with_kv_cache(backend="xqa")``: TensorRT-LLM's
    XQA decode kernel. No plan step (scheduling happens on the device; split-KV reduction
    runs inside the kernel); no LSE output. Its JIT module is specialised on page size, head
    dim, head-group ratio and sliding window, so each combination compiles once (~10 s)."""

    name: ClassVar[str] = "trtllm-xqa"
    description: ClassVar[str] = "TensorRT-LLM XQA decode kernel (flashinfer trtllm_batch_decode_with_kv_cache, xqa)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(9, 0), modules=("flashinfer.decode",), dtypes=("bf16", "fp16"))

    def unsupported_reason(self, case: Case) -> str | None:
        p = case.params
        if p["page_size"] not in XQA_PAGE_SIZES:
            allowed = "/".join(map(str, XQA_PAGE_SIZES))
            return f"page size {p['page_size']}: XQA supports {allowed} (flashinfer/jit/xqa.py)"
        if p["head_dim"] not in XQA_HEAD_DIMS:
            allowed = "/".join(map(str, XQA_HEAD_DIMS))
            return f"head dim {p['head_dim']}: the bf16/fp16 XQA kernel needs {allowed} (csrc/xqa/mha.cu)"
        return sm_arch_reason("XQA", *XQA_ARCH) or super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.decode import trtllm_batch_decode_with_kv_cache

        shape, t = Shape.of(case), inputs.tensors
        ws = workspace(t["q"].device)
        max_len = max(inputs.info["kv_lens"])
        names = ["q", "k_cache", "v_cache", "block_tables", "kv_lens"] + (["sinks"] if shape.sinks else [])

        def bind(r: Mapping[str, torch.Tensor]):
            out = torch.empty_like(r["q"])

            def call() -> Outputs:
                trtllm_batch_decode_with_kv_cache(
                    r["q"], (r["k_cache"], r["v_cache"]), ws, r["block_tables"], r["kv_lens"], max_len,
                    bmm1_scale=shape.head_dim ** -0.5, bmm2_scale=1.0, window_left=shape.window_left, out=out,
                    sinks=r.get("sinks"), kv_layout=shape.layout, backend="xqa")
                return {"out": out}
            return call

        return Launch({k: t[k] for k in names}, bind,
                      detail=f"xqa, {shape.layout} cache, block table and lengths passed per call; no plan step")


class CudnnDecode(Backend):
    """``flashinfer.decode.cudnn_batch_decode_with_kv_cache`` (cuDNN SDPA with paged K/V).

    Needs the ``cudnn`` Python package (nvidia-cudnn-frontend): without it FlashInfer falls
    back to cuDNN cubins downloaded at first use, which is refused here. The cuDNN graph is
    built and cached on the first call (in the first-call column; no separate plan). Each call
    also fills a ones tensor for the query lengths (flashinfer/cudnn/decode.py). FlashInfer's
    wrapper builds the graph for bf16, contiguous HND pages, no window, no sinks.
    """

    name: ClassVar[str] = "cudnn"
    description: ClassVar[str] = "cuDNN SDPA paged decode (flashinfer cudnn_batch_decode_with_kv_cache)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("cudnn", "flashinfer.decode"), dtypes=("bf16",))

    def unsupported_reason(self, case: Case) -> str | None:
        return cudnn_reason(case) or super().unsupported_reason(case)

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.decode import cudnn_batch_decode_with_kv_cache

        shape, t = Shape.of(case), inputs.tensors
        ws = workspace(t["q"].device)
        batch, max_len = len(inputs.info["kv_lens"]), max(inputs.info["kv_lens"])

        def bind(r: Mapping[str, torch.Tensor]):
            out = torch.empty_like(r["q"])
            lens = r["kv_lens"].view(batch, 1, 1, 1)

            def call() -> Outputs:
                cudnn_batch_decode_with_kv_cache(r["q"], r["k_cache"], r["v_cache"], shape.head_dim ** -0.5, ws,
                                                 max_sequence_kv=max_len, actual_seq_lens_kv=lens,
                                                 block_tables=r["block_tables"], out=out)
                return {"out": out}
            return call

        names = ("q", "k_cache", "v_cache", "block_tables", "kv_lens")
        return Launch({k: t[k] for k in names}, bind, detail="cuDNN SDPA graph (built on first call), HND cache")


def cudnn_reason(case: Case) -> str | None:
    """What FlashInfer's cuDNN attention wrappers cannot express for ``case`` (None if nothing)."""
    p = case.params
    if p.get("kv_layout", "HND") != "HND":
        return "cuDNN path takes contiguous HND pages only (flashinfer/cudnn docstrings)"
    if p.get("window"):
        return "sliding window: FlashInfer's cuDNN wrapper has no window parameter"
    if p.get("sinks"):
        return "attention sinks: FlashInfer's cuDNN wrapper has no sink parameter"
    return None
