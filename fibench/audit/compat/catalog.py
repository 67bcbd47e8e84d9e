"""The probe catalog: one entry per FlashInfer feature path `fibench audit compat` tries.

A probe is data: which family it belongs to, the FlashInfer API it calls, the arch gate
that decides whether it applies, and the names of two small functions (``call`` and
``modules``) in this package's ``calls_*`` modules that run inside the probe subprocess.
Adding a probe is one entry here (plus a small call function when no existing one fits).

This module imports neither torch nor flashinfer, so ``--list`` and option validation
work anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fibench.audit.compat import arch
from fibench.audit.compat.arch import ArchGate
from fibench.errors import UsageError

CALLS_PACKAGE = "fibench.audit.compat"


@dataclass(frozen=True)
class Probe:
    """One probe.

    Attributes:
        name: stable id, ``family.variant`` (``decode.fa3``); used by ``--only``.
        family: feature family as shown in the report.
        api: the FlashInfer call, for people.
        modules_doc: the gen_* JitSpec function(s) / module names it needs, for people.
        call: ``"<module>:<function>"`` under ``fibench.audit.compat.calls_<module>``;
            the function runs the tiny call and returns what it verified.
        modules: ``"<module>:<function>"`` returning the JIT module names the call
            needs, checked before calling (empty: nothing to check).
        kwargs: keyword arguments passed to both functions (e.g. the backend).
        gate: arch gate deciding whether the probe applies to this GPU.
        compile_estimate_s: rough cold-compile time of its modules on 16 cores, seconds
            (DESIGN.md facts where known); with --build a probe whose modules are
            missing and whose estimate exceeds its timeout is not attempted.
    """

    name: str
    family: str
    api: str
    modules_doc: str
    call: str
    modules: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    gate: ArchGate = arch.ANY_FLASHINFER
    compile_estimate_s: float = 60.0


F_DECODE = "paged decode attention"
F_PREFILL = "paged prefill attention"
F_SINK = "attention with sinks"
F_MLA = "MLA (DeepSeek latent attention)"
F_NORM = "RMSNorm"
F_ACT = "activations"
F_ROPE = "RoPE"
F_SAMPLING = "top-k / top-p sampling"
F_MOE = "fused MoE"
F_FP4 = "FP4 quantize"
F_COMM = "allreduce fusion"

_DECODE_MOD = "gen_batch_decode_module (batch_decode_with_kv_cache_dtype_q_bf16_...)"
_PREFILL_MOD = "gen_batch_prefill_module('{b}', ...) (batch_prefill_with_kv_cache_..._{sfx})"
_SINK_MOD = "gen_customize_batch_prefill_module('{b}', uri batch_prefill_attention_sink_bf16_swa_False_{b})"
_MOE_MOD = "gen_cutlass_fused_moe_sm<SM>_module (fused_moe_<SM>, ~180 CUDA files)"

PROBES: tuple[Probe, ...] = (
    Probe("decode.fa2", F_DECODE, "BatchDecodeWithPagedKVCacheWrapper(use_tensor_cores=False)",
          _DECODE_MOD, "attention:decode", "attention:decode_modules",
          {"backend": "fa2", "tensor_cores": False}, compile_estimate_s=6),
    Probe("decode.fa2-tc", F_DECODE, "BatchDecodeWithPagedKVCacheWrapper(use_tensor_cores=True, backend='fa2')",
          _PREFILL_MOD.format(b="fa2", sfx="f16qk_False"), "attention:decode", "attention:decode_modules",
          {"backend": "fa2", "tensor_cores": True}),
    Probe("decode.fa3", F_DECODE, "BatchDecodeWithPagedKVCacheWrapper(use_tensor_cores=True, backend='fa3')",
          _PREFILL_MOD.format(b="fa3", sfx="sm90"), "attention:decode", "attention:decode_modules",
          {"backend": "fa3", "tensor_cores": True}, arch.FA3, 120),
    Probe("decode.xqa", F_DECODE, "trtllm_batch_decode_with_kv_cache(backend='xqa')",
          "gen_xqa_module (xqa_input_bf16_kv_cache_bf16_...)", "attention:xqa_decode",
          "attention:xqa_modules", {}, arch.XQA, 120),
    Probe("decode.trtllm-gen", F_DECODE, "BatchDecodeWithPagedKVCacheWrapper(backend='trtllm-gen')",
          "gen_trtllm_gen_fmha_module (fmha_gen) + downloaded trtllm-gen cubins",
          "attention:decode", "attention:trtllm_modules",
          {"backend": "trtllm-gen", "tensor_cores": False}, arch.TRTLLM_GEN, 60),
    Probe("decode.cute-dsl", F_DECODE, "BatchDecodeWithPagedKVCacheWrapper(backend='cute-dsl')",
          "none (CuTe DSL compiles in-process; needs nvidia-cutlass-dsl)", "attention:decode", "",
          {"backend": "cute-dsl", "tensor_cores": False}, arch.CUTE_DSL_ATTN, 60),
    Probe("decode.cudnn", F_DECODE, "cudnn_batch_decode_with_kv_cache",
          "none with the cudnn Python package (nvidia-cudnn-frontend); else fmha_cudnn_gen + cubins",
          "attention:cudnn_decode", "", {}, arch.CUDNN, 30),
    Probe("prefill.fa2", F_PREFILL, "BatchPrefillWithPagedKVCacheWrapper(backend='fa2')",
          _PREFILL_MOD.format(b="fa2", sfx="f16qk_False"), "attention:prefill", "attention:prefill_modules",
          {"backend": "fa2"}),
    Probe("prefill.fa3", F_PREFILL, "BatchPrefillWithPagedKVCacheWrapper(backend='fa3')",
          _PREFILL_MOD.format(b="fa3", sfx="sm90"), "attention:prefill", "attention:prefill_modules",
          {"backend": "fa3"}, arch.FA3, 120),
    Probe("prefill.trtllm-gen", F_PREFILL, "BatchPrefillWithPagedKVCacheWrapper(backend='trtllm-gen')",
          "gen_trtllm_gen_fmha_module (fmha_gen) + downloaded trtllm-gen cubins",
          "attention:prefill", "attention:trtllm_modules", {"backend": "trtllm-gen"}, arch.TRTLLM_GEN),
    Probe("prefill.cudnn", F_PREFILL, "cudnn_batch_prefill_with_kv_cache",
          "none with the cudnn Python package (nvidia-cudnn-frontend); else fmha_cudnn_gen + cubins",
          "attention:cudnn_prefill", "", {}, arch.CUDNN, 30),
    Probe("sink.fa2", F_SINK, "BatchAttentionWithAttentionSinkWrapper(backend='fa2')",
          _SINK_MOD.format(b="fa2"), "attention:sink", "attention:sink_modules", {"backend": "fa2"}),
    Probe("sink.fa3", F_SINK, "BatchAttentionWithAttentionSinkWrapper(backend='fa3')",
          _SINK_MOD.format(b="fa3"), "attention:sink", "attention:sink_modules", {"backend": "fa3"},
          arch.FA3, 120),
    Probe("sink.xqa", F_SINK, "trtllm_batch_decode_with_kv_cache(backend='xqa', sinks=...)",
          "gen_xqa_module (xqa_input_bf16_kv_cache_bf16_...)", "attention:xqa_decode",
          "attention:xqa_modules", {"sinks": True}, arch.XQA, 120),
    Probe("sink.trtllm-gen", F_SINK, "BatchDecodeWithPagedKVCacheWrapper(backend='trtllm-gen').run(sinks=...)",
          "gen_trtllm_gen_fmha_module (fmha_gen) + downloaded trtllm-gen cubins", "attention:decode",
          "attention:trtllm_modules", {"backend": "trtllm-gen", "tensor_cores": False, "sinks": True},
          arch.TRTLLM_GEN),
    Probe("mla.fa2", F_MLA, "mla.BatchMLAPagedAttentionWrapper(backend='fa2')",
          "gen_batch_mla_module('fa2', ...) (batch_mla_attention_..._profiler_False)",
          "attention:mla", "attention:mla_modules", {"backend": "fa2"}, compile_estimate_s=90),
    Probe("mla.fa3", F_MLA, "mla.BatchMLAPagedAttentionWrapper(backend='fa3')",
          "gen_batch_mla_module('fa3', ...) (batch_mla_attention_..._sm90)",
          "attention:mla", "attention:mla_modules", {"backend": "fa3"}, arch.MLA_FA3, 120),
    Probe("mla.trtllm-gen", F_MLA, "trtllm_batch_decode_with_kv_cache_mla(backend='trtllm-gen')",
          "gen_trtllm_gen_fmha_module (fmha_gen) + downloaded trtllm-gen cubins", "attention:mla_trtllm",
          "attention:trtllm_modules", {}, arch.TRTLLM_GEN),
    Probe("norm.rmsnorm", F_NORM, "norm.rmsnorm", "gen_norm_module (norm) unless the CuTe DSL path is used",
          "ops:rmsnorm", "ops:norm_modules", compile_estimate_s=20),
    Probe("norm.fused_add_rmsnorm", F_NORM, "norm.fused_add_rmsnorm",
          "gen_norm_module (norm) unless the CuTe DSL path is used", "ops:fused_add_rmsnorm",
          "ops:norm_modules", compile_estimate_s=20),
    Probe("act.silu_and_mul", F_ACT, "activation.silu_and_mul", "gen_act_and_mul_module('silu') (silu_and_mul)",
          "ops:act_and_mul", "ops:act_modules", {"act": "silu"}, compile_estimate_s=3),
    Probe("act.gelu_and_mul", F_ACT, "activation.gelu_and_mul", "gen_act_and_mul_module('gelu') (gelu_and_mul)",
          "ops:act_and_mul", "ops:act_modules", {"act": "gelu"}, compile_estimate_s=3),
    Probe("act.gelu_tanh_and_mul", F_ACT, "activation.gelu_tanh_and_mul",
          "gen_act_and_mul_module('gelu_tanh') (gelu_tanh_and_mul)", "ops:act_and_mul", "ops:act_modules",
          {"act": "gelu_tanh"}, compile_estimate_s=3),
    Probe("rope.apply_rope_pos_ids", F_ROPE, "rope.apply_rope_pos_ids", "gen_rope_module (rope)",
          "ops:rope", "ops:rope_modules", compile_estimate_s=30),
    Probe("sampling.top_k_top_p", F_SAMPLING, "sampling.top_k_top_p_sampling_from_probs (top_k_first, joint)",
          "gen_sampling_module (sampling)", "ops:sampling", "ops:sampling_modules", compile_estimate_s=55),
    Probe("moe.bf16", F_MOE, "fused_moe.cutlass_fused_moe (bf16 weights)", _MOE_MOD, "moe:moe_bf16",
          "moe:cutlass_moe_modules", {}, arch.CUTLASS_MOE, 1500),
    Probe("moe.fp8", F_MOE, "fused_moe.cutlass_fused_moe (fp8 e4m3 per-tensor scales)", _MOE_MOD,
          "moe:moe_fp8", "moe:cutlass_moe_modules", {}, arch.CUTLASS_MOE, 1500),
    Probe("moe.fp8-block", F_MOE, "fused_moe.cutlass_fused_moe(use_deepseek_fp8_block_scale=True)", _MOE_MOD,
          "moe:moe_fp8_block", "moe:cutlass_moe_modules", {}, arch.FP8_BLOCK_MOE, 1500),
    Probe("moe.mxfp4-w4a16", F_MOE, "fused_moe.cutlass_fused_moe(use_w4_group_scaling=True), MXFP4 weights",
          _MOE_MOD, "moe:moe_mxfp4_w4a16", "moe:cutlass_moe_modules", {}, arch.W4A16_MOE_SM90, 1500),
    Probe("quant.fp4", F_FP4, "fp4_quantize (NVFP4, sf_vec_size=16)",
          "gen_fp4_quantization_sm<SM>_module (fp4_quantization_<SM>)", "ops:fp4_quantize",
          "ops:fp4_modules", {}, arch.FP4_QUANT, 90),
    Probe("comm.allreduce_fusion", F_COMM,
          "comm.trtllm_ar module load + trtllm_lamport_initialize on one GPU (no collective)",
          "gen_trtllm_comm_module (trtllm_comm)", "moe:allreduce_fusion", "moe:allreduce_modules", {},
          arch.ALLREDUCE_FUSION, 180),
)

FAMILY_ORDER: tuple[str, ...] = (
    F_DECODE, F_PREFILL, F_SINK, F_MLA, F_NORM, F_ACT, F_ROPE, F_SAMPLING, F_MOE, F_FP4, F_COMM,
)


def get_probe(name: str) -> Probe:
    """The probe called ``name``.

    Raises:
        UsageError: no such probe.
    """
    for probe in PROBES:
        if probe.name == name:
            return probe
    raise UsageError(f"unknown probe {name!r}; `fibench audit compat --list` shows them")


def select(only: str | None) -> list[Probe]:
    """Probes selected by ``--only``: comma-separated probe names or family prefixes
    (``decode`` selects every ``decode.*``); all probes for None/empty. Catalog order.

    Raises:
        UsageError: an item matches no probe.
    """
    if not only or not only.strip():
        return list(PROBES)
    wanted = [item.strip() for item in only.split(",") if item.strip()]
    if not wanted:
        raise UsageError("--only is empty; give probe names like decode.fa2,norm.rmsnorm")
    chosen: set[str] = set()
    for item in wanted:
        hits = [p.name for p in PROBES if p.name == item or p.name.split(".")[0] == item]
        if not hits:
            raise UsageError(f"--only: unknown probe {item!r}; `fibench audit compat --list` shows them")
        chosen.update(hits)
    return [p for p in PROBES if p.name in chosen]
