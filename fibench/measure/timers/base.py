"""The timer interface: one class per way of timing calls, all driven the same way.

A timer is built on a :class:`~fibench.measure.rotation.RotationSet` (the calls and the
copies the cold-L2 plan rotates), the plan itself and the device. ``start(warmup)`` does
everything that must not be timed (graph capture, warm-up, enabling a tracer);
``sample(n)`` returns at least ``n`` per-call times in microseconds and may be called
again and again by the stopping rule; ``close()`` releases what ``start`` took. Everything
that is not the kernel (input restore of in-place kernels, L2 flush) stays outside the
timed spans, and no synchronize happens between the calls of one batch unless the class
says so.

Each class has a stable ``name`` written to the row (``Row.timer``), the ``family`` that
``--timer`` selects and whether it replays a CUDA ``graph``. Adding a timer = one subclass
registered in :mod:`fibench.measure.timers`.
"""

from __future__ import annotations

import abc
import contextlib
from typing import Any, ClassVar, Iterator

import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet

MARKER_KERNEL = "spin_kernel"
"""Name fragment of the kernel :func:`empty_kernel` launches (``at::cuda::sleep`` in
aten/src/ATen/cuda/Sleep.cu: a one-thread ``spin_kernel``); no backend launches it, so
CUPTI records of it mark call boundaries."""


def empty_kernel() -> None:
    """Launch a one-thread kernel that returns at once on the current stream
    (``torch.cuda._sleep(0)``); capturable in a CUDA graph. Used as a call-boundary marker
    by the CUPTI timers and as the empty call of the events-overhead calibration.

    Raises:
        RuntimeError: this torch has no ``torch.cuda._sleep``.
    """
    sleep = getattr(torch.cuda, "_sleep", None)
    if sleep is None:
        raise RuntimeError("torch.cuda._sleep (the empty marker kernel) is missing in this torch build")
    sleep(0)


@contextlib.contextmanager
def nsys_range(label: str | None) -> Iterator[None]:
    """Bracket the timed loop for ``nsys profile --capture-range=cudaProfilerApi``
    (cudaProfilerStart/Stop) with an NVTX range named ``label``; no-op when None."""
    if label is None:
        yield
        return
    import nvtx

    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    try:
        with nvtx.annotate(label, color="green"):
            yield
            torch.cuda.synchronize()
    finally:
        torch.cuda.profiler.stop()


class Timer(abc.ABC):
    """One way of timing a backend's calls (see the module docstring for the protocol).

    Class attributes:
        name: stable id written to ``Row.timer`` (e.g. "cuda-graph+events").
        family: what ``--timer`` selects: "events", "cupti" or "wall".
        graph: replays calls captured in a CUDA graph.
        basis: one sentence for the report: what one sample is.

    Args:
        rs: the calls and copies to cycle through.
        plan: the cold-L2 plan made for this timer's mode (``graph``).
        device: the device the calls run on.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    graph: ClassVar[bool]
    basis: ClassVar[str]

    def __init__(self, rs: RotationSet, plan: ColdL2Plan, device: torch.device) -> None:
        self.rs = rs
        self.plan = plan
        self.device = device

    @classmethod
    def unavailable(cls, device: torch.device) -> str | None:
        """Why this timer cannot run on ``device`` (one line), or None."""
        if device.type != "cuda":
            return f"timer {cls.name} needs a CUDA device"
        return None

    def start(self, warmup: int) -> None:
        """Untimed preparation: graph capture, enabling tracers, ``warmup`` calls/replays.

        Raises:
            CaptureError: graph capture failed (a host synchronisation inside the call).
        """

    @abc.abstractmethod
    def sample(self, n: int) -> list[float]:
        """Time at least ``n`` calls; per-call microseconds, in order."""

    def close(self) -> None:
        """Release what :meth:`start` took (graphs, tracer sessions)."""

    def details(self) -> dict[str, Any]:
        """Per-row facts beyond the samples (e.g. the median CUPTI kernel-sum, ``note``)."""
        return {}

    def __enter__(self) -> "Timer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
