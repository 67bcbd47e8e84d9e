"""Rebuild a run's results.jsonl and results.csv from every row that can still be read.

Used by ``fibench report`` (so the files agree again after a crash) and by ``--resume``
(so new rows are not appended after a cut line). A rebuilt file's old version is kept
beside it as ``<name>.broken`` (``.broken.1``, ... when that exists): nothing is deleted.
"""

from __future__ import annotations

from pathlib import Path

from fibench.sweep.rowfiles import CSV, JSONL, RowsRead, read_rows
from fibench.sweep.sinks import write_results


def _keep_aside(path: Path) -> Path | None:
    """Rename ``path`` to a free ``<name>.broken[.N]``; None when it does not exist."""
    if not path.exists():
        return None
    target, n = path.with_name(path.name + ".broken"), 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken.{n}")
    path.rename(target)
    return target


def repair_run(out_dir: Path, read: RowsRead | None = None) -> tuple[RowsRead, list[str]]:
    """Make results.jsonl and results.csv both hold exactly the readable rows.

    Args:
        read: the folder as already read by :func:`read_rows` (read again when None).

    Returns:
        (what was read, one line per problem found and per file rebuilt); no lines when the
        files were already consistent.

    Raises:
        OSError: a file cannot be renamed or written.
    """
    out_dir = Path(out_dir)
    read = read or read_rows(out_dir)
    messages = list(read.problems)
    for name, ok, table in ((JSONL, read.jsonl_ok, False), (CSV, read.csv_ok, True)):
        if ok:
            continue
        old = _keep_aside(out_dir / name)
        kept = f" (the old file is kept as {old.name})" if old else ""
        if not read.rows:  # the first new row writes it (its header follows that row's axes)
            messages.append(f"no readable rows for {name}{kept}")
            continue
        write_results(out_dir, read.rows, table=table, lines=not table)
        messages.append(f"rebuilt {name} from the {len(read.rows)} readable rows{kept}")
    return read, messages
