"""``--isolate``: every case x backend in its own process, so a crash takes only its row.

An illegal memory access or a device-side assert leaves a CUDA context unusable: every
later call in that process fails. A segfault or the host's OOM killer ends the process.
Here each row runs in a fresh ``python -m fibench.sweep.isolate`` child (its own CUDA
context): the child regenerates the case's inputs from the seed (the suites' inputs are
deterministic given seed, shape and device), runs :func:`fibench.sweep.runner.run_backend`
and writes the row as JSON. The parent never touches the inputs; it turns a child that
died into an ``error`` row naming the signal (or exit code), the step it was in and the
last error line it printed, and goes on with the next row.

Reference outputs are computed once per case, by the first child of the case (the
reference backend's own row, or a child that only computes them), saved with
``torch.save`` in a per-case temporary folder and loaded by the other children. If that
child dies, the other rows of the case carry the reason instead of a parity verdict. The
reference child also saves a fingerprint of its inputs (:func:`fingerprint`); a child whose
regenerated inputs differ (a suite whose inputs are not reproducible) gets no parity and
says why, rather than a verdict against other inputs.

Cost: each row pays a process start, imports (torch, FlashInfer), a CUDA context, input
generation, the reference load, and any per-process warm-up (JIT module load, autotuning
in the first call). The row's ``isolation_s`` column is that cost (the child's wall time
minus the row's own measurement); ``extra["isolation"]`` splits it. Isolation is not the
default for any suite: it changes no number, costs seconds per row, and the default
in-process sweep already falls back to isolated children for the rest of a sweep once
its CUDA context is lost (:func:`fibench.sweep.loop.run_sweep`). Use it for a backend
that is known to crash the process itself (segfault, abort), for new kernels under test,
and to resume a run that such a crash stopped (``--resume --isolate``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import fibench
from fibench.errors import describe_exception
from fibench.suites.base import Case, Inputs, Outputs
from fibench.suites.plugins import load_plugins
from fibench.sweep.results import Row, Status
from fibench.sweep.runner import (OnRow, OnStep, RunContext, failed_row, inputs_failure, no_inputs_row,
                                  reference_outputs, run_backend)

STAGE_MARK = "FIBENCH_STAGE "
REFERENCE_PT, REFERENCE_TXT, INPUTS_SHA = "reference.pt", "reference.txt", "inputs.sha256"
FINGERPRINT_BYTES = 1 << 16
"""Bytes sampled per input tensor by :func:`fingerprint` (evenly spaced, plus the shape and dtype)."""
_ERROR_LINE = re.compile(r"^(\w+\.)*\w*(Error|Exception)\b|CUDA error|Assertion|Segmentation fault|Killed")


@dataclass
class ChildSpec:
    """What one child needs (pickled to a file).

    Attributes:
        ctx: the run context without its kernel map (the child loads it);
        case: the case; backend: the backend whose row the child measures, or None for a
        child that only computes the reference outputs; workdir: the per-case folder of
        reference.pt / reference.txt; save_reference: compute and save the reference
        outputs there first; spawned_at: ``time.time()`` when the parent started it.
    """

    ctx: RunContext
    case: Case
    backend: str | None
    workdir: Path
    save_reference: bool
    spawned_at: float


def _stage(text: str) -> None:
    print(STAGE_MARK + text, flush=True)


def _last_stage(log: str) -> str:
    stages = [ln[len(STAGE_MARK):] for ln in log.splitlines() if ln.startswith(STAGE_MARK)]
    return stages[-1] if stages else "start-up"


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.startswith(STAGE_MARK)]
    hits = [ln for ln in lines if _ERROR_LINE.search(ln)]
    return (hits or [""])[-1][:300]


def death_reason(returncode: int, log: str) -> str:
    """One line for a child that ended without writing its row, e.g. ``own process
    killed by SIGKILL during backend x: ...``.

    Args:
        returncode: ``Popen.returncode`` (negative: the signal number).
        log: the child's combined stdout/stderr.
    """
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode} without a row"
    error = _last_error(log)
    return f"own process {how} during {_last_stage(log)}" + (f": {error}" if error else "")


def fingerprint(inputs: Inputs) -> str:
    """SHA-256 over each input tensor's name, shape, dtype and :data:`FINGERPRINT_BYTES`
    evenly spaced bytes (sampled on the device, so a GB of weights costs microseconds):
    two processes that regenerated different inputs disagree on it."""
    digest = hashlib.sha256()
    for name, t in sorted(inputs.tensors.items()):
        flat = t.detach().contiguous().view(-1).view(torch.uint8)
        step = max(1, flat.numel() // FINGERPRINT_BYTES)
        digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        digest.update(flat[::step].cpu().numpy().tobytes())
    return digest.hexdigest()


def load_reference(spec: ChildSpec, inputs: Inputs) -> tuple[Outputs | None, str]:
    """The case's reference outputs from the work folder, computing and saving them (with
    the inputs' fingerprint) when this child is the one to do it."""
    ctx, pt, txt, sha = spec.ctx, spec.workdir / REFERENCE_PT, spec.workdir / REFERENCE_TXT, spec.workdir / INPUTS_SHA
    if pt.exists():
        if sha.exists() and sha.read_text() != fingerprint(inputs):
            return None, "inputs regenerated in this process differ from the reference's (fingerprint): no parity"
        return torch.load(pt, map_location=ctx.cfg.device), ""
    if txt.exists():
        return None, txt.read_text().strip()
    _stage(f"reference {ctx.cfg.reference}")
    ref, reason = reference_outputs(ctx, spec.case, inputs)
    if spec.save_reference:
        if ref is not None:
            sha.write_text(fingerprint(inputs))
            torch.save({k: v.cpu() for k, v in ref.items()}, pt)
        else:
            txt.write_text(reason)
    return ref, reason


def child_main(spec_path: Path, result_path: Path) -> None:
    """Entry point of a child: measure one row and write it to ``result_path`` as JSON
    (``{"row", "rollup", "kernels", "times"}``), then leave at once (``os._exit``: a
    context broken by the kernel can hang or abort in teardown, after the row is safe)."""
    load_plugins()  # the spec may refer to plugin backends (FIBENCH_PLUGINS is inherited)
    spec: ChildSpec = pickle.loads(Path(spec_path).read_bytes())
    times = {"startup_s": time.time() - spec.spawned_at}
    ctx, case, cfg = spec.ctx, spec.case, spec.ctx.cfg
    if cfg.per_kernel:
        from fibench.trace.kernel_map import load_map

        ctx = dataclasses.replace(ctx, kmap=load_map(cfg.suite.name))
    result: dict[str, Any] = {"row": None, "rollup": [], "kernels": []}
    t0 = time.perf_counter()
    _stage("inputs")
    try:
        inputs = cfg.suite.make_inputs(case, cfg.device)
    except Exception as exc:
        inputs, (status, reason) = None, inputs_failure(exc)
    times["inputs_s"] = time.perf_counter() - t0
    if inputs is None:
        if spec.save_reference:
            (spec.workdir / REFERENCE_TXT).write_text(f"reference {cfg.reference} failed: {reason}")
        if spec.backend:
            result["row"] = no_inputs_row(ctx, case, spec.backend, status, reason).json_dict()
    else:
        t0 = time.perf_counter()
        ref, ref_reason = (None, "") if spec.backend == cfg.reference and not spec.save_reference else \
            load_reference(spec, inputs)
        times["reference_s"] = time.perf_counter() - t0
        if spec.backend:
            _stage(f"backend {spec.backend}")
            t0 = time.perf_counter()
            row, result["rollup"], result["kernels"] = run_backend(ctx, case, inputs, spec.backend, ref, ref_reason)
            times["row_s"] = time.perf_counter() - t0
            result["row"] = row.json_dict()
    result["times"] = times
    Path(result_path).write_text(json.dumps(result, default=str))
    sys.stdout.flush()
    os._exit(0)


def _child_env() -> dict[str, str]:
    """The parent's environment, with this fibench first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = fibench.pythonpath_first(env.get("PYTHONPATH"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_child(spec: ChildSpec, tag: str) -> tuple[dict[str, Any] | None, str, float]:
    """Start one child and wait for it; returns (its result or None, why it has none, wall s).

    The child leads its own session, so a Ctrl-C at the terminal reaches only the parent;
    if the parent is stopped (SIGINT/SIGTERM raise in the wait), the child is killed.
    """
    spec_path, result_path = spec.workdir / f"{tag}.spec.pkl", spec.workdir / f"{tag}.result.json"
    spec_path.write_bytes(pickle.dumps(spec))
    log_path = spec.workdir / f"{tag}.log"
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "fibench.sweep.isolate", str(spec_path), str(result_path)],
                                    stdout=log, stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True)
        except OSError as exc:  # e.g. fork refused for lack of memory
            return None, f"own process could not start: {describe_exception(exc, 200)}", time.perf_counter() - t0
        try:
            proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    wall = time.perf_counter() - t0
    try:
        return json.loads(result_path.read_text()), "", wall
    except (OSError, ValueError):
        return None, death_reason(proc.returncode, log_path.read_text(errors="replace")), wall


def _row_from_child(ctx: RunContext, case: Case, name: str, result: dict[str, Any] | None, why: str,
                    wall: float) -> tuple[Row, list, list]:
    if result is None or result.get("row") is None:
        row = failed_row(ctx, case, name, Status.ERROR, why or "own process wrote no row")
        row.extra["isolation"] = {"process_s": wall}
        return row, [], []
    row = Row.from_dict(result["row"])
    times = dict(result.get("times", {}))
    row.isolation_s = wall - times.get("row_s", 0.0)
    row.extra["isolation"] = {"process_s": wall, **times}
    return row, result.get("rollup", []), result.get("kernels", [])


def run_case_isolated(ctx: RunContext, case: Case, names: list[str], on_row: OnRow,
                      on_step: OnStep | None = None) -> None:
    """Run backends ``names`` on ``case``, each in its own child process (a
    :data:`fibench.sweep.loop.CaseRunner`); rows are handed to ``on_row`` in order."""
    cfg = ctx.cfg
    spec_ctx = dataclasses.replace(ctx, kmap=None)
    with tempfile.TemporaryDirectory(prefix="fibench-isolate-") as tmp:
        work = Path(tmp)
        first_is_ref = names[0] == cfg.reference
        if not first_is_ref and any(n != cfg.reference for n in names):
            if on_step:
                on_step(f"{case.case_id}: reference {cfg.reference} (own process)")
            result, why, _ = _run_child(ChildSpec(spec_ctx, case, None, work, True, time.time()), "reference")
            if result is None:
                (work / REFERENCE_TXT).write_text(f"reference {cfg.reference}: {why}")
        for i, name in enumerate(names):
            if on_step:
                on_step(f"{case.case_id}: {name} (own process)")
            save = i == 0 and first_is_ref
            result, why, wall = _run_child(ChildSpec(spec_ctx, case, name, work, save, time.time()), f"row{i}")
            if save and not (work / REFERENCE_PT).exists() and not (work / REFERENCE_TXT).exists():
                (work / REFERENCE_TXT).write_text(f"reference {cfg.reference}: {why or 'no outputs saved'}")
            on_row(*_row_from_child(ctx, case, name, result, why, wall))


if __name__ == "__main__":
    child_main(Path(sys.argv[1]), Path(sys.argv[2]))
