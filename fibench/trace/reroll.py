"""Re-apply the current kernel maps to a finished run's recorded kernels.csv.

When a map was wrong or kernel names drifted (a new FlashInfer version), the rollup can
be recomputed from the recorded trace without touching a GPU. Timings and parity are not
changed; the rollup fields of each row, rollup.csv and the phase times are rewritten, and
each re-rolled row says so in ``rollup_note``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fibench.errors import FibenchError, UsageError
from fibench.trace.kernel_map import load_map
from fibench.trace.profiling import KernelRecord, KernelTrace, is_annotation_name
from fibench.trace.rollup import rollup
from fibench.sweep.sinks import load_run, rewrite_rows


def traces_from_csv(path: Path) -> dict[tuple[str, str], KernelTrace]:
    """Rebuild one :class:`KernelTrace` per (case_id, backend) from a kernels.csv, leaving
    out the profiler ranges an older fibench recorded as kernels
    (:func:`fibench.trace.profiling.is_annotation_name`)."""
    df = pd.read_csv(path, keep_default_na=False)
    df = df[~df["name"].astype(str).map(is_annotation_name)]  # profiler ranges older runs recorded as kernels
    out: dict[tuple[str, str], KernelTrace] = {}
    for (case_id, backend), g in df.groupby(["case_id", "backend"], sort=False):
        calls = []
        for _, c in g.sort_values(["call", "index"]).groupby("call", sort=True):
            calls.append([KernelRecord(n, float(s), float(d), int(st), str(r))
                          for n, s, d, st, r in zip(c["name"], c["start_us"], c["dur_us"], c["stream"],
                                                    c["op_range"] if "op_range" in c else [""] * len(c))])
        out[(case_id, backend)] = KernelTrace(calls)
    return out


def reroll(out_dir: Path) -> int:
    """Recompute the rollup of every traced row of the run in ``out_dir``.

    Returns:
        the number of rows re-rolled.

    Raises:
        UsageError: not a run folder, or no kernels.csv (or kernels.csv.gz, as audits keep
            large traces) in it.
    """
    run = load_run(out_dir)
    path = Path(out_dir) / "kernels.csv"
    if not path.exists() and path.with_suffix(".csv.gz").exists():
        path = path.with_suffix(".csv.gz")  # pandas reads it as it is
    if not path.exists():
        raise UsageError(f"{out_dir} has no kernels.csv (run without --per-kernel?)")
    suite = run.run.get("suite") or (run.rows[0].suite if run.rows else "")
    kmap = load_map(suite)
    traces = traces_from_csv(path)
    records, count = [], 0
    for row in run.rows:
        trace = traces.get((row.case_id, row.backend))
        if trace is None:
            continue
        try:
            r = rollup(trace, kmap, row.backend)
        except FibenchError as exc:
            row.rollup_note = f"re-rolled: {exc}"
            continue
        for name, value in r.row_fields(row.median_us).items():
            setattr(row, name, value)
        row.extra["phases_us"] = r.phases
        row.rollup_note = f"re-rolled from kernels.csv ({r.calls} traced call(s)) with the current {suite} map"
        records += r.records(row.case_id, row.backend)
        count += 1
    rewrite_rows(Path(out_dir), run.rows, records)
    return count
