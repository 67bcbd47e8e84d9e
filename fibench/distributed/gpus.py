"""Which GPUs a multi-GPU run uses: ``--gpus`` and the one-model rule.

``--gpus N`` takes the first N GPUs, ``--gpus 0,2`` those indices (as torch numbers them,
after ``CUDA_VISIBLE_DEVICES``), ``--gpus all`` every visible GPU. Rows measured on GPUs of
different models are not comparable, so a run refuses to mix models unless asked.
"""

from __future__ import annotations

import re
from typing import Mapping

from fibench.errors import UsageError


def parse_gpus(text: str, available: int) -> tuple[int, ...]:
    """Parse ``--gpus`` against ``available`` visible GPUs.

    Args:
        text: ``N`` (the first N GPUs), comma-separated indices (``0,1``) or ``all``.
        available: visible CUDA devices.

    Returns:
        device indices in the order given.

    Raises:
        UsageError: no GPU, empty or malformed text, a repeated or missing index, N < 1 or
            N > available.
    """
    if available < 1:
        raise UsageError("--gpus needs CUDA GPUs; none is visible here")
    item = (text or "").strip().lower()
    if item == "all":
        return tuple(range(available))
    if re.fullmatch(r"\d+", item):
        n = int(item)
        if not 1 <= n <= available:
            raise UsageError(f"--gpus {n}: give 1 to {available} GPUs (this host has {available})")
        return tuple(range(n))
    parts = [p.strip() for p in item.split(",")]
    if len(parts) < 2 or not all(re.fullmatch(r"\d+", p) for p in parts):
        raise UsageError(f"--gpus '{text}': give a count (2), indices (0,1) or all")
    indices = tuple(int(p) for p in parts)
    if len(set(indices)) != len(indices):
        raise UsageError(f"--gpus '{text}' lists a GPU twice")
    missing = [i for i in indices if i >= available]
    if missing:
        raise UsageError(f"--gpus '{text}': no GPU {missing[0]} (visible: 0..{available - 1})")
    return indices


def check_one_model(names: Mapping[int, str], *, allow_mixed: bool) -> str:
    """Refuse GPUs of several models unless ``allow_mixed``.

    Args:
        names: device index -> model name (``torch.cuda.get_device_name``).

    Returns:
        the sentence the report prints about the GPUs ("2 GPUs of one model (NVIDIA H200):
        0, 1").

    Raises:
        UsageError: several models and not ``allow_mixed``.
    """
    models = list(dict.fromkeys(names.values()))
    listed = ", ".join(str(i) for i in names)
    if len(models) == 1:
        return f"{len(names)} GPU{'s' if len(names) > 1 else ''} of one model ({models[0]}): {listed}"
    detail = "; ".join(f"{i}: {n}" for i, n in names.items())
    if not allow_mixed:
        raise UsageError(f"--gpus mixes GPU models ({detail}); rows would not be comparable "
                         "(pass --allow-mixed-gpus to run anyway)")
    return f"{len(names)} GPUs of {len(models)} models, allowed by --allow-mixed-gpus ({detail})"


def resolve_gpus(text: str, *, allow_mixed: bool) -> tuple[tuple[int, ...], str]:
    """``--gpus`` on this machine: (device indices, the report's sentence about them).

    Raises:
        UsageError: see :func:`parse_gpus` and :func:`check_one_model`.
    """
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    indices = parse_gpus(text, available)
    return indices, check_one_model({i: torch.cuda.get_device_name(i) for i in indices}, allow_mixed=allow_mixed)


def gpus_argument(devices: tuple[str, ...]) -> str | None:
    """The ``--gpus`` text that selects ``devices`` ("cuda:0", "cuda:1" -> "2"; "cuda:1",
    "cuda:3" -> "1,3"); None when ``--gpus`` cannot say it (CPU workers, one GPU other than 0)."""
    if not devices or not all(d.startswith("cuda:") for d in devices):
        return None
    indices = [int(d.split(":")[1]) for d in devices]
    if indices == list(range(len(indices))):
        return str(len(indices))
    return ",".join(map(str, indices)) if len(indices) > 1 else None
