"""``fibench run ... --out DIR --resume``: continue a run, skipping rows already finished
with the same configuration.

A row is finished when results.jsonl or results.csv holds it, whatever its status (an
``error`` row is a result; delete its line to measure it again). It is the same row when
case, backend, dtype and every shape parameter agree (:func:`fibench.sweep.rowfiles.row_key`),
and the run's measurement settings agree: every run.json key except :data:`FREE_KEYS`
(what to run and bookkeeping) must be equal, and the GPU and software of env.json must
be the same. Otherwise the resume is refused with the first differences, since rows
measured two ways would sit in one table.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fibench.errors import UsageError, describe_exception
from fibench.sweep.repair import repair_run
from fibench.sweep.results import Row
from fibench.sweep.rowfiles import row_key

RUN_FILES = ("run.json", "results.jsonl", "results.csv")
"""Files whose presence makes a folder a run folder (refused by ``--out`` without ``--resume``)."""

SESSION_KEYS = frozenset({"started", "finished", "sweep_s", "stopped", "stopped_by"})
"""run.json keys about the latest session only (when it started, finished or was stopped)."""

FREE_KEYS = SESSION_KEYS | {"sizes", "ops", "backends", "baseline", "shape", "command", "notice", "resumed",
                            "isolate"}
"""run.json keys a resumed session may change: what to run (rows are matched by their
own shape parameters), the report's baseline, whether rows run in child processes, and
bookkeeping. Any other key (timer settings, iterations, dtype, device, seed, ...) must match."""

ENV_KEYS = ("gpu_name", "compute_capability", "driver_version", "torch_version", "torch_cuda_runtime",
            "flashinfer_version", "fibench_version")
"""env.json facts that must match for rows of two sessions to share a table."""


@dataclass
class Resume:
    """What an earlier session left in the folder.

    Attributes:
        previous: its run.json; env: its env.json (kept: the run's environment is the
            first session's); kept: rows already finished; done: their keys;
        messages: lines about unreadable or rebuilt files.
    """

    previous: dict[str, Any]
    env: dict[str, Any]
    kept: list[Row]
    done: frozenset[tuple[str, str, str, str]]
    messages: list[str] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume: cannot read {path} ({describe_exception(exc, 80)}); "
                         "without it the run's settings are unknown") from None
    if not isinstance(data, dict):
        raise UsageError(f"--resume: {path} is not a JSON object")
    return data


def _differences(before: dict[str, Any], now: dict[str, Any], keys: list[str]) -> list[str]:
    return [f"{k}={before.get(k)!r} then, {now.get(k)!r} now" for k in keys
            if json.dumps(before.get(k), sort_keys=True, default=str) != json.dumps(now.get(k), sort_keys=True, default=str)]


def load_resume(out_dir: Path, settings: dict[str, Any]) -> Resume:
    """Check that the run in ``out_dir`` can be continued with ``settings`` (the run.json
    this session would write) and read its finished rows, rebuilding results files that
    an interrupt left cut (:func:`fibench.sweep.repair.repair_run`).

    Raises:
        UsageError: run.json unreadable, or a setting outside :data:`FREE_KEYS` differs.
    """
    out_dir = Path(out_dir)
    previous = _read_json(out_dir / "run.json")
    keys = sorted((set(previous) | set(settings)) - FREE_KEYS)
    diff = _differences(previous, settings, keys)
    if diff:
        raise UsageError(f"--resume: {out_dir} was run with other settings ({'; '.join(diff[:3])}); "
                         "rows measured two ways would share a table: use a new --out")
    env = _read_json(out_dir / "env.json") if (out_dir / "env.json").exists() else {}
    read, messages = repair_run(out_dir)
    done = frozenset(map(row_key, read.rows))
    return Resume(previous, env, read.rows, done, messages)


def check_env(resume: Resume, env_now: dict[str, Any]) -> None:
    """Refuse to continue on another GPU or software stack.

    Raises:
        UsageError: a fact of :data:`ENV_KEYS` differs from the run's env.json.
    """
    if not resume.env:
        return
    diff = _differences(resume.env, env_now, list(ENV_KEYS))
    if diff:
        raise UsageError(f"--resume: this machine differs from the run's env.json ({'; '.join(diff[:3])}); "
                         "use a new --out")


def merged_settings(resume: Resume, settings: dict[str, Any]) -> dict[str, Any]:
    """run.json after a resumed session: the earlier settings, the union of what was run,
    this session's baseline, and one ``resumed`` entry (command, time, rows kept)."""
    prev = resume.previous
    merged = {k: v for k, v in prev.items() if k not in SESSION_KEYS - {"started"}}
    merged["baseline"] = settings.get("baseline", prev.get("baseline"))
    for key in ("sizes", "ops", "backends"):
        merged[key] = list(dict.fromkeys([*(prev.get(key) or []), *(settings.get(key) or [])]))
    merged["sizes"] = sorted(merged["sizes"])
    merged["resumed"] = [*(prev.get("resumed") or []), {
        "command": settings.get("command", ""), "started": dt.datetime.now().isoformat(timespec="seconds"),
        "rows_kept": len(resume.kept), "isolate": settings.get("isolate", False)}]
    return merged
