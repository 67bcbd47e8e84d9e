"""Run a probe subprocess with a timeout and turn whatever happened into a
:class:`ProbeResult`: the JSON line it printed, or a timeout, a crash, a traceback.

The child runs in its own process group so a timeout also stops the ninja/nvcc
processes a --build probe started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from fibench.audit.compat.categorize import categorize, first_error_line, last_exception_line, tail
from fibench.audit.compat.guard import COMPILING_NOTE
from fibench.audit.compat.model import Category, ProbeResult, Status

RESULT_MARKER = "FIBENCH_COMPAT_RESULT "
FACTS_MARKER = "FIBENCH_COMPAT_FACTS "


@dataclass
class ProcessOutcome:
    """What a finished (or killed) child left: exit code (negative = signal), output,
    whether the timeout fired, and wall time in seconds."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    elapsed_s: float


def run_process(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> ProcessOutcome:
    """Run ``argv``, killing its whole process group after ``timeout_s`` seconds.

    Raises:
        OSError: the executable could not be started.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
        env=env, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        timed_out = True
    except BaseException:  # the audit itself is stopped (SIGINT/SIGTERM): no orphaned probe
        _kill_group(proc)
        proc.wait()
        raise
    return ProcessOutcome(proc.returncode, out or "", err or "", timed_out, time.monotonic() - t0)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def marker_line(stdout: str, marker: str) -> str | None:
    """The payload of the last stdout line starting with ``marker``, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker):
            return line[len(marker):]
    return None


def find_marker(stdout: str, marker: str) -> dict[str, Any] | None:
    """The JSON object after the last ``marker`` line; None when absent or unreadable."""
    payload = marker_line(stdout, marker)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def outcome_to_result(name: str, family: str, outcome: ProcessOutcome, timeout_s: float) -> ProbeResult:
    """Interpret a probe child's outcome.

    A result line wins, even when the process hung or crashed after printing it (its
    elapsed time is replaced by the wall time seen here);
    otherwise a timeout is TIMEOUT, death by signal is a runtime error naming the
    signal, and anything else is categorised from the last exception line of stderr.
    """
    payload = marker_line(outcome.stdout, RESULT_MARKER)
    if payload is not None:  # a printed result counts even if the process then hung or crashed
        data = find_marker(outcome.stdout, RESULT_MARKER)
        try:
            result = ProbeResult.from_dict(data) if data is not None else None
        except (TypeError, ValueError):
            result = None
        if result is None:
            return _fail(name, family, Category.RUNTIME_ERROR, f"unreadable probe result: {payload[:200]}", outcome)
        result.elapsed_s = outcome.elapsed_s
        return result
    if outcome.timed_out:
        compiling = _compiling(outcome)
        doing = f" while compiling JIT module {compiling}" if compiling else ""
        return _fail(name, family, Category.TIMEOUT, f"no result within {timeout_s:g} s{doing}", outcome)
    if outcome.returncode is not None and outcome.returncode < 0:
        sig = _signal_name(-outcome.returncode)
        return _fail(name, family, Category.RUNTIME_ERROR, f"probe process killed by {sig}", outcome)
    line = last_exception_line(outcome.stderr) or f"probe exited with code {outcome.returncode} and no result"
    category = categorize(outcome.stderr or line)
    reason = first_error_line(outcome.stderr, category) if category is Category.COMPILE_FAILURE else line
    return _fail(name, family, category, reason, outcome)


def _fail(name: str, family: str, category: Category, reason: str, outcome: ProcessOutcome) -> ProbeResult:
    return ProbeResult(name, family, Status.FAILS, reason, category, elapsed_s=outcome.elapsed_s,
                       log_tail=tail(outcome.stderr))


def _compiling(outcome: ProcessOutcome) -> str | None:
    """Name of the last module the child announced it was compiling (guard.py), if any."""
    names = [ln[len(COMPILING_NOTE):].strip() for ln in outcome.stderr.splitlines() if ln.startswith(COMPILING_NOTE)]
    return names[-1] if names else None


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def probe_argv(name: str, build: bool, device_index: int, max_compile_s: float) -> list[str]:
    """Command line of the probe child for catalog probe ``name``."""
    argv = [sys.executable, "-m", "fibench.audit.compat.probe", "run", name,
            "--device-index", str(device_index), "--max-compile-s", f"{max_compile_s:g}"]
    return argv + (["--build"] if build else [])


def facts_argv() -> list[str]:
    """Command line of the FlashInfer-facts child."""
    return [sys.executable, "-m", "fibench.audit.compat.probe", "facts"]


def collect_flashinfer_facts(timeout_s: float = 120.0) -> dict[str, Any]:
    """Run the facts child; on any failure return ``{"error": <one line>}``."""
    try:
        outcome = run_process(facts_argv(), timeout_s, _child_env())
    except OSError as exc:
        return {"error": f"could not start python: {exc}"}
    data = find_marker(outcome.stdout, FACTS_MARKER)
    if data is not None:
        return data
    if outcome.timed_out:
        return {"error": f"flashinfer facts: no answer within {timeout_s:g} s"}
    return {"error": "flashinfer facts: " + (last_exception_line(outcome.stderr) or "no output")}


def run_probe_process(name: str, family: str, build: bool, device_index: int, timeout_s: float) -> ProbeResult:
    """Run one catalog probe in a child and interpret the outcome (never raises)."""
    argv = probe_argv(name, build, device_index, timeout_s)
    try:
        outcome = run_process(argv, timeout_s, _child_env())
    except OSError as exc:
        return ProbeResult(name, family, Status.FAILS, f"could not start the probe: {exc}", Category.RUNTIME_ERROR)
    return outcome_to_result(name, family, outcome, timeout_s)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
