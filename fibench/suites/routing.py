"""MoE routing, computed once per case so every backend gets the same expert ids and
weights (parity then isolates the expert math, not routing differences)."""

from __future__ import annotations

import torch


def softmax_topk(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over all experts, keep the top-k, renormalise to sum 1.

    This is the routing of Qwen3-MoE (norm_topk_prob=True) and, equivalently, Mixtral
    (top-k of logits then softmax over the k).

    Args:
        logits: [tokens, experts] router logits (any float dtype; math in fp32).
        top_k: experts per token.

    Returns:
        (ids [tokens, top_k] int32, weights [tokens, top_k] float32).
    """
    probs = torch.softmax(logits.float(), dim=-1)
    weights, ids = torch.topk(probs, top_k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return ids.to(torch.int32), weights


def deepseek_grouped(logits: torch.Tensor, bias: torch.Tensor, top_k: int, n_group: int,
                     topk_group: int, routed_scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSeek-V3 routing (technical report, section 2.1.2; "noaux_tc" in its config).

    Scores are sigmoid(logits); selection uses scores + bias. Experts are split into
    ``n_group`` groups; a group's strength is the sum of its two best biased scores; only
    the ``topk_group`` strongest groups stay; the ``top_k`` best biased scores among them
    are chosen. Weights are the *unbiased* scores of the chosen experts, normalised to sum
    1 and multiplied by ``routed_scaling``.

    Args:
        logits: [tokens, experts] router logits.
        bias: [experts] selection bias (e_score_correction_bias).

    Returns:
        (ids [tokens, top_k] int32, weights [tokens, top_k] float32).

    Raises:
        ValueError: experts not divisible by ``n_group``.
    """
    tokens, experts = logits.shape
    if experts % n_group:
        raise ValueError(f"{experts} experts not divisible into {n_group} groups")
    scores = torch.sigmoid(logits.float())
    biased = scores + bias.float()
    grouped = biased.view(tokens, n_group, experts // n_group)
    group_strength = grouped.topk(2, dim=-1).values.sum(dim=-1)
    keep = torch.zeros_like(group_strength, dtype=torch.bool)
    keep.scatter_(1, group_strength.topk(topk_group, dim=-1).indices, True)
    masked = biased.masked_fill(~keep.repeat_interleave(experts // n_group, dim=1), float("-inf"))
    ids = masked.topk(top_k, dim=-1).indices
    weights = scores.gather(1, ids)
    weights = weights / weights.sum(dim=-1, keepdim=True) * routed_scaling
    return ids.to(torch.int32), weights
