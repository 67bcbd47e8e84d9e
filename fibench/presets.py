"""Model presets: the shape parameters of real models, so sweeps use real shapes.

Sources (model cards / config.json on Hugging Face, as collected in DESIGN.md):
DeepSeek-V3/R1 (hidden 7168, moe_intermediate 2048, 256 routed experts, top-8, grouped
routing with 8 groups / top-4 groups, routed_scaling_factor 2.5, plus 1 shared expert),
Qwen3-30B-A3B (2048, 768, 128, top-8), Mixtral-8x7B (4096, 14336, 8, top-2),
gpt-oss-120b (2880, 2880, 128, top-4), Llama-3-8B (hidden 4096, 32 q / 8 kv heads, head
dim 128), Llama-3-70B (hidden 8192, 64 q / 8 kv heads, head dim 128).

Attention shapes (fields ``q_heads`` ... ``attn_sinks``, used by the decode, prefill and mla
suites), from the models' published configurations:
- DeepSeek-V3/R1: 128 attention heads, MLA with kv_lora_rank 512, qk_rope_head_dim 64,
  qk_nope_head_dim 128 (config.json of deepseek-ai/DeepSeek-V3; the same values are the
  defaults of vLLM's DeepseekV3Config, vllm/transformers_utils/configs/deepseek_v3.py).
- Qwen3-30B-A3B: 32 query heads, 4 KV heads, head dim 128 (Qwen/Qwen3-30B-A3B config.json:
  num_attention_heads 32, num_key_value_heads 4, head_dim 128; also its GGUF metadata
  attention.head_count 32 / head_count_kv 4 / key_length 128).
- gpt-oss-120b: 64 query heads, 8 KV heads, head dim 64, sliding window of 128 tokens on
  every other layer (layer_types alternates "sliding_attention" / "full_attention") and a
  learned attention-sink logit per head (``self_attn.sinks``): openai/gpt-oss-120b
  config.json and transformers' GptOssConfig; NVIDIA Megatron-Bridge model docs (gpt-oss:
  64 query heads, 8 key-value groups, KV channels 64).

Dense-layer and sampler fields (config.json of each model on Hugging Face): vocabulary
(``vocab_size``): Llama-3/3.1 128256, Qwen3 151936, DeepSeek-V3 129280, Mixtral 32000,
gpt-oss 201088; dense MLP ``intermediate_size``: Llama-3(.1)-8B 14336, Llama-3-70B 28672;
RoPE: Llama-3(.1) ``rope_theta`` 500000, Llama-3.1 ``rope_scaling`` {rope_type llama3,
factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192}.
"""

from __future__ import annotations

from dataclasses import dataclass

from fibench.errors import lookup


@dataclass(frozen=True)
class ModelPreset:
    """Shape parameters of one model.

    Attributes:
        name: preset id used on the command line.
        hidden: model hidden size (elements).
        intermediate: per-expert FFN intermediate size for MoE models (elements).
        experts: number of routed experts (0 for dense models).
        top_k: experts selected per token.
        routing: "softmax-topk" (softmax over all experts, top-k, renormalise) or
            "deepseek-grouped" (sigmoid scores + bias, group top-2 sums, top groups,
            then top-k; DeepSeek-V3 technical report, section 2.1.2).
        n_group, topk_group: expert groups and groups kept (deepseek-grouped only).
        routed_scaling: multiplier applied to routing weights (DeepSeek-V3: 2.5).
        shared_experts: shared experts in the model; not part of the routed-MoE kernel
            and not benchmarked by the moe suite (noted in reports).
        q_heads, kv_heads, head_dim: attention shape (query heads, KV heads, elements per
            head); for MLA models q_heads only (their KV is one shared latent vector).
        sliding_window: window (tokens) of the model's sliding-window layers; 0 = none.
            Not applied by default (gpt-oss alternates window and full layers): pass
            ``--window`` to benchmark a window layer.
        attn_sinks: the model has a learned attention-sink logit per query head.
        kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim: MLA dimensions (DeepSeek naming):
            compressed KV width, RoPE part of q/k, non-RoPE part of q/k before absorption
            (it sets the softmax scale 1/sqrt(qk_nope + qk_rope)); 0 = not an MLA model.
        vocab: vocabulary size (the sampler's row length).
        ffn_intermediate: dense MLP intermediate size (the gemm suite's gate_up / down).
        rope_theta: RoPE base (0 = not given).
        rope_scaling: Llama-3.1 RoPE frequency scaling as (factor, low_freq_factor,
            high_freq_factor, original_max_position_embeddings); () = none.
        note: one line shown by ``fibench list``.
    """

    name: str
    hidden: int
    intermediate: int = 0
    experts: int = 0
    top_k: int = 0
    routing: str = "softmax-topk"
    n_group: int = 1
    topk_group: int = 1
    routed_scaling: float = 1.0
    shared_experts: int = 0
    q_heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    sliding_window: int = 0
    attn_sinks: bool = False
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    vocab: int = 0
    ffn_intermediate: int = 0
    rope_theta: float = 0.0
    rope_scaling: tuple[float, float, float, int] | tuple[()] = ()
    note: str = ""

    @property
    def is_moe(self) -> bool:
        """True when the preset has routed experts."""
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        """True when the preset's attention is MLA (a compressed latent KV cache)."""
        return self.kv_lora_rank > 0


PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        ModelPreset(
            "deepseek-v3", hidden=7168, intermediate=2048, experts=256, top_k=8,
            routing="deepseek-grouped", n_group=8, topk_group=4, routed_scaling=2.5,
            shared_experts=1, q_heads=128, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128,
            vocab=129280, note="DeepSeek-V3/R1 routed experts (shared expert not included); MLA attention",
        ),
        ModelPreset("qwen3-30b-a3b", hidden=2048, intermediate=768, experts=128, top_k=8,
                    q_heads=32, kv_heads=4, head_dim=128, vocab=151936, note="Qwen3-30B-A3B"),
        ModelPreset("mixtral-8x7b", hidden=4096, intermediate=14336, experts=8, top_k=2, vocab=32000,
                    note="Mixtral-8x7B"),
        ModelPreset("gpt-oss-120b", hidden=2880, intermediate=2880, experts=128, top_k=4,
                    q_heads=64, kv_heads=8, head_dim=64, sliding_window=128, attn_sinks=True, vocab=201088,
                    note="gpt-oss-120b shapes (released weights: MXFP4, --quant mxfp4); attention sinks, "
                         "128-token window on every other layer"),
        ModelPreset("small", hidden=256, intermediate=128, experts=8, top_k=2, vocab=4096,
                    ffn_intermediate=512, rope_theta=10000.0,
                    q_heads=4, kv_heads=2, head_dim=64, kv_lora_rank=64, qk_rope_head_dim=16, qk_nope_head_dim=32,
                    note="tiny MoE / attention / MLA / dense shapes that run on a CPU in seconds (smoke tests, CI)"),
        ModelPreset("llama-3-8b", hidden=4096, q_heads=32, kv_heads=8, head_dim=128, vocab=128256,
                    ffn_intermediate=14336, rope_theta=500000.0, note="Llama-3-8B (dense)"),
        ModelPreset("llama-3.1-8b", hidden=4096, q_heads=32, kv_heads=8, head_dim=128, vocab=128256,
                    ffn_intermediate=14336, rope_theta=500000.0, rope_scaling=(8.0, 1.0, 4.0, 8192),
                    note="Llama-3.1-8B (dense; Llama-3.1 RoPE scaling)"),
        ModelPreset("llama-3-70b", hidden=8192, q_heads=64, kv_heads=8, head_dim=128, vocab=128256,
                    ffn_intermediate=28672, rope_theta=500000.0, note="Llama-3-70B (dense)"),
    )
}


def get_preset(name: str) -> ModelPreset:
    """Look up a preset by name.

    Raises:
        UsageError: unknown name (the message lists the known ones).
    """
    return lookup(PRESETS, name, "model preset")
