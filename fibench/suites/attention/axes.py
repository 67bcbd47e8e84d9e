"""The attention suites' axes (options of ``fibench run decode|prefill|mla``), declared once."""

from __future__ import annotations

from fibench.suites.attention.paging import KV_DISTS
from fibench.sweep.axes import Axis

KV_LAYOUTS = ("HND", "NHD")

KV_LEN = Axis("kv_len", int, "mean KV tokens per request", default=[1024], swept=True, minimum=1, unit="tokens")
PAGE_SIZE = Axis("page_size", int, "tokens per KV-cache page", default=16, swept=True, minimum=1, unit="tokens")
MLA_PAGE_SIZE = Axis("page_size", int, "tokens per latent-cache page", default=64, swept=True, minimum=1,
                     unit="tokens")
KV_DIST = Axis("kv_dist", str, "request lengths: all equal to the mean (uniform) or drawn from the seed around it "
               "(random; uniform on [1, 2 x mean - 1], same total)", default="uniform", swept=True,
               choices=KV_DISTS)
KV_LAYOUT = Axis("kv_layout", str, "KV page layout: HND = (page, kv head, token, dim), TensorRT-LLM's, read by every "
                 "backend; NHD = (page, token, kv head, dim), vLLM/SGLang's FlashInfer layout", default="HND",
                 choices=KV_LAYOUTS)
Q_HEADS = Axis("q_heads", int, "query heads (per GPU: divide by the tensor-parallel size)", preset="q_heads", minimum=1)
KV_HEADS = Axis("kv_heads", int, "KV heads (GQA groups)", preset="kv_heads", minimum=1)
HEAD_DIM = Axis("head_dim", int, "elements per head", preset="head_dim", minimum=1)
WINDOW = Axis("window", int, "sliding-window size, 0 = full attention (gpt-oss uses 128 on every other layer)",
              default=0, minimum=0, unit="tokens")
SINKS = Axis("sinks", bool, "one learned attention-sink logit per query head in the softmax denominator (gpt-oss)",
             default=False, preset="attn_sinks")
CAUSAL = Axis("causal", bool, "causal mask (query i sees keys up to its own position)", default=True)
BATCH = Axis("batch", int, "requests per batch", default=[1], swept=True, minimum=1)
KV_LORA_RANK = Axis("kv_lora_rank", int, "compressed KV width C (MLA)", preset="kv_lora_rank", minimum=1)
QK_ROPE = Axis("qk_rope_head_dim", int, "RoPE part R of q/k (MLA)", preset="qk_rope_head_dim", minimum=1)
QK_NOPE = Axis("qk_nope_head_dim", int, "non-RoPE q/k width before absorption; sets sm_scale = 1/sqrt(nope + rope)",
               preset="qk_nope_head_dim", minimum=1)
