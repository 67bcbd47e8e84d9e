"""Test-only moe backends that fail the way real kernels do. Never shipped: loaded per
process with ``FIBENCH_PLUGINS=tests/plugins/crash_backends.py`` (see
fibench/suites/plugins.py); used by tests/sweep/test_isolate.py and the GPU crash
demonstration in the README.

- ``test-sigkill``: the process kills itself with SIGKILL in the first call (a segfault or
  the host's OOM killer look the same to the parent).
- ``test-device-assert``: gathers rows at an index past the end. On a GPU that is a
  device-side assert (ATen's index kernel, "index out of bounds"), which leaves the CUDA
  context unusable; on a CPU it is an ordinary IndexError.
- ``test-empty-error``: raises an exception whose message is empty.
"""

from __future__ import annotations

import os
import signal
from typing import ClassVar, Mapping

import torch

from fibench.suites import get_suite
from fibench.suites.base import Backend, Case, Inputs, Launch, Needs, Outputs
from fibench.suites.plugins import register_backend

_READS = ("x", "topk_ids", "topk_weights", "w1", "w2")


class _TestBackend(Backend):
    needs: ClassVar[Needs] = Needs()

    def call(self, t: Mapping[str, torch.Tensor]) -> Outputs:
        raise NotImplementedError

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        def bind(t: Mapping[str, torch.Tensor]):
            return lambda: self.call(t)

        return Launch({k: inputs.tensors[k] for k in _READS}, bind, capturable=False, detail="test-only backend")


class SigkillSelf(_TestBackend):
    name: ClassVar[str] = "test-sigkill"
    description: ClassVar[str] = "test only: the process SIGKILLs itself in the first call"

    def call(self, t: Mapping[str, torch.Tensor]) -> Outputs:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class DeviceAssert(_TestBackend):
    name: ClassVar[str] = "test-device-assert"
    description: ClassVar[str] = "test only: out-of-bounds gather (device-side assert on a GPU)"

    def call(self, t: Mapping[str, torch.Tensor]) -> Outputs:
        x = t["x"]
        past_end = torch.full((x.shape[0],), x.shape[0] + 1000, dtype=torch.long, device=x.device)
        return {"out": x[past_end]}


class EmptyMessage(_TestBackend):
    name: ClassVar[str] = "test-empty-error"
    description: ClassVar[str] = "test only: raises an exception with an empty message"

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        raise RuntimeError()


for _backend in (SigkillSelf, DeviceAssert, EmptyMessage):
    register_backend(get_suite("moe"), _backend)
