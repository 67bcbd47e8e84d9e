"""What the FlashInfer-based attention backends share: the workspace, the host-side page
table plan() takes, the timed plan step, and the device checks the kernels need.

``plan()`` is given the host arrays (indptr, last-page lengths, KV lengths) as CPU tensors and
the page indices on the GPU: the arrangement in which FlashInfer's plan needs no device
synchronisation (it copies the host arrays to the device asynchronously and schedules on the
host; flashinfer/decode.py and prefill.py ``plan``). Its host time is ``plan_us``; the first
call also loads or JIT-compiles the kernel module and is reported apart (``plan_first_s``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from fibench.suites.attention.inputs import Shape
from fibench.suites.base import Inputs, Launch, Outputs

WORKSPACE_BYTES = 128 * 1024 * 1024
"""FlashInfer's recommended float workspace (split-KV partial results; XQA semaphores and
scratch): ``BatchDecodeWithPagedKVCacheWrapper`` docstring, "The recommended size is 128MB"."""
PLAN_REPEATS = 10
"""plan() calls timed after the first; plan_us is their median."""


def workspace(device: torch.device) -> torch.Tensor:
    """A zeroed workspace of WORKSPACE_BYTES (FlashInfer requires zeros before first use)."""
    return torch.zeros(WORKSPACE_BYTES, dtype=torch.uint8, device=device)


@dataclass(frozen=True)
class HostTable:
    """Host (CPU, int32) copies of a case's page-table arrays, for plan().

    Attributes:
        qo_indptr, kv_indptr: [B+1]; kv_last_page_len, kv_lens: [B].
    """

    qo_indptr: torch.Tensor
    kv_indptr: torch.Tensor
    kv_last_page_len: torch.Tensor
    kv_lens: torch.Tensor

    @classmethod
    def of(cls, inputs: Inputs) -> "HostTable":
        """Copy the arrays from ``inputs`` (one device sync, in prepare)."""
        t = inputs.tensors

        def host(name: str) -> torch.Tensor:
            return t[name].to("cpu", dtype=torch.int32)

        return cls(host("qo_indptr"), host("kv_indptr"),
                   host("kv_last_page_len") if "kv_last_page_len" in t else torch.empty(0, dtype=torch.int32),
                   host("kv_lens"))


def timed_plan(plan: Callable[[], None], device: torch.device, repeats: int = PLAN_REPEATS) -> tuple[float, float]:
    """Run ``plan`` once (module load / JIT), then ``repeats`` more times, each timed on the
    host with the device idle before it.

    Returns:
        (seconds of the first call, median microseconds of the others). The last call's
        plan stays in effect.
    """
    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        plan()
        return time.perf_counter() - t0

    first_s = once()
    return first_s, statistics.median(once() for _ in range(repeats)) * 1e6


def planned_launch(run: Callable[[Mapping[str, torch.Tensor], torch.Tensor, torch.Tensor], None],
                   plan: Callable[[], None], reads: dict[str, torch.Tensor], *, like: str, detail: str) -> Launch:
    """Launch of a wrapper that plans once and writes ``out`` (shaped like ``reads[like]``) and
    an fp32 ``lse`` (its first two dims) on every call.

    Args:
        run: ``run(tensors, out, lse)`` calls the wrapper on one set of (possibly rotated) reads.
        plan: the wrapper's plan step; timed here (:func:`timed_plan`), outside every call.
    """
    first_s, plan_us = timed_plan(plan, reads[like].device)

    def bind(r: Mapping[str, torch.Tensor]) -> Callable[[], Outputs]:
        out = torch.empty_like(r[like])
        lse = torch.empty(r[like].shape[:2], dtype=torch.float32, device=r[like].device)

        def call() -> Outputs:
            run(r, out, lse)
            return {"out": out, "lse": lse}
        return call

    return Launch(reads, bind, plan_us=plan_us, plan_first_s=first_s,
                  detail=f"{detail}; LSE returned; page table held by the plan (not rotated)")


def sink_wrapper(ws: torch.Tensor, layout: str, backend: str, head_dim: int, window_left: int,
                 dtype: torch.dtype) -> Any:
    """``flashinfer.BatchAttentionWithAttentionSinkWrapper``: the FA2/FA3 paged-prefill kernel
    with the AttentionSink variant (flashinfer/attention/_core.py). The plain decode and
    prefill wrappers accept ``sinks`` but read them on trtllm-gen only (flashinfer/decode.py
    and prefill.py ``run``), so sink cases go through this wrapper."""
    import flashinfer

    return flashinfer.BatchAttentionWithAttentionSinkWrapper(
        ws, layout, backend=backend, q_data_type=dtype, kv_data_type=dtype, head_dim_qk=head_dim,
        head_dim_vo=head_dim, window_left=window_left)


def paged_wrapper_launch(wrapper: Any, plan: Callable[[], None], t: Mapping[str, torch.Tensor], shape: Shape, *,
                         detail: str) -> Launch:
    """:func:`planned_launch` of FlashInfer's paged decode/prefill wrappers: reads q, the K/V
    caches (and the sink logits with ``shape.sinks``), calls ``wrapper.run`` with softmax
    scale 1/sqrt(head_dim) (the sink wrapper takes the sink logits and the scale as extra
    positional arguments)."""
    sm_scale = shape.head_dim ** -0.5

    def run(r: Mapping[str, torch.Tensor], out: torch.Tensor, lse: torch.Tensor) -> None:
        extra = (r["sinks"], sm_scale) if shape.sinks else ()
        wrapper.run(r["q"], (r["k_cache"], r["v_cache"]), *extra, out=out, lse=lse, return_lse=True)

    names = ["q", "k_cache", "v_cache"] + (["sinks"] if shape.sinks else [])
    return planned_launch(run, plan, {k: t[k] for k in names}, like="q", detail=detail)


def prefill_plan(wrapper: Any, host: HostTable, t: Mapping[str, torch.Tensor], shape: Shape,
                 dtype: torch.dtype) -> Callable[[], None]:
    """The ``plan()`` of a batch-prefill-style wrapper (plain or sink) over ``host``'s page
    table, with the shape's mask (causal, window) and ``dtype`` for q and KV."""
    def plan() -> None:
        wrapper.plan(host.qo_indptr, host.kv_indptr, t["kv_indices"], host.kv_last_page_len, shape.q_heads,
                     shape.kv_heads, shape.head_dim, shape.page_size, causal=shape.causal,
                     window_left=shape.window_left, q_data_type=dtype, kv_data_type=dtype)
    return plan


def compute_capability_major() -> int | None:
    """Major compute capability of the current CUDA device, None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability()[0]


def sm_arch_reason(what: str, majors: tuple[int, ...], source: str) -> str | None:
    """Why kernels built only for some GPU generations cannot run here (None when they can,
    or when there is no GPU: the CUDA need reports that)."""
    major = compute_capability_major()
    if major is None or major in majors:
        return None
    names = "/".join(f"SM{m}x" for m in majors)
    return f"{what} runs on {names} only ({source}); this GPU is SM{major}x"
