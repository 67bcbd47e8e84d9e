"""Run folder: rows are appended as soon as they are finished, so an interrupted sweep
keeps everything already measured; :func:`load_run` reads a finished (or interrupted) run
back for ``fibench report``.

Files: results.csv (one row per case x backend, :func:`fibench.sweep.results.csv_columns`: the fixed
columns with the suite's axes after ``size``),
results.jsonl (the same rows plus nested data), rollup.csv (long format: one line per
case x backend x logical op), kernels.csv (long format: every GPU activity of the first
traced call of each row; both hold only their header when no row was traced, e.g. on a CPU),
env.json (environment and measured ceilings), run.json (configuration and command).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fibench.errors import UsageError, describe_exception
from fibench.sweep.results import Row, csv_columns
from fibench.sweep.rowfiles import read_rows

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
        for name, columns in (("rollup.csv", ROLLUP_COLUMNS), ("kernels.csv", KERNEL_COLUMNS)):
            if not (self.out_dir / name).exists():  # header only until a traced row arrives
                pd.DataFrame(columns=columns).to_csv(self.out_dir / name, index=False)

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


def write_results(out_dir: Path, rows: list[Row], *, table: bool = True, lines: bool = True) -> None:
    """Replace results.csv (``table``) and/or results.jsonl (``lines``) of a run with
    ``rows``, in the formats :class:`RunWriter` appends."""
    out_dir = Path(out_dir)
    if table:
        columns = csv_columns(list(rows[0].axes) if rows else [])
        pd.DataFrame([r.csv_dict() for r in rows], columns=columns).to_csv(out_dir / "results.csv", index=False)
    if lines:
        with open(out_dir / "results.jsonl", "w") as fh:
            fh.writelines(json.dumps(_json_safe(r.json_dict()), default=str) + "\n" for r in rows)


def rewrite_rows(out_dir: Path, rows: list[Row], rollup_records: list[dict[str, Any]]) -> None:
    """Replace results.csv, results.jsonl and rollup.csv of a run with ``rows`` (same
    formats as :class:`RunWriter`); used when derived columns are recomputed."""
    write_results(out_dir, rows)
    pd.DataFrame(rollup_records, columns=ROLLUP_COLUMNS).to_csv(Path(out_dir) / "rollup.csv", index=False)


@dataclass
class LoadedRun:
    """A run read back from its folder; ``problems`` has one line per file or line that
    could not be read (see :func:`fibench.sweep.rowfiles.read_rows`)."""

    out_dir: Path
    env: dict[str, Any]
    run: dict[str, Any]
    rows: list[Row]
    rollup: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    """A JSON object file, or {} with a problem line when it is missing or unreadable."""
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return {}
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError as exc:
        problems.append(f"{path.name}: unreadable ({describe_exception(exc, 80)}); its facts are left out")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: not a JSON object; its facts are left out")
        return {}
    return data


def load_run(out_dir: Path) -> LoadedRun:
    """Read a run folder written by :class:`RunWriter`, keeping whatever is readable:
    cut or corrupt lines, a broken results.csv, an unreadable run.json or env.json become
    lines of ``LoadedRun.problems`` (rows results.jsonl lacks are taken from results.csv).

    Raises:
        UsageError: not a folder, or it holds none of results.jsonl, results.csv, run.json.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a directory")
    if not any((out_dir / name).exists() for name in ("results.jsonl", "results.csv", "run.json")):
        raise UsageError(f"{out_dir} has no results.jsonl, results.csv or run.json (not a fibench run folder?)")
    read = read_rows(out_dir)
    problems = list(read.problems)
    env = _read_json(out_dir / "env.json", problems)
    run = _read_json(out_dir / "run.json", problems)
    rollup_path = out_dir / "rollup.csv"
    rollup = pd.DataFrame(columns=ROLLUP_COLUMNS)
    if rollup_path.exists():
        try:
            rollup = pd.read_csv(rollup_path)
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError/EmptyDataError are ValueErrors
            problems.append(f"rollup.csv: unreadable ({describe_exception(exc, 80)}); unmapped-kernel list left out")
    return LoadedRun(out_dir, env, run, read.rows, rollup, problems)


def update_run_json(out_dir: Path | str, **fields: Any) -> None:
    """Add or replace top-level ``fields`` of ``out_dir/run.json`` (session facts such as
    ``finished``, ``sweep_s`` in seconds, ``stopped_by``); a missing or unreadable run.json
    is left alone (the run never got that far)."""
    path = Path(out_dir) / "run.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    path.write_text(json.dumps({**data, **fields}, indent=2, default=str) + "\n")
