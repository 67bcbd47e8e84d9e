"""Sampling suite: draw one token per row under top-k / top-p / min-p filtering; sizes = batch.

Inputs: logits [batch, vocab] float32 = N(0, 1) x LOGIT_STD (at the Llama-3 vocabulary the
most likely token then holds 10-45% of the mass and the 0.9 nucleus a few hundred tokens,
like a language model's next-token distribution), probs = softmax(logits) float32.
FlashInfer's samplers take float32 whatever ``--dtype`` says, so inputs are always float32.
Output: samples [batch] int32 (one call = one serving step, timed with a fixed seed).

Ops: top_k, top_p, top_k_top_p (top-k first, then top-p on the renormalised top-k), min_p
(keep p >= min_p x max p) from probabilities; top_k_logits, top_p_logits, top_k_top_p_logits
from logits (softmax inside the step).

Parity is statistical (:mod:`fibench.suites.sampling_stats`): for the first ROWS rows the
parity call draws DRAWS tokens per row with one fixed seed; every draw must lie in its row's
allowed set and each row's empirical distribution must be within the derived TV bound of the
exact renormalised distribution, which the ``torch`` reference provides. The determinism
column compares two parity calls with the same seed (they must be identical).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch

from fibench.errors import UsageError
from fibench.suites.base import Backend, Case, Inputs, JitNeed, Launch, Needs, Outputs, Suite, Work
from fibench.suites.sampling_stats import DRAWS, ROWS, exact_distribution, tv_check
from fibench.sweep.axes import Axis
from fibench.trace.markers import op_range

OPS = ("top_k", "top_p", "top_k_top_p", "min_p", "top_k_logits", "top_p_logits", "top_k_top_p_logits")
LOGIT_STD = 4.0


def sampling_work(batch: int, vocab: int) -> Work:
    """Byte model: each float32 input element read once, one int32 sample written per row.
    FLOP are not modelled (sampling is bound by memory and latency): 0."""
    return Work(flop=0.0, bytes_read=batch * vocab * 4, bytes_written=batch * 4)


def _input_name(op: str) -> str:
    return "logits" if op.endswith("_logits") else "probs"


def filtered_sorted(op: str, x: torch.Tensor, *, top_k: int, top_p: float, min_p: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch sampler's filter: softmax (logits ops), descending sort, then zero what the
    op excludes. Returns (kept probabilities in sorted order, their token ids), [rows, vocab]."""
    base = op.removesuffix("_logits")
    with op_range("softmax"):
        probs = torch.softmax(x, dim=-1) if op.endswith("_logits") else x
    with op_range("sort"):
        srt, idx = probs.sort(dim=-1, descending=True)
    with op_range("filter"):
        rank = torch.arange(srt.shape[-1], device=srt.device)
        if base in ("top_k", "top_k_top_p"):
            srt = torch.where(rank < top_k, srt, 0.0)
        if base in ("top_p", "top_k_top_p"):
            norm = srt / srt.sum(dim=-1, keepdim=True)
            srt = torch.where(norm.cumsum(-1) - norm < top_p, srt, 0.0)
        if base == "min_p":
            srt = torch.where(srt >= min_p * srt[:, :1], srt, 0.0)
    return srt, idx


def exponential_race(srt: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """One token per row drawn with probability proportional to ``srt``: argmax of
    srt / E with E ~ Exp(1) i.i.d. (P(argmax = j) = p_j / sum p; the "exponential race",
    equivalent to the Gumbel-max trick; vLLM's sampler draws this way). [rows] int64 ids."""
    e = torch.empty_like(srt).exponential_(generator=generator)
    return idx.gather(-1, (srt / e).argmax(dim=-1, keepdim=True)).squeeze(-1)


def _params(case: Case) -> dict[str, Any]:
    p = case.params
    return {"top_k": p["top_k"], "top_p": p["top_p"], "min_p": p["min_p"]}


class TorchSampler(Backend):
    """Reference: a sort-based torch sampler (softmax, sort, filter, exponential race; no
    host sync) for timing; for parity it returns the exact renormalised distributions
    (float64) of the first ROWS rows that every candidate's draws are tested against (its
    own sampler is checked statistically by the CPU tests)."""

    name: ClassVar[str] = "torch"
    description: ClassVar[str] = "reference: sort + filter + exponential race; exact distributions for parity"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        key, kw = _input_name(case.op), _params(case)

        def bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                srt, idx = filtered_sorted(case.op, t[key], **kw)
                with op_range("sample"):
                    return {"samples": exponential_race(srt, idx).to(torch.int32)}
            return call

        def parity_bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                x = t[key][:ROWS]
                p = torch.softmax(x.double(), dim=-1) if key == "logits" else x.double()
                dist, allowed = exact_distribution(p, case.op, **kw)
                return {"dist": dist, "allowed": allowed}
            return call
        return Launch({key: inputs.tensors[key]}, bind, parity_bind=parity_bind,
                      detail="torch sort-based sampler, float32")


def _flashinfer_call(op: str, kw: dict[str, Any]) -> Callable[..., torch.Tensor]:
    """The FlashInfer sampling step of ``op``: fn(x, indices=None, seed=..., offset=...)."""
    import flashinfer.sampling as fs

    k, p, mp = kw["top_k"], kw["top_p"], kw["min_p"]
    steps: dict[str, Callable[..., torch.Tensor]] = {
        "top_k": lambda x, **a: fs.top_k_sampling_from_probs(x, k, **a),
        "top_p": lambda x, **a: fs.top_p_sampling_from_probs(x, p, **a),
        "top_k_top_p": lambda x, **a: fs.top_k_top_p_sampling_from_probs(x, k, p, **a),
        "min_p": lambda x, **a: fs.min_p_sampling_from_probs(x, mp, **a),
        "top_k_logits": lambda x, **a: fs.top_k_sampling_from_probs(fs.softmax(x), k, **a),
        "top_p_logits": lambda x, **a: fs.top_p_sampling_from_probs(fs.softmax(x), p, **a),
        "top_k_top_p_logits": lambda x, **a: fs.top_k_top_p_sampling_from_logits(x, k, p, **a),
    }
    return steps[op]


class FlashInferSampler(Backend):
    """flashinfer.sampling's rejection samplers (deterministic=True; top_k_top_p with
    FlashInfer's default filter_apply_order "top_k_first"), with an explicit seed and
    offset so the step can be captured in a CUDA graph; the from-logits top-k / top-p ops run
    ``flashinfer.sampling.softmax`` first. Parity draws use ``indices`` to sample DRAWS
    tokens from each tested row in one launch."""

    name: ClassVar[str] = "flashinfer"
    description: ClassVar[str] = "flashinfer.sampling top_k / top_p / top_k_top_p / min_p samplers"
    needs: ClassVar[Needs] = Needs(cuda=True, min_cc=(8, 0), modules=("flashinfer.sampling",),
                                   jit=(JitNeed("sampling", "flashinfer.jit.sampling:gen_sampling_module", 80),))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        key, step = _input_name(case.op), _flashinfer_call(case.op, _params(case))

        def bind(t: Mapping[str, torch.Tensor]):
            return lambda: {"samples": step(t[key], seed=case.seed, offset=0)}

        def parity_bind(t: Mapping[str, torch.Tensor]):
            def call() -> Outputs:
                x = t[key][:ROWS]
                indices = torch.arange(x.shape[0], device=x.device).repeat(DRAWS)
                out = step(x, indices=indices, seed=case.seed, offset=0)
                return {"draws": out.view(DRAWS, x.shape[0])}
            return call
        return Launch({key: inputs.tensors[key]}, bind, parity_bind=parity_bind,
                      detail=f"flashinfer.sampling {case.op}, seed {case.seed} offset 0, float32 input")


class SamplingSuite(Suite):
    """Top-k / top-p / min-p token sampling."""

    name: ClassVar[str] = "sampling"
    description: ClassVar[str] = "token sampling: top-k, top-p, top-k+top-p (probs and logits), min-p"
    size_name: ClassVar[str] = "batch"
    ops: ClassVar[tuple[str, ...]] = OPS
    axes: ClassVar[tuple[Axis, ...]] = (
        Axis("vocab", int, "vocabulary size (row length)", preset="vocab", minimum=2),
        Axis("top_k", int, "k of top-k", default=50, minimum=1),
        Axis("top_p", float, "p of top-p (nucleus mass)", default=0.9, minimum=0.0),
        Axis("min_p", float, "min-p: keep tokens with p >= min_p x max p", default=0.1, minimum=0.0),
    )
    backends: ClassVar[dict[str, type[Backend]]] = {b.name: b for b in (TorchSampler, FlashInferSampler)}
    default_reference: ClassVar[str] = "torch"
    default_model: ClassVar[str] = "llama-3-8b"
    cpu_default_model: ClassVar[str | None] = "small"

    def check_point(self, params: dict[str, Any]) -> None:
        if not 0 < params["top_p"] <= 1 or not 0 <= params["min_p"] <= 1:
            raise UsageError(f"--top-p must be in (0, 1] and --min-p in [0, 1], got {params['top_p']}, {params['min_p']}")

    def check_parity(self, case: Case, candidate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> Any:
        """Statistical parity (:func:`fibench.suites.sampling_stats.tv_check`) of the
        candidate's draws against the reference's exact distributions.

        Raises:
            ValueError: the reference gave no exact distributions (it is not ``torch``).
        """
        if "dist" not in reference:
            raise ValueError("sampling parity needs the exact distributions of the torch reference (--reference torch)")
        return tv_check(candidate["draws"], reference["dist"], reference["allowed"])

    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        gen = torch.Generator(device=device).manual_seed(case.seed)
        logits = torch.randn(case.size, case.params["vocab"], generator=gen, device=device) * LOGIT_STD
        t = {"logits": logits} if case.op.endswith("_logits") else {"probs": torch.softmax(logits, dim=-1)}
        return Inputs(t, sampling_work(case.size, case.params["vocab"]),
                      {"parity_rows": min(case.size, ROWS), "parity_draws_per_row": DRAWS})
