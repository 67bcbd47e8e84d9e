"""Starting the ranks of a multi-GPU run with torch.distributed's elastic launcher, the
engine behind torchrun (``torch.distributed.launcher.api.elastic_launch``, standalone
rendezvous on this host as ``torchrun --standalone`` sets it up): one process per device,
each ``python -m fibench.distributed.worker <run>/launch.json``.

The launching process then keeps what the ranks finished, whatever happened to them: it
merges the workers' folders of a sharded sweep (:func:`fibench.distributed.shards.merge_shards`),
renders report.md, and only then reports an interrupt (exit 130) or a failed rank.
Under a torchrun the user started, this process is already a rank and runs as one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import torch

import fibench
from fibench.distributed.env import COMM_ENV
from fibench.distributed.group import launched_rank
from fibench.distributed.shards import merge_shards
from fibench.suites.collective import CollectiveSuite
from fibench.distributed.worker import SPEC, LaunchSpec, run_rank
from fibench.errors import FibenchError, UsageError, describe_exception
from fibench.report.markdown import write_report
from fibench.sweep.config import RunConfig
from fibench.sweep.results import Row
from fibench.sweep.sinks import RunWriter, load_run, update_run_json


class Interrupted(FibenchError):
    """The run was interrupted; every row its workers finished is in the run folder."""

    exit_code = 130


class RankFailed(FibenchError):
    """A rank of a multi-GPU run failed; the rows finished before are in the run folder."""


@contextlib.contextmanager
def child_env() -> Iterator[dict[str, str]]:
    """Environment the ranks inherit, restored afterwards: fibench importable (its folder
    first on PYTHONPATH), NVLink multicast off (:data:`fibench.distributed.env.COMM_ENV`), and
    OMP_NUM_THREADS=1 unless set (as torchrun does for several processes)."""
    changes = {**COMM_ENV, "PYTHONPATH": fibench.pythonpath_first(os.environ.get("PYTHONPATH")),
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield changes
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def describe_failures(exc: BaseException, workers: tuple[str, ...]) -> str:
    """One line per failed rank of a ``ChildFailedError`` ("rank 1 (cuda:1): RuntimeError:
    ..."); the exception's own text when it carries no failures."""
    failures = getattr(exc, "failures", None) or {}
    parts = []
    for rank, failure in sorted(failures.items()):
        message = failure.message
        if isinstance(message, dict):  # error file written by torch.distributed.elastic's @record
            message = message.get("message", "")
        text = str(message).strip().splitlines()[0] if str(message).strip() else f"exit code {failure.exitcode}"
        device = workers[rank] if 0 <= rank < len(workers) else "?"
        parts.append(f"rank {rank} ({device}): {text[:300]}")
    return "; ".join(parts) or describe_exception(exc)


def launch_ranks(cfg: RunConfig) -> None:
    """Start one rank per ``cfg.workers`` device and wait for them.

    Raises:
        KeyboardInterrupt: interrupted (the launcher has passed the signal to the ranks).
        Exception: torch.distributed.elastic's ChildFailedError when a rank failed.
    """
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    spec_path = Path(cfg.out_dir) / SPEC
    LaunchSpec(cfg.options, list(cfg.workers), str(cfg.out_dir)).write(spec_path)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=len(cfg.workers), run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                          start_method="spawn")
    with child_env():
        elastic_launch(config, sys.executable)("-m", "fibench.distributed.worker", str(spec_path))


def _signal_exception() -> type[BaseException]:
    try:
        from torch.distributed.elastic.multiprocessing.api import SignalException
    except ImportError:  # pragma: no cover - torch without the elastic agent
        return KeyboardInterrupt
    return SignalException


def _kept_rows(cfg: RunConfig, collective: bool) -> list[Row]:
    if not collective:
        return merge_shards(cfg)
    try:
        return load_run(cfg.out_dir).rows
    except UsageError:  # rank 0 never wrote a row
        return []


def run_distributed(cfg: RunConfig, *, on_step: Callable[[str], None] | None = None
                    ) -> tuple[list[Row], Path | None]:
    """Run ``cfg`` on several devices: launch one rank per ``cfg.workers`` device, or, in a
    process a user's torchrun started, run as that rank.

    Returns:
        (the run's rows, report.md) — on a rank other than 0 of a user's torchrun: (its
        own rows, None).

    Raises:
        Interrupted: SIGINT/SIGTERM; the finished rows are merged and reported first.
        RankFailed: a rank failed; likewise.
    """
    collective = isinstance(cfg.suite, CollectiveSuite)
    me = launched_rank()
    if me is not None:
        local = me[2]
        device = cfg.workers[local] if cfg.workers else (f"cuda:{local}" if cfg.device.type == "cuda" else "cpu")
        rows = run_rank(dataclasses.replace(cfg, device=torch.device(device)), merge=True)
        return (rows, Path(cfg.out_dir) / "report.md") if me[0] == 0 else (rows, None)
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now().isoformat(timespec="seconds")
    RunWriter(cfg.out_dir).write_json("run.json", {**cfg.to_record(), "comm_env": dict(COMM_ENV), "started": started})
    if on_step:
        on_step(f"starting {len(cfg.workers)} ranks on {', '.join(cfg.workers)} (torch.distributed elastic launch)")
    error: FibenchError | None = None
    t0 = time.perf_counter()
    try:
        launch_ranks(cfg)
    except (KeyboardInterrupt, _signal_exception()) as exc:
        error = Interrupted(f"interrupted ({describe_exception(exc, 80)})")
    except Exception as exc:  # ChildFailedError: a rank failed
        error = RankFailed(describe_failures(exc, cfg.workers))
    # launch_s: the whole launch in seconds (rank start-up, imports, per-GPU ceilings and the
    # sweep), the number to hold against a one-GPU run's wall time
    update_run_json(cfg.out_dir, started=started, finished=dt.datetime.now().isoformat(timespec="seconds"),
                    launch_s=round(time.perf_counter() - t0, 3))
    rows = _kept_rows(cfg, collective)
    report = write_report(cfg.out_dir) if (Path(cfg.out_dir) / "results.jsonl").exists() else None
    if error:
        raise type(error)(f"{error}; kept {len(rows)} finished rows in {cfg.out_dir}")
    return rows, report
