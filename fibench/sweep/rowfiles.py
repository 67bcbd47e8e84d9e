"""Read a run's rows back from results.jsonl and results.csv, whatever state they are in.

A run is killed at any moment (SIGKILL, out of host memory, power): a line can be cut in
the middle, and since a row goes to results.csv first and results.jsonl second, one file
can hold a row the other lacks. :func:`read_rows` never gives up on a folder: it keeps
every line it can read, takes a row missing from results.jsonl from results.csv, and says
in one line per problem which lines were unreadable. It writes nothing;
:func:`fibench.sweep.repair.repair_run` rebuilds the files from what it read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fibench.errors import describe_exception
from fibench.sweep.results import Row

if TYPE_CHECKING:
    from fibench.suites.base import Case

JSONL, CSV = "results.jsonl", "results.csv"
_NON_FINITE = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(Row)}


def row_key(row: Row) -> tuple[str, str, str, str]:
    """What identifies a row within a run: case, backend, dtype and the full shape
    parameters (two rows with the same key measured the same thing)."""
    return (row.case_id, row.backend, row.dtype, row.params)


def case_key(case: Case, backend: str) -> tuple[str, str, str, str]:
    """The :func:`row_key` the row of ``backend`` on ``case`` will have (``params``
    serialised as :func:`fibench.sweep.runner.failed_row` and the runner's rows do)."""
    return (case.case_id, backend, case.dtype, json.dumps(case.params, sort_keys=True))


@dataclass
class RowsRead:
    """Rows of a run folder and what could not be read.

    Attributes:
        rows: every readable row (results.jsonl order, then rows recovered from results.csv).
        problems: one line per unreadable line or file, e.g. "results.jsonl line 7: cut or
            corrupt (JSONDecodeError: ...), skipped".
        recovered: rows results.jsonl lacks (or holds unreadably) taken from results.csv
            (without their nested data: worst elements, phase times).
        jsonl_ok: results.jsonl holds exactly ``rows``.
        csv_ok: results.csv holds exactly ``rows``.
    """

    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recovered: list[Row] = field(default_factory=list)
    jsonl_ok: bool = True
    csv_ok: bool = True


def _typed(name: str, value: Any) -> Any:
    """Undo the JSON-safe spelling of non-finite floats ("inf", "nan") for float fields."""
    if isinstance(value, str) and value in _NON_FINITE and "float" in _FIELD_TYPES.get(name, ""):
        return _NON_FINITE[value]
    return value


def _from_json(data: Any) -> Row:
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return Row.from_dict({k: _typed(k, v) for k, v in data.items()})


def _read_jsonl(path: Path, out: RowsRead) -> None:
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.rows.append(_from_json(json.loads(line)))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            out.problems.append(f"{JSONL} line {number}: cut or corrupt ({describe_exception(exc, 80)}), skipped")
            out.jsonl_ok = False


def _cell(name: str, text: str) -> Any:
    """A results.csv cell as the row field's type (pandas' spelling: '' = missing)."""
    kind = _FIELD_TYPES.get(name)
    if kind is None:  # an axis column: int, float, bool or text
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
        return {"True": True, "False": False}.get(text, text)
    if text == "" and "None" in kind:
        return None
    if kind.startswith("bool"):
        return {"True": True, "False": False}.get(text, text)
    if kind.startswith("int"):
        return int(float(text))
    if kind.startswith("float"):
        return float(text)
    return text


def _read_csv(path: Path, known: set[tuple], out: RowsRead) -> list[tuple]:
    """Rows of results.csv that results.jsonl lacks go to ``out.recovered``; returns the
    keys of the rows results.csv holds, in order."""
    try:
        records = [r for r in csv.reader(io.StringIO(path.read_text(errors="replace"))) if r]
    except (csv.Error, OSError) as exc:
        out.problems.append(f"{CSV}: unreadable ({describe_exception(exc, 80)})")
        out.csv_ok = False
        return []
    if not records or "case_id" not in records[0]:
        out.problems.append(f"{CSV}: no header row")
        out.csv_ok = False
        return []
    header, seen = records[0], []
    axes = [c for c in header if c not in _FIELD_TYPES]
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            out.problems.append(f"{CSV} record {number}: {len(record)} of {len(header)} fields (cut), skipped")
            out.csv_ok = False
            continue
        cells = dict(zip(header, record))
        try:
            data = {k: _cell(k, v) for k, v in cells.items() if k not in axes}
            row = Row.from_dict({**data, "axes": {a: _cell(a, cells[a]) for a in axes}})
        except (ValueError, TypeError) as exc:
            out.problems.append(f"{CSV} record {number}: unreadable ({describe_exception(exc, 80)}), skipped")
            out.csv_ok = False
            continue
        key = row_key(row)
        seen.append(key)
        if key not in known:
            out.recovered.append(row)
    return seen


def read_rows(out_dir: Path) -> RowsRead:
    """Every readable row of the run in ``out_dir`` (see the module docstring).

    A missing file is a problem only when the other one exists (a run stopped before its
    first row has neither); the caller decides whether no rows is an error.
    """
    out_dir = Path(out_dir)
    out = RowsRead()
    jsonl, table = out_dir / JSONL, out_dir / CSV
    if jsonl.exists():
        _read_jsonl(jsonl, out)
    elif table.exists():
        out.problems.append(f"{JSONL}: missing")
        out.jsonl_ok = False
    known = {row_key(r) for r in out.rows}
    if table.exists():
        in_csv = _read_csv(table, known, out)
        if Counter(in_csv) != Counter(map(row_key, out.rows + out.recovered)):
            if out.csv_ok:  # no line was unreadable: the files simply disagree
                out.problems.append(f"{CSV}: {len(in_csv)} readable rows where {JSONL} has {len(out.rows)}")
            out.csv_ok = False
    elif jsonl.exists():
        out.problems.append(f"{CSV}: missing")
        out.csv_ok = False
    for row in out.recovered:
        out.problems.append(f"row {row.case_id} {row.backend}: missing from {JSONL}, recovered from {CSV}")
    out.rows += out.recovered
    out.jsonl_ok = out.jsonl_ok and not out.recovered
    return out
