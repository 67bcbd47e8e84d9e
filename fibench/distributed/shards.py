"""A sharded sweep: which worker runs which case, and one run folder from the workers'.

Assignment: case i (in the order of the run's cases: ops, then sizes, then the swept axes)
goes to worker i mod W, with all its backends (they share the case's inputs and reference
outputs). Round-robin spreads the sizes, hence the cost, over the workers.

Each worker writes a complete run folder of its own, ``shards/rank<r>/`` (env.json with its
GPU's ceilings, rows as they finish); :func:`merge_shards` then writes the run folder's files
from them in the order a single-GPU run writes its rows, so the two compare line by line. It
reads whatever the workers finished: an interrupted run keeps every finished row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fibench.errors import UsageError
from fibench.sweep.config import RunConfig
from fibench.sweep.results import Row
from fibench.sweep.sinks import KERNEL_COLUMNS, ROLLUP_COLUMNS, LoadedRun, RunWriter, load_run, rewrite_rows

SHARDS = "shards"


def assign(n_cases: int, n_workers: int) -> list[list[int]]:
    """Case indices of each worker: case i to worker i mod ``n_workers``.

    Raises:
        ValueError: fewer than one worker.
    """
    if n_workers < 1:
        raise ValueError(f"need at least one worker, got {n_workers}")
    return [list(range(w, n_cases, n_workers)) for w in range(n_workers)]


def shard_dir(out_dir: Path, rank: int) -> Path:
    """The run folder of worker ``rank``."""
    return Path(out_dir) / SHARDS / f"rank{rank}"


def row_order(cfg: RunConfig):
    """Sort key of a row (or a record with ``case_id`` and ``backend``) in a single-GPU run
    of ``cfg``: case, then backend; unknown ones last, in their given order."""
    cases = {c.case_id: i for i, c in enumerate(cfg.cases)}
    backends = {b: i for i, b in enumerate(cfg.backends)}

    def key(case_id: str, backend: str) -> tuple[int, int]:
        return cases.get(case_id, len(cases)), backends.get(backend, len(backends))
    return key


def _shards(out_dir: Path, workers: int) -> list[LoadedRun]:
    loaded = []
    for rank in range(workers):
        try:
            loaded.append(load_run(shard_dir(out_dir, rank)))
        except UsageError:  # the worker stopped before writing a row
            continue
    return loaded


def _sorted_frame(frames: list[pd.DataFrame], columns: list[str], key) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True)
    order = sorted(range(len(frame)), key=lambda i: key(str(frame.at[i, "case_id"]), str(frame.at[i, "backend"])))
    return frame.iloc[order].reset_index(drop=True)


def _worker_env(rank: int, env: dict[str, Any]) -> dict[str, Any]:
    return {"rank": rank, "gpu_name": env.get("gpu_name"), "ceilings": env.get("ceilings"),
            "sm_clock_mhz": env.get("sm_clock_mhz")}


def merge_shards(cfg: RunConfig) -> list[Row]:
    """Write the run folder ``cfg.out_dir`` from its workers' folders: results.csv,
    results.jsonl, rollup.csv and kernels.csv in single-GPU order, env.json (the first
    worker's environment plus every worker's GPU and ceilings under ``workers``).

    Returns:
        the merged rows (empty when no worker finished a row).
    """
    out = Path(cfg.out_dir)
    shards = _shards(out, len(cfg.workers))
    key = row_order(cfg)
    rows = sorted((r for s in shards for r in s.rows), key=lambda r: key(r.case_id, r.backend))
    rollup = _sorted_frame([s.rollup for s in shards], ROLLUP_COLUMNS, key)
    rewrite_rows(out, rows, rollup.to_dict("records"))
    kernel_files = [shard_dir(out, r) / "kernels.csv" for r in range(len(cfg.workers))]
    kernels = _sorted_frame([pd.read_csv(p, on_bad_lines="skip") for p in kernel_files if p.exists()],
                            KERNEL_COLUMNS, key)
    if not kernels.empty:
        kernels.to_csv(out / "kernels.csv", index=False)
    if shards:
        env = dict(shards[0].env)
        env["workers"] = [_worker_env(int(s.out_dir.name.removeprefix("rank")), s.env) for s in shards]
        RunWriter(out).write_json("env.json", env)
    return rows

