"""`fibench audit compat` as a library call: options in, :class:`CompatReport` out.

Order of work: validate options (UsageError on bad input) -> environment snapshot ->
FlashInfer facts (subprocess) -> CUDA version matrix and flags -> one row per selected
probe, each either decided here (skipped without a GPU, not applicable on this arch)
or run in its own subprocess with a timeout.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fibench.audit.compat import runner
from fibench.audit.compat.arch import arch_paths, parse_cc, parse_version
from fibench.audit.compat.catalog import PROBES, Probe, select
from fibench.audit.compat.model import Category, CompatReport, ProbeResult, Status
from fibench.audit.compat.versions import cuda_versions, version_flags
from fibench.env import EnvSnapshot, collect_env, package_version
from fibench.errors import UsageError

DEFAULT_TIMEOUT_S = 300.0

ProbeFn = Callable[[str, str, bool, int, float], ProbeResult]


@dataclass
class CompatOptions:
    """What to audit and how.

    Attributes:
        out_dir: where compat.md / compat.json go.
        build: allow probes to JIT-compile missing modules.
        timeout_s: per-probe wall-clock limit in seconds (compile time included).
        timeout_overrides: probe name -> its own limit in seconds (strings from the
            command line are accepted and checked by :func:`run_audit`).
        only: ``--only`` selection (probe names or families, comma-separated).
        device_index: CUDA device the probes run on.
    """

    out_dir: Path
    build: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    timeout_overrides: dict[str, Any] = field(default_factory=dict)
    only: str | None = None
    device_index: int = 0

    def timeout_for(self, name: str) -> float:
        """The limit in seconds for probe ``name``."""
        return float(self.timeout_overrides.get(name, self.timeout_s))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form recorded in compat.json."""
        return {"build": self.build, "timeout_s": self.timeout_s, "timeout_overrides": self.timeout_overrides,
                "only": self.only, "device_index": self.device_index}


def default_out_dir(now: _dt.datetime | None = None) -> Path:
    """``fibench-results/compat-YYYYmmdd-HHMMSS`` (local time)."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path("fibench-results") / f"compat-{stamp}"


def parse_timeout_overrides(items: list[str] | None) -> dict[str, str]:
    """``["moe.bf16=3600", ...]`` -> ``{"moe.bf16": "3600"}`` (values are checked by
    :func:`run_audit`).

    Raises:
        UsageError: an item is not NAME=SECONDS.
    """
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--timeout-for {item!r}: expected PROBE=SECONDS, e.g. moe.bf16=3600")
        out[name.strip()] = value.strip()
    return out


def check_timeout(value: Any, what: str = "--timeout") -> float:
    """A positive, finite number of seconds.

    Raises:
        UsageError: anything else.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what}: must be a positive number of seconds, got {value!r}")
    return seconds


def check_device_index(index: int) -> None:
    """Refuse a negative index, or one past the CUDA devices torch sees.

    Raises:
        UsageError: bad index.
    """
    if index < 0:
        raise UsageError(f"--device-index must be >= 0, got {index}")
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available() and index >= torch.cuda.device_count():
        raise UsageError(f"--device-index {index}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def decide_locally(probe: Probe, env: EnvSnapshot, flashinfer_missing: bool) -> ProbeResult | None:
    """The row for ``probe`` when no subprocess is needed (no GPU, FlashInfer missing,
    arch gate closed); None when the probe has to run."""
    if not env.cuda_available:
        why = env.notes.get("gpu_name", "torch.cuda.is_available() is False")
        return ProbeResult(probe.name, probe.family, Status.SKIPPED, f"no CUDA device: {why}")
    if flashinfer_missing:
        return ProbeResult(probe.name, probe.family, Status.FAILS, "flashinfer-python is not installed",
                           Category.MISSING_PACKAGE)
    cc = parse_cc(env.compute_capability)
    if cc is not None and not probe.gate.applies(cc, parse_version(env.torch_cuda_runtime)):
        return ProbeResult(probe.name, probe.family, Status.NOT_APPLICABLE, probe.gate.not_applicable_reason(cc))
    return None


def validate(options: CompatOptions) -> list[Probe]:
    """Check options and normalise timeouts to floats; return the selected probes.

    Raises:
        UsageError: unknown probe in ``only`` or the overrides, bad timeout, bad device.
    """
    probes = select(options.only)
    options.timeout_s = check_timeout(options.timeout_s)
    known = {p.name for p in PROBES}
    for name, seconds in list(options.timeout_overrides.items()):
        if name not in known:
            raise UsageError(f"--timeout-for: unknown probe {name!r}; `fibench audit compat --list` shows them")
        options.timeout_overrides[name] = check_timeout(seconds, f"--timeout-for {name}")
    check_device_index(options.device_index)
    return probes


def run_audit(
    options: CompatOptions,
    on_result: Callable[[ProbeResult], None] | None = None,
    on_start: Callable[[str, float], None] | None = None,
    env: EnvSnapshot | None = None,
    facts_fn: Callable[[], dict[str, Any]] | None = None,
    probe_fn: ProbeFn | None = None,
    on_progress: Callable[[CompatReport], None] | None = None,
) -> CompatReport:
    """Run the audit and return the report (writing files is the caller's job).

    Args:
        options: checked with :func:`validate` first.
        on_result: called with each row as soon as it exists (progress display).
        on_start: called with (probe name, timeout in s) before a probe subprocess starts.
        env: an environment snapshot to use instead of collecting one (tests).
        facts_fn: returns FlashInfer's self-description; default
            :func:`runner.collect_flashinfer_facts` (a subprocess).
        probe_fn: runs one probe: (name, family, build, device_index, timeout_s);
            default :func:`runner.run_probe_process` (a subprocess).
        on_progress: called with the report so far (``pending`` lists the probes still to
            run) after each probe, so the caller can write the files as probes finish.

    Raises:
        UsageError: unknown probe in ``only``/overrides, bad timeout, bad device index.
    """
    probes = validate(options)
    if env is None:
        env = collect_env(options.device_index)
    facts_fn = facts_fn or runner.collect_flashinfer_facts
    probe_fn = probe_fn or runner.run_probe_process
    facts = facts_fn()
    packages = {p: package_version(p) for p in ("flashinfer-jit-cache", "flashinfer-cubin")}
    cuda = cuda_versions(env, facts, packages)
    flashinfer_missing = env.flashinfer_version is None and not facts.get("flashinfer_version")
    report = CompatReport(
        created_at=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        options=options.to_dict(),
        env=env.to_dict(),
        flashinfer=facts,
        cuda=cuda,
        flags=version_flags(cuda),
        arch_paths=arch_paths(parse_cc(env.compute_capability), env.torch_cuda_runtime),
        results=[],
        pending=[p.name for p in probes],
    )
    for probe in probes:
        result = decide_locally(probe, env, flashinfer_missing)
        if result is None:
            if on_start:
                on_start(probe.name, options.timeout_for(probe.name))
            result = probe_fn(probe.name, probe.family, options.build, options.device_index,
                              options.timeout_for(probe.name))
        report.results.append(result)
        report.pending.remove(probe.name)
        if on_result:
            on_result(result)
        if on_progress:
            on_progress(report)
    return report
