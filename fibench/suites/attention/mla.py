"""MLA suite: DeepSeek multi-head latent attention decode with the up-projections absorbed;
sizes = batch (requests, one query token each).

Every query head attends over one shared latent cache row per token: ckv (kv_lora_rank C,
512) and kpe (qk_rope_head_dim R, 64). Inputs (:func:`fibench.suites.attention.inputs.mla_inputs`):
q_nope [B, H, C], q_pe [B, H, R] (q already multiplied by the absorbed W_UK), ckv_cache
[P, page, C], kpe_cache [P, page, R] and the page table. Outputs: out [B, H, C] in latent
space (W_UV is absorbed into the output projection), lse [B, H] fp32 base 2.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch

from fibench.errors import UsageError
from fibench.suites.attention import axes as ax
from fibench.suites.attention.decode_backends import FA3_ARCH
from fibench.suites.attention.inputs import lengths, mla_inputs, mla_sm_scale
from fibench.suites.attention.paging import gather_request
from fibench.suites.attention.planning import HostTable, planned_launch, sm_arch_reason, workspace
from fibench.suites.attention.reference import mla_fp32
from fibench.suites.attention.suite import AttentionSuite
from fibench.suites.attention.work import mla_work
from fibench.suites.base import Backend, Case, Inputs, Launch, Needs, Outputs
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

_READS = ("q_nope", "q_pe", "ckv_cache", "kpe_cache", "kv_indices")


class TorchMla(Backend):
    """Reference: per request, gather the latent pages and apply the absorbed formula in fp32
    (:func:`fibench.suites.attention.reference.mla_fp32`); one final rounding of the output."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: absorbed MLA per request in fp32"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        dtype, scale, kv_lens = case.torch_dtype, mla_sm_scale(case.params), inputs.info["kv_lens"]
        pages = inputs.tensors["kv_indptr"].tolist()

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("gather"):  # one range per step, not per request: ranges cost the trace
                    lat = [(gather_request(t["ckv_cache"], t["kv_indices"][pages[b]:pages[b + 1]], n, "NHD"),
                            gather_request(t["kpe_cache"], t["kv_indices"][pages[b]:pages[b + 1]], n, "NHD"))
                           for b, n in enumerate(kv_lens)]
                with op_range("attention"):
                    res = [mla_fp32(t["q_nope"][b:b + 1], t["q_pe"][b:b + 1], ckv, kpe, scale)
                           for b, (ckv, kpe) in enumerate(lat)]
                with op_range("output"):
                    return {"out": torch.cat([o for o, _ in res]).to(dtype), "lse": torch.cat([lse for _, lse in res])}
            return call

        return Launch({k: inputs.tensors[k] for k in _READS}, bind, detail="fp32 per-request loop")


class FlashInferMla(Backend):
    """``flashinfer.mla.BatchMLAPagedAttentionWrapper`` (FA2): plan once, run per call with
    LSE. Split-KV partial results are merged inside the same persistent kernel
    (DevicePersistentMergeStates in flashinfer/attention/mla.cuh), so there is no merge kernel."""

    name: ClassVar[str] = "flashinfer-fa2"
    description: ClassVar[str] = "flashinfer BatchMLAPagedAttentionWrapper, FA2"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("flashinfer.mla",), dtypes=("bf16", "fp16"))
    fi_backend: ClassVar[str] = "fa2"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        from flashinfer.mla import BatchMLAPagedAttentionWrapper

        p, dtype, t = case.params, case.torch_dtype, inputs.tensors
        host = HostTable.of(inputs)
        wrapper = BatchMLAPagedAttentionWrapper(workspace(t["q_nope"].device), backend=self.fi_backend)

        def plan() -> None:
            wrapper.plan(host.qo_indptr, host.kv_indptr, t["kv_indices"], host.kv_lens, p["q_heads"],
                         p["kv_lora_rank"], p["qk_rope_head_dim"], p["page_size"], False, mla_sm_scale(p), dtype, dtype)

        def run(r: Mapping[str, torch.Tensor], out: torch.Tensor, lse: torch.Tensor) -> None:
            wrapper.run(r["q_nope"], r["q_pe"], r["ckv_cache"], r["kpe_cache"], out=out, lse=lse, return_lse=True)

        return planned_launch(run, plan, {k: t[k] for k in _READS[:4]}, like="q_nope",
                              detail=f"BatchMLAPagedAttentionWrapper(backend={self.fi_backend})")


class FlashInferMlaFA3(FlashInferMla):
    """FA3 (Hopper) MLA kernel (flashinfer/attention/mla_hopper.cuh)."""

    name: ClassVar[str] = "flashinfer-fa3"
    description: ClassVar[str] = "flashinfer BatchMLAPagedAttentionWrapper, FA3 (SM90)"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(9, 0), modules=("flashinfer.mla",), dtypes=("bf16", "fp16"))
    fi_backend: ClassVar[str] = "fa3"

    def unsupported_reason(self, case: Case) -> str | None:
        return sm_arch_reason("FA3 MLA", *FA3_ARCH) or super().unsupported_reason(case)


class MlaSuite(AttentionSuite):
    """Absorbed MLA decode over a paged latent cache."""

    name: ClassVar[str] = "mla"
    description: ClassVar[str] = "DeepSeek MLA decode (absorbed, paged latent cache): FlashInfer FA2/FA3"
    size_name: ClassVar[str] = "batch"
    ops: ClassVar[tuple[str, ...]] = ("mla",)
    axes: ClassVar[tuple[Axis, ...]] = (ax.KV_LEN, ax.MLA_PAGE_SIZE, ax.KV_DIST, ax.Q_HEADS, ax.KV_LORA_RANK,
                                        ax.QK_ROPE, ax.QK_NOPE)
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (TorchMla, FlashInferMla, FlashInferMlaFA3)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "deepseek-v3"

    def check_preset(self, preset: Any) -> None:
        """Raises UsageError for a preset without MLA dimensions."""
        if not preset.is_mla:
            raise UsageError(f"preset '{preset.name}' has no MLA dimensions; the mla suite needs an MLA model "
                             "(deepseek-v3)")

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        p = case.params
        kv_lens = lengths(case, case.size, p["kv_len"])
        tensors, info = mla_inputs(case, device, kv_lens)
        elem = torch.empty((), dtype=case.torch_dtype).element_size()
        work = mla_work(kv_lens, heads=p["q_heads"], kv_lora_rank=p["kv_lora_rank"], rope_dim=p["qk_rope_head_dim"],
                        elem_bytes=elem)
        return Inputs(tensors, work, info)
