"""RoPE suite: rotary position embedding of the q and k of a batch of tokens; sizes = tokens.

Inputs: q [tokens, q_heads * head_dim], k [tokens, kv_heads * head_dim] (case dtype),
positions [tokens] int64 (uniform in [0, max_pos), a decode batch at mixed lengths),
cos_sin_cache [max_pos, head_dim] float32 (cos in the first half, sin in the second, as
vLLM/SGLang build it; frequencies with the preset's Llama-3.1 scaling when it has one).
Rotation is NeoX-style ("rotate half": pairs (i, i + head_dim/2)) over the whole head.

Ops:
- rope_cos_sin_cache: ``flashinfer.rope.apply_rope_with_cos_sin_cache`` (new q, k);
- rope_cos_sin_cache_inplace: ``apply_rope_with_cos_sin_cache_inplace`` (rotates q and k in
  place: the timer restores them so every timed call sees the same inputs);
- llama31_rope: ``apply_llama31_rope_pos_ids``, cos/sin computed in the kernel from theta and
  the Llama-3.1 scaling (the preset's, else Llama-3.1's published factor 8, low 1, high 4,
  original context 8192).

Llama-3.1 scaling (meta-llama/llama-models ``apply_scaling``; Hugging Face rope_type
"llama3"): with wavelength w = 2 pi / f, f is kept when w < L / high, divided by the factor
when w > L / low, and blended in between with s = (L / w - low) / (high - low):
f' = (1 - s) f / factor + s f (L = original context length).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import torch

from fibench.errors import UsageError
from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Suite, Work
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

OPS = ("rope_cos_sin_cache", "rope_cos_sin_cache_inplace", "llama31_rope")
LLAMA31_SCALING = (8.0, 1.0, 4.0, 8192)
"""(factor, low_freq_factor, high_freq_factor, original_max_position_embeddings) of
Llama-3.1 (config.json rope_scaling), also FlashInfer's apply_llama31_rope defaults."""
FLOP_PER_ELEMENT = 3
"""x cos + rotated x sin: two multiplies and an add per rotated element (the llama31 op's
in-kernel sin/cos and pow are not counted)."""


def inv_freq(head_dim: int, theta: float, scaling: tuple | None) -> torch.Tensor:
    """[head_dim / 2] float64 rotary frequencies theta^(-2i / head_dim), Llama-3.1-scaled
    when ``scaling`` = (factor, low, high, original context) is given (module docstring)."""
    f = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    if not scaling:
        return f
    factor, low, high, old_len = scaling
    wavelen = 2 * math.pi / f
    smooth = (old_len / wavelen - low) / (high - low)
    blended = (1 - smooth) * f / factor + smooth * f
    return torch.where(wavelen < old_len / high, f, torch.where(wavelen > old_len / low, f / factor, blended))


def cos_sin_cache(max_pos: int, head_dim: int, theta: float, scaling: tuple | None,
                  device: torch.device) -> torch.Tensor:
    """[max_pos, head_dim] float32: cos(p f) then sin(p f) (computed in float64)."""
    ang = torch.arange(max_pos, dtype=torch.float64).unsqueeze(1) * inv_freq(head_dim, theta, scaling)
    return torch.cat([ang.cos(), ang.sin()], dim=-1).float().to(device)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, head_dim: int) -> torch.Tensor:
    """NeoX rotation of x [tokens, heads * head_dim] with cos/sin [tokens, head_dim / 2], fp32
    math, rounded once to x's dtype."""
    xf = x.float().view(x.shape[0], -1, head_dim)
    x1, x2 = xf.chunk(2, dim=-1)
    c, s = cos.float().unsqueeze(1), sin.float().unsqueeze(1)
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).reshape(x.shape).to(x.dtype)


def rope_work(tokens: int, q_heads: int, kv_heads: int, head_dim: int, elem: int, cache_rows: int,
              id_bytes: int = 8) -> Work:
    """FLOP/byte model: q and k read and written once, the positions read, and for the cache
    ops each distinct position's cache row (head_dim float32) read once (``cache_rows``)."""
    n = tokens * (q_heads + kv_heads) * head_dim
    return Work(flop=float(FLOP_PER_ELEMENT * n), bytes_read=n * elem + tokens * id_bytes + cache_rows * head_dim * 4,
                bytes_written=n * elem)


def _scaling(case: Case) -> tuple:
    return tuple(case.params.get("rope_scaling") or ()) or (LLAMA31_SCALING if case.op == "llama31_rope" else ())


def _reads(case: Case, inputs: Inputs) -> dict[str, torch.Tensor]:
    t = inputs.tensors
    keys = ("q", "k", "positions") + (("cos_sin_cache",) if case.op != "llama31_rope" else ())
    return {k: (t[k].clone() if case.op == "rope_cos_sin_cache_inplace" and k in ("q", "k") else t[k])
            for k in keys}


def _mutates(case: Case) -> tuple[str, ...]:
    return ("q", "k") if case.op == "rope_cos_sin_cache_inplace" else ()


class TorchRope(Backend):
    """Reference: cos/sin gathered from the cache (cache ops) or computed in float64 from
    the (scaled) frequencies (llama31_rope), rotation in fp32, one rounding; in place for the
    in-place op."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: fp32 rotation, float64 angles for llama31_rope"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        d, half = case.params["head_dim"], case.params["head_dim"] // 2
        freq = inv_freq(d, case.params["rope_theta"], _scaling(case)).to(inputs.tensors["q"].device)

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                with op_range("rope"):
                    if case.op == "llama31_rope":
                        ang = t["positions"].double().unsqueeze(1) * freq
                        cos, sin = ang.cos(), ang.sin()
                    else:
                        rows = t["cos_sin_cache"][t["positions"]]
                        cos, sin = rows[:, :half], rows[:, half:]
                    q, k = rotate(t["q"], cos, sin, d), rotate(t["k"], cos, sin, d)
                    if case.op == "rope_cos_sin_cache_inplace":
                        t["q"].copy_(q)
                        t["k"].copy_(k)
                    return {"q": q, "k": k}
            return call
        return Launch(_reads(case, inputs), bind, mutates=_mutates(case))


class FlashInferRope(Backend):
    """flashinfer.rope: apply_rope_with_cos_sin_cache(_inplace) (is_neox=True) and
    apply_llama31_rope_pos_ids (interleave=False); JIT module ``rope`` (~35 s)."""

    name: ClassVar[str] = "flashinfer"
    description: ClassVar[str] = "flashinfer.rope apply_rope_with_cos_sin_cache(_inplace), apply_llama31_rope_pos_ids"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("flashinfer.rope",), dtypes=("bf16", "fp16"),
                                   jit=(JitNeed("rope", "flashinfer.jit.rope:gen_rope_module", 35),))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        import flashinfer.rope as fi_rope

        d, theta = case.params["head_dim"], case.params["rope_theta"]
        factor, low, high, old_len = _scaling(case) or LLAMA31_SCALING

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                if case.op == "llama31_rope":
                    q, k = fi_rope.apply_llama31_rope_pos_ids(
                        t["q"].view(t["q"].shape[0], -1, d), t["k"].view(t["k"].shape[0], -1, d), t["positions"],
                        rope_scale=factor, rope_theta=theta, low_freq_factor=low, high_freq_factor=high,
                        old_context_len=int(old_len))
                    return {"q": q.reshape(t["q"].shape), "k": k.reshape(t["k"].shape)}
                if case.op == "rope_cos_sin_cache":
                    q, k = fi_rope.apply_rope_with_cos_sin_cache(t["positions"], t["q"], t["k"], d,
                                                                 t["cos_sin_cache"], is_neox=True)
                    return {"q": q, "k": k}
                fi_rope.apply_rope_with_cos_sin_cache_inplace(t["positions"], t["q"], t["k"], d,
                                                              t["cos_sin_cache"], is_neox=True)
                return {"q": t["q"], "k": t["k"]}
            return call
        scaling = f", scaling {(factor, low, high, old_len)}" if case.op == "llama31_rope" else ""
        return Launch(_reads(case, inputs), bind, mutates=_mutates(case),
                      detail=f"flashinfer.rope {case.op}, theta {theta:g}{scaling}")


class RopeSuite(Suite):
    """Rotary position embedding of q and k."""

    name: ClassVar[str] = "rope"
    description: ClassVar[str] = "RoPE: cos/sin cache (out of place, in place) and Llama-3.1 on-the-fly"
    size_name: ClassVar[str] = "tokens"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("q_heads", int, "query heads", preset="q_heads", minimum=1),
        Axis("kv_heads", int, "key/value heads", preset="kv_heads", minimum=1),
        Axis("head_dim", int, "head dimension (rotated in full)", preset="head_dim", minimum=2),
        Axis("rope_theta", float, "RoPE base theta", preset="rope_theta", minimum=1.0),
        Axis("max_pos", int, "positions are drawn uniformly from [0, max_pos); the cache has max_pos rows",
             default=8192, minimum=1),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (TorchRope, FlashInferRope)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3.1-8b"
    cpu_default_model: ClassVar[str | None] = "small"

    def preset_params(self, preset: Any) -> dict[str, Any]:
        return {"rope_scaling": list(preset.rope_scaling)}

    def check_point(self, params: dict[str, Any]) -> None:
        if params["head_dim"] % 2:
            raise UsageError(f"--head-dim must be even (rotation pairs), got {params['head_dim']}")

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        p, tokens, dtype = case.params, case.size, case.torch_dtype
        d = p["head_dim"]
        gen = torch.Generator(device=device).manual_seed(case.seed)
        tensors = {
            "q": torch.randn(tokens, p["q_heads"] * d, generator=gen, device=device).to(dtype),
            "k": torch.randn(tokens, p["kv_heads"] * d, generator=gen, device=device).to(dtype),
            "positions": torch.randint(0, p["max_pos"], (tokens,), generator=gen, device=device),
        }
        distinct = int(torch.unique(tensors["positions"]).numel())
        rows = 0
        if case.op != "llama31_rope":
            tensors["cos_sin_cache"] = cos_sin_cache(p["max_pos"], d, p["rope_theta"], _scaling(case), device)
            rows = distinct
        elem = torch.empty((), dtype=dtype).element_size()
        work = rope_work(tokens, p["q_heads"], p["kv_heads"], d, elem, rows)
        return Inputs(tensors, work, {"distinct_positions": distinct})
