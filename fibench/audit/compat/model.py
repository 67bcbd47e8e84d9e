"""Result types of `fibench audit compat`: probe status, failure category, one probe's
result, and the whole report. Plain dataclasses with dict round-trips for compat.json.

A :class:`ProbeResult` cannot hold an illegal state: a failure always has a category,
nothing else has one (checked in ``__post_init__``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SCHEMA = "fibench.compat/1"


class Status(str, Enum):
    """How a probe ended."""

    WORKS = "works"  # the kernel ran on tiny inputs and its output passed the check
    FAILS = "fails"  # import, compile, launch or check failed; see the category
    NOT_BUILT = "not built"  # a JIT module it needs is neither AOT nor in the JIT cache
    NOT_APPLICABLE = "not applicable"  # FlashInfer offers no such path on this GPU
    SKIPPED = "skipped"  # nothing was run (no CUDA device, or FlashInfer missing)


class Category(str, Enum):
    """Why a probe failed. Ordered roughly from "environment" to "kernel"."""

    UNSUPPORTED_CC = "unsupported compute capability"
    UNSUPPORTED_CUDA = "unsupported CUDA version"
    MISSING_PACKAGE = "missing package"
    MISSING_ARTIFACT = "missing cubin artifact"
    COMPILE_FAILURE = "compile failure"
    RUNTIME_ERROR = "runtime error"
    WRONG_RESULT = "wrong result"
    TIMEOUT = "timeout"


@dataclass
class ModuleUse:
    """One FlashInfer JIT module a probe needed.

    ``state`` is where it came from: ``aot`` (prebuilt .so shipped with flashinfer or
    flashinfer-jit-cache), ``jit-cache`` (compiled earlier under ~/.cache/flashinfer),
    ``compiled`` (compiled by this probe, --build), or ``missing``.
    """

    name: str
    state: str


@dataclass
class ProbeResult:
    """Outcome of one probe.

    Attributes:
        name: probe id, e.g. ``decode.fa3``.
        family: feature family shown in the report, e.g. ``paged decode attention``.
        status: how it ended.
        reason: one line: the first line of the error, the missing modules, or why the
            probe does not apply; empty for a plain success.
        category: set exactly when ``status`` is FAILS.
        detail: what a success verified (e.g. "matches torch reference, max abs err
            3.1e-03"), or extra context for other statuses.
        modules: JIT modules the probe needed and where each came from.
        elapsed_s: wall time of the probe subprocess in seconds (0 when none ran).
        log_tail: last lines of the probe's stderr for failures (may be empty).
    """

    name: str
    family: str
    status: Status
    reason: str = ""
    category: Category | None = None
    detail: str = ""
    modules: list[ModuleUse] = field(default_factory=list)
    elapsed_s: float = 0.0
    log_tail: str = ""

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        if self.category is not None:
            self.category = Category(self.category)
        if self.status is Status.FAILS and self.category is None:
            raise ValueError(f"probe {self.name}: a failure needs a category")
        if self.status is not Status.FAILS and self.category is not None:
            raise ValueError(f"probe {self.name}: only a failure has a category")
        self.modules = [m if isinstance(m, ModuleUse) else ModuleUse(**m) for m in self.modules]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON; enums become their values."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["category"] = self.category.value if self.category else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeResult":
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class VersionFlag:
    """A CUDA-version observation worth a reader's attention.

    ``severity`` is ``error`` (expect failures), ``warning`` (some paths may fail) or
    ``info``; ``code`` is a stable id (e.g. ``nvcc-newer-than-driver``).
    """

    severity: str
    code: str
    message: str


@dataclass
class CudaVersions:
    """The CUDA versions that decide whether FlashInfer kernels build and run.

    All versions are "major.minor" strings or None; ``sources`` says where each came
    from, ``notes`` why one is missing.
    """

    driver_version: str | None = None
    driver_cuda: str | None = None  # newest CUDA the driver supports (NVML)
    torch_cuda: str | None = None  # torch.version.cuda
    nvcc: str | None = None  # release of the nvcc FlashInfer's JIT calls
    nvcc_path: str | None = None
    flashinfer_version: str | None = None
    flashinfer_cuda: str | None = None  # what FlashInfer's own version gates read
    jit_cache_package: str | None = None  # flashinfer-jit-cache version (+cuXYZ)
    cubin_package: str | None = None  # flashinfer-cubin version
    compute_capability: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class ArchPath:
    """One arch-specific FlashInfer code path and whether it applies to this GPU."""

    name: str
    applies: bool | None  # None when the compute capability is unknown (no GPU)
    requirement: str
    source: str


@dataclass
class CompatReport:
    """Everything compat.md and compat.json show, in one object.

    Attributes:
        created_at: ISO timestamp of the run.
        options: the options the audit ran with (build, timeouts, selection).
        env: :meth:`fibench.env.EnvSnapshot.to_dict` of this machine.
        flashinfer: facts the FlashInfer install reports about itself (dirs, flags).
        cuda: the CUDA version matrix.
        flags: mismatches and warnings derived from ``cuda``.
        arch_paths: arch-specific paths and whether each applies.
        results: one per probe, in catalog order.
        pending: probes selected but not finished yet (the files are rewritten after every
            probe, so an audit that is stopped still leaves what it found).
    """

    created_at: str
    options: dict[str, Any]
    env: dict[str, Any]
    flashinfer: dict[str, Any]
    cuda: CudaVersions
    flags: list[VersionFlag]
    arch_paths: list[ArchPath]
    results: list[ProbeResult]
    pending: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of results per status value, every status present (zeros included)."""
        counts = {s.value: 0 for s in Status}
        for r in self.results:
            counts[r.status.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for compat.json (with a schema id)."""
        return {
            "schema": SCHEMA,
            "created_at": self.created_at,
            "options": self.options,
            "env": self.env,
            "flashinfer": self.flashinfer,
            "cuda": dataclasses.asdict(self.cuda),
            "flags": [dataclasses.asdict(f) for f in self.flags],
            "arch_paths": [dataclasses.asdict(a) for a in self.arch_paths],
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            "pending": list(self.pending),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CompatReport":
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: the data is not a fibench compat report.
        """
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} report (schema={data.get('schema')!r})")
        return cls(
            created_at=data["created_at"],
            options=data.get("options", {}),
            env=data.get("env", {}),
            flashinfer=data.get("flashinfer", {}),
            cuda=CudaVersions(**data.get("cuda", {})),
            flags=[VersionFlag(**f) for f in data.get("flags", [])],
            arch_paths=[ArchPath(**a) for a in data.get("arch_paths", [])],
            results=[ProbeResult.from_dict(r) for r in data.get("results", [])],
            pending=list(data.get("pending", [])),
        )
