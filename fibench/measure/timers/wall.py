"""CPU wall-clock timer, for CPU backends on a machine without a CUDA GPU."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch

from fibench.measure.timers.base import Timer


class WallTimer(Timer):
    """CPU wall-clock time per call (``time.perf_counter_ns``); restore runs outside the
    span. Only for calls that run on the CPU: a GPU call would be timed at its launch."""

    name: ClassVar[str] = "cpu-wall-clock"
    family: ClassVar[str] = "wall"
    graph: ClassVar[bool] = False
    basis: ClassVar[str] = "CPU wall clock around each call (CPU backends; says nothing about GPU kernels)"

    @classmethod
    def unavailable(cls, device: torch.device) -> str | None:  # noqa: D102
        if device.type != "cpu":
            return "the wall-clock timer times CPU calls only (GPU calls return at launch)"
        return None

    def start(self, warmup: int) -> None:  # noqa: D102
        for _ in range(max(1, warmup)):
            self.rs.prepare_call(bool(self.rs.mutates))
            self.rs.calls[0]()

    def sample(self, n: int) -> list[float]:  # noqa: D102
        samples = []
        for _ in range(n):
            self.rs.prepare_call(bool(self.rs.mutates))
            t0 = time.perf_counter_ns()
            self.rs.calls[0]()
            samples.append((time.perf_counter_ns() - t0) / 1e3)
        return samples

    def details(self) -> dict[str, Any]:  # noqa: D102
        return {"note": "CPU wall clock"}
