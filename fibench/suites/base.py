"""What a suite and a backend are: the contract a newcomer implements.

Adding a backend = one :class:`Backend` subclass registered in its suite's ``BACKENDS``
plus one entry in ``fibench/kernel_maps/<suite>.toml``. Adding a suite = one module with a
:class:`Suite` subclass (its :class:`~fibench.sweep.axes.Axis` declarations become the
options of ``fibench run <suite>``) plus a line in ``fibench/suites/__init__.py``.

Data flow: axes + preset -> ``Case`` (one point of the product of the swept axes, see
:func:`fibench.sweep.config.build_cases`); ``Suite.make_inputs(case, device) -> Inputs``
(pristine tensors shared by all backends, never mutated); ``Backend.prepare(case, inputs)
-> Launch`` (all allocation, planning and weight layout happen here, outside any timed
region); ``Launch.bind(tensors)`` gives the zero-argument callable the timer runs.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, ContextManager, Iterator, Mapping

import torch

from fibench.sweep.axes import Axis, format_value

DTYPES: dict[str, torch.dtype] = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp32": torch.float32,
}

Outputs = dict[str, torch.Tensor]
"""What one call produces, by name (e.g. {"out": ..., "residual": ...})."""


@contextlib.contextmanager
def fp32_matmul() -> Iterator[None]:
    """Full-precision fp32 matmuls (no TF32) for references, restoring the setting after."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


@dataclass(frozen=True)
class Work:
    """What a perfect kernel must do for one call: the FLOP/byte model of a case.

    Attributes:
        flop: floating-point operations (multiply-add = 2).
        bytes_read: bytes every input must be read once (only experts actually hit, for MoE).
        bytes_written: bytes every output must be written once.
        flop_dtype: the tensor-core input type the FLOPs run in: "bf16" (also fp16/fp32
            math and weight-only quantization that dequantizes to bf16, e.g. MXFP4 x bf16) or
            "fp8" (e4m3 x e4m3 products); selects the GEMM ceiling of the row's SOL %.
    """

    flop: float
    bytes_read: int
    bytes_written: int
    flop_dtype: str = "bf16"

    @property
    def bytes_total(self) -> int:
        """Read plus written bytes."""
        return self.bytes_read + self.bytes_written


@dataclass
class Case:
    """One point of a sweep.

    Attributes:
        suite: suite name.
        op: logical operation of the suite (e.g. "rmsnorm", "moe").
        size: the swept size (rows for norm, tokens for moe, batch for decode).
        dtype: activation/weight dtype name ("bf16", "fp16", "fp32").
        params: the model name, every axis value of this point and the preset's fixed
            parameters (hidden, intermediate, experts, top_k, ep, kv_len, ...).
        seed: RNG seed for input generation.
        swept: the swept axes that name this case in :attr:`case_id` (every swept axis
            not at its single default value; see :func:`fibench.sweep.axes.id_axes`).
    """

    suite: str
    op: str
    size: int
    dtype: str
    params: dict[str, Any]
    seed: int = 0
    swept: tuple[str, ...] = ()

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype for :attr:`dtype`."""
        return DTYPES[self.dtype]

    @property
    def case_id(self) -> str:
        """Id of the case: ``op/size`` then ``/axis=value`` for its swept axes (e.g.
        ``decode/16/kv_len=1024``, ``moe/16/quant=fp8``); a function of the values only, so
        two runs' rows can be matched by it."""
        tail = "".join(f"/{n}={format_value(self.params[n])}" for n in self.swept)
        return f"{self.op}/{self.size}{tail}"




@dataclass
class Inputs:
    """Pristine inputs of a case, shared by every backend (backends must not mutate them).

    Attributes:
        tensors: named input tensors (shapes documented by each suite).
        work: FLOP/byte model of the case.
        info: extra facts shown in reports (e.g. experts hit, local tokens).
    """

    tensors: dict[str, torch.Tensor]
    work: Work
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Launch:
    """A backend ready to run: what it reads and how to call it.

    Attributes:
        reads: every tensor the kernel reads, weights included; the timer rotates copies
            of these for cold L2. Must be the tensors ``bind`` closes over.
        bind: given a dict with the same keys as ``reads`` (the originals or copies),
            returns a zero-argument callable that runs the kernel once and returns its
            outputs by name.
        mutates: names in ``reads`` the call writes in place (the timer restores them so
            every timed call sees the same input values).
        first_call_context: context manager factory the first (warm-up) call runs under,
            e.g. ``lambda: flashinfer.autotune(True)`` to pick tactics before timing.
        capturable: the call can be captured in a CUDA graph (no host synchronisation).
        detail: implementation facts for the report (kernel variant, fallback taken...).
        plan_us: host time of the backend's planning step (e.g. FlashInfer ``wrapper.plan``),
            measured in ``prepare`` outside every timed region; None when it has none. Serving
            engines pay it every step, so it is its own column.
        plan_first_s: seconds of the first planning call, which loads (or JIT-compiles) the
            kernel module; the runner adds it to the first-call column.
        parity_bind: like ``bind``, for the parity step only (both determinism calls and
            the comparison); None = ``bind``. A statistical suite (sampling) draws many
            samples there while the timed call stays one serving step.
    """

    reads: dict[str, torch.Tensor]
    bind: Callable[[Mapping[str, torch.Tensor]], Callable[[], Outputs]]
    mutates: tuple[str, ...] = ()
    first_call_context: Callable[[], ContextManager[Any]] | None = None
    capturable: bool = True
    detail: str = ""
    plan_us: float | None = None
    plan_first_s: float | None = None
    parity_bind: Callable[[Mapping[str, torch.Tensor]], Callable[[], Outputs]] | None = None

    def read_bytes(self) -> int:
        """Allocated bytes of one set of ``reads`` (what one rotation copy costs)."""
        return sum(t.numel() * t.element_size() for t in self.reads.values())


@dataclass(frozen=True)
class JitNeed:
    """A FlashInfer JIT module a backend needs built.

    Attributes:
        name: module name (e.g. "fused_moe_90").
        spec: "package.module:function" returning the FlashInfer ``JitSpec``.
        compile_s: typical compile time on 16 cores (DESIGN.md), used by ``--jit auto``.
        cc: only needed on this compute capability (major, minor); None = always.
    """

    name: str
    spec: str
    compile_s: float
    cc: tuple[int, int] | None = None


@dataclass(frozen=True)
class Needs:
    """What a backend needs to run; checked before anything is allocated.

    Attributes:
        cuda: needs a CUDA device.
        min_cc: minimum compute capability (major, minor).
        modules: importable Python modules.
        jit: FlashInfer JIT modules that must be built (or buildable under ``--jit``).
        dtypes: dtype names supported.
    """

    cuda: bool = False
    min_cc: tuple[int, int] | None = None
    modules: tuple[str, ...] = ()
    jit: tuple[JitNeed, ...] = ()
    dtypes: tuple[str, ...] = tuple(DTYPES)

    def describe(self) -> str:
        """One line for ``fibench list``."""
        parts = ["CUDA" if self.cuda else "CPU or CUDA"]
        if self.min_cc:
            parts.append(f"SM >= {self.min_cc[0]}.{self.min_cc[1]}")
        parts += [f"import {m}" for m in self.modules]
        parts += [f"JIT {j.name} (~{j.compile_s:.0f} s)" for j in self.jit]
        parts.append("dtypes " + "/".join(self.dtypes))
        return "; ".join(parts)


def op_only_reason(op: str, case: Case) -> str | None:
    """``unsupported_reason`` part of a backend that runs one op: None for ``op``, else why."""
    return None if case.op == op else f"runs op {op} only"


class Backend(abc.ABC):
    """One implementation of a suite.

    Subclasses set the class attributes and implement :meth:`prepare`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    needs: ClassVar[Needs] = Needs()

    def unsupported_reason(self, case: Case) -> str | None:
        """Why this backend cannot run ``case`` (shape or dtype limits), or None."""
        if case.dtype not in self.needs.dtypes:
            return f"dtype {case.dtype} not supported (supports {'/'.join(self.needs.dtypes)})"
        return None

    @abc.abstractmethod
    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        """Allocate, lay out weights and plan, then return a :class:`Launch`.

        Must not mutate ``inputs.tensors``; clone what the kernel writes in place.
        """


class Suite(abc.ABC):
    """A family of kernels with the same inputs and outputs.

    Class attributes:
        name: suite id on the command line.
        description: one line for ``fibench list``.
        size_name: what ``--sizes`` counts ("rows", "tokens", "batch").
        ops: the suite's operations; ``--op`` picks a subset.
        axes: the suite's own parameters besides sizes/op/dtype; each becomes an option of
            ``fibench run <suite>`` and a results.csv column; swept ones multiply cases.
        backends: registry name -> Backend class.
        default_reference: backend whose outputs others are compared against.
        default_model: preset used without ``--model`` on a GPU.
        cpu_default_model: preset used without ``--model`` when no GPU is available.
        default_baseline: backend speedups are computed against when ``--baseline`` is not
            given and it is among the backends run (None: the reference).
        default_cold_l2: ``--cold-l2`` mode when none is given (the suite's docstring says why
            when it is not "rotate").
    """

    name: ClassVar[str]
    description: ClassVar[str]
    size_name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]]
    axes: ClassVar[tuple[Axis, ...]] = ()
    backends: ClassVar[dict[str, type[Backend]]]
    default_reference: ClassVar[str]
    default_model: ClassVar[str]
    cpu_default_model: ClassVar[str | None] = None
    default_baseline: ClassVar[str | None] = None
    default_cold_l2: ClassVar[str] = "rotate"
    tolerances: ClassVar[dict[str, tuple[float, float, str]]] = {}
    """Output name -> (atol, rtol, rule) where the suite needs other values than the dtype
    table of DESIGN.md (the docstring of the suite says why)."""

    def check_parity(self, case: Case, candidate: Outputs, reference: Outputs) -> Any:
        """Parity of a candidate's outputs against the reference's on ``case``: a
        :class:`fibench.parity.metrics.ParityResult`. Element-wise by default (with
        :attr:`tolerances`); a suite whose outputs are random draws (sampling) overrides it
        with a statistical check. A subclass of the result may carry ``row_fields`` (more
        :class:`~fibench.sweep.results.Row` fields, e.g. a quantized kernel's error against
        the unquantized model) and ``extra`` (facts for the JSONL file only).

        Raises:
            ValueError: outputs do not match in names or shapes.
        """
        from fibench.parity.metrics import compare

        return compare(candidate, reference, tolerances=self.tolerances)

    def check_preset(self, preset: Any) -> None:
        """Refuse a model preset this suite cannot use (e.g. a dense model for MoE).

        Raises:
            UsageError: unsuitable preset.
        """

    def preset_params(self, preset: Any) -> dict[str, Any]:
        """Fixed parameters taken from the preset that are not command-line axes (e.g.
        MoE routing); they go into every case's ``params``."""
        return {}

    def check_point(self, params: dict[str, Any]) -> None:
        """Validate one point's parameters together (e.g. top_k <= experts).

        Raises:
            UsageError: contradictory values.
        """

    @abc.abstractmethod
    def make_inputs(self, case: Case, device: torch.device) -> Inputs:
        """Generate the pristine inputs of ``case`` on ``device`` from ``case.seed``."""
