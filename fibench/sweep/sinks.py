"""Run folder: rows are appended as soon as they are finished, so an interrupted sweep
keeps everything already measured; :func:`load_run` reads a finished (or interrupted) run
back for ``fibench report``.

Files: results.csv (one row per case x backend, :func:`fibench.sweep.results.csv_columns`: the fixed
columns with the suite's axes after ``size``),
results.jsonl (the same rows plus nested data), rollup.csv (long format: one line per
case x backend x logical op), kernels.csv (long format: every GPU activity of the first
traced call of each row),
env.json (environment and measured ceilings), run.json (configuration and command).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fibench.errors import UsageError
from fibench.sweep.results import Row, csv_columns

ROLLUP_COLUMNS = ["case_id", "backend", "op", "phase", "mean_us", "share", "kernels_per_call", "kernels"]
KERNEL_COLUMNS = ["case_id", "backend", "call", "index", "name", "op", "phase", "op_range", "stream", "start_us",
                  "dur_us"]


def _append_csv(path: Path, records: list[dict[str, Any]], columns: list[str]) -> None:
    if not records:
        return
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame.to_csv(path, mode="a", header=not path.exists(), index=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class RunWriter:
    """Appends rows and their rollups to a run folder.

    Args:
        out_dir: the run folder (created).
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        """Write ``name`` (e.g. env.json) in the run folder."""
        (self.out_dir / name).write_text(json.dumps(_json_safe(data), indent=2, default=str) + "\n")

    def append(self, row: Row, rollup_records: list[dict[str, Any]] | None = None,
               kernel_records: list[dict[str, Any]] | None = None) -> None:
        """Append one finished row (and its rollup / kernel lines) to every file."""
        _append_csv(self.out_dir / "results.csv", [row.csv_dict()], csv_columns(list(row.axes)))
        with open(self.out_dir / "results.jsonl", "a") as fh:
            fh.write(json.dumps(_json_safe(row.json_dict()), default=str) + "\n")
        _append_csv(self.out_dir / "rollup.csv", rollup_records or [], ROLLUP_COLUMNS)
        _append_csv(self.out_dir / "kernels.csv", kernel_records or [], KERNEL_COLUMNS)


def rewrite_rows(out_dir: Path, rows: list[Row], rollup_records: list[dict[str, Any]]) -> None:
    """Replace results.csv, results.jsonl and rollup.csv of a run with ``rows`` (same
    formats as :class:`RunWriter`); used when derived columns are recomputed."""
    out_dir = Path(out_dir)
    columns = csv_columns(list(rows[0].axes) if rows else [])
    pd.DataFrame([r.csv_dict() for r in rows], columns=columns).to_csv(out_dir / "results.csv", index=False)
    with open(out_dir / "results.jsonl", "w") as fh:
        fh.writelines(json.dumps(_json_safe(r.json_dict()), default=str) + "\n" for r in rows)
    pd.DataFrame(rollup_records, columns=ROLLUP_COLUMNS).to_csv(out_dir / "rollup.csv", index=False)


@dataclass
class LoadedRun:
    """A run read back from its folder."""

    out_dir: Path
    env: dict[str, Any]
    run: dict[str, Any]
    rows: list[Row]
    rollup: pd.DataFrame


def load_run(out_dir: Path) -> LoadedRun:
    """Read a run folder written by :class:`RunWriter`.

    Raises:
        UsageError: the folder or its results.jsonl is missing, or a line is not JSON
            (the last line of an interrupted run may be cut: it is skipped).
    """
    out_dir = Path(out_dir)
    path = out_dir / "results.jsonl"
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a directory")
    if not path.exists():
        raise UsageError(f"{out_dir} has no results.jsonl (not a fibench run folder?)")
    rows = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(Row.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            if i == len(lines) - 1:
                continue  # a line cut by an interrupt
            raise UsageError(f"{path}:{i + 1}: unreadable row: {exc}") from None
    env = json.loads((out_dir / "env.json").read_text()) if (out_dir / "env.json").exists() else {}
    run = json.loads((out_dir / "run.json").read_text()) if (out_dir / "run.json").exists() else {}
    rollup_path = out_dir / "rollup.csv"
    rollup = pd.read_csv(rollup_path) if rollup_path.exists() else pd.DataFrame(columns=ROLLUP_COLUMNS)
    return LoadedRun(out_dir, env, run, rows, rollup)
