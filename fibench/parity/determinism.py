"""Determinism of a backend: two eager calls, and a CUDA-graph replay against an eager call.

Both are bitwise checks on the same inputs. A kernel whose reduction order depends on
scheduling (atomics, split-K, a fused scatter epilogue such as the CUTLASS MoE's GEMM2 at
small batch, audits/h200-2026-11-21) fails them; a port audit needs to know, because
such a backend cannot be expected to match anything bit for bit, itself included.

The graph check captures exactly one call with ``torch.cuda.graph`` (PyTorch's documented
capture recipe: warm up on a side stream, then capture), replays it once on pristine
inputs and compares the replay's outputs with an eager call's. It is kept here, apart from
the timers' capture in :mod:`fibench.measure.timing`, so the timers can change freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from fibench.errors import describe_exception
from fibench.parity.metrics import outputs_bitwise_equal
from fibench.suites.base import Launch, Outputs


@dataclass(frozen=True)
class GraphCheck:
    """Outcome of the graph-replay check.

    Attributes:
        equal: True/False when the replay was compared with the eager call; None when the
            check could not run.
        note: why it could not run (empty when it ran).
    """

    equal: bool | None
    note: str = ""


def _restorer(tensors: Mapping[str, torch.Tensor], mutates: tuple[str, ...]) -> Callable[[], None]:
    """A function that puts the in-place-mutated tensors back to their current values."""
    pristine = {k: tensors[k].clone() for k in mutates}

    def restore() -> None:
        for k, v in pristine.items():
            tensors[k].copy_(v)
    return restore


def graph_replay_outputs(launch: Launch, tensors: dict[str, torch.Tensor], device: torch.device) -> Outputs:
    """Capture one call of ``launch`` in a CUDA graph, replay it once, return cloned outputs.

    Args:
        tensors: the launch's reads with mutated tensors already private
            (:func:`fibench.sweep.runner.fresh_tensors`); restored to their values before
            the replay, so the replay sees the same inputs as an eager call.

    Raises:
        RuntimeError: capture failed (e.g. the call synchronises with the host).
    """
    restore = _restorer(tensors, launch.mutates)
    call = launch.bind(tensors)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        call()  # warm-up outside capture: lazy allocations and workspaces happen here
    torch.cuda.current_stream(device).wait_stream(side)
    restore()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = call()
    restore()
    graph.replay()
    torch.cuda.synchronize(device)
    result = {k: v.clone() for k, v in out.items()}
    del graph
    return result


def graph_vs_eager(launch: Launch, tensors: dict[str, torch.Tensor], device: torch.device,
                   eager: Outputs) -> GraphCheck:
    """Whether a CUDA-graph replay of one call gives the same bits as ``eager`` (the
    outputs of an eager call on the same inputs). Never raises for backend failures: a
    check that fails says why; on the CPU, or for a backend that synchronises with the host
    (``launch.capturable`` False), it is None without a note."""
    if device.type != "cuda":
        return GraphCheck(None)
    if not launch.capturable:  # the timing notes already say it cannot be captured
        return GraphCheck(None)
    try:
        replay = graph_replay_outputs(launch, tensors, device)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:
        return GraphCheck(None, f"graph replay vs eager: capture failed ({describe_exception(exc, 160)})")
    return GraphCheck(outputs_bitwise_equal(replay, eager))
