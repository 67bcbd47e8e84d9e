"""What each rank of a multi-GPU run does.

Started by fibench (:mod:`fibench.distributed.launch`) as ``python -m fibench.distributed.worker
RUN/launch.json``, or, under a torchrun the user started, called in-process by
:func:`fibench.distributed.launch.run_distributed`. Either way the rank joins the process group
(multicast off first, :mod:`fibench.distributed.env`), checks that every rank has a GPU of one
model, then:

* collective suite: measures the all-reduce ceiling, runs every case and backend in
  lockstep with the other ranks (:mod:`fibench.distributed.collective`); rank 0 writes the rows;
* any other suite: runs its share of the cases into ``shards/rank<r>/`` through the
  single-GPU :func:`fibench.sweep.session.execute_run` (so each GPU's ceilings are its own).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fibench.distributed.ceiling import measure_allreduce_ceiling
from fibench.distributed.env import comm_env
from fibench.distributed.collective import Agreement, collective_run_one, rank0_only
from fibench.distributed.group import GroupInfo, all_gather, broadcast, close_group, init_group, launched_rank
from fibench.distributed.gpus import check_one_model
from fibench.distributed.shards import assign, merge_shards, shard_dir
from fibench.suites.collective import CollectiveSuite
from fibench.env import collect_env
from fibench.report.markdown import write_report
from fibench.sweep.config import RunConfig, resolve_run
from fibench.sweep.results import Row
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext
from fibench.sweep.session import execute_run
from fibench.sweep.sinks import RunWriter
from fibench.trace.kernel_map import load_map

SPEC = "launch.json"


@dataclass
class LaunchSpec:
    """What fibench's launcher hands every rank (written to ``<run>/launch.json``).

    Attributes:
        options: keyword arguments of :func:`resolve_run` (``RunConfig.options``);
        workers: device of each rank, by local rank; out_dir: the run folder.
    """

    options: dict[str, Any]
    workers: list[str]
    out_dir: str

    def write(self, path: Path) -> None:
        """Save as JSON."""
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2, default=str) + "\n")

    @classmethod
    def read(cls, path: Path) -> "LaunchSpec":
        """Load a spec written by :meth:`write`."""
        return cls(**json.loads(Path(path).read_text()))


def rank_config(spec: LaunchSpec, local_rank: int) -> RunConfig:
    """This rank's configuration: the launcher's options on the rank's device."""
    cfg = resolve_run(**spec.options, device=spec.workers[local_rank], out=Path(spec.out_dir))
    return dataclasses.replace(cfg, workers=tuple(spec.workers))


def _say(group: GroupInfo, text: str) -> None:
    print(f"[rank {group.rank} {group.devices[group.rank]}] {text}", flush=True)


def _row_line(row: Row) -> str:
    median = f"{row.median_us:.3g} us" if row.median_us is not None else "-"
    return f"{row.case_id} {row.backend}: {row.status.value} {median}"


def _record(cfg: RunConfig, group: GroupInfo) -> dict[str, Any]:
    """run.json of a multi-GPU run as a rank writes it: the configuration, every rank's
    device, the sentence about them, and the communication environment."""
    return {**cfg.to_record(), "workers": list(group.devices), "gpu_note": cfg.gpu_note,
            "world_size": group.world_size, "comm_env": comm_env()}


def run_shard(cfg: RunConfig, group: GroupInfo) -> list[Row]:
    """Run this rank's share of the cases into ``shards/rank<r>/``; returns its rows."""
    share = assign(len(cfg.cases), group.world_size)[group.rank]
    mine = dataclasses.replace(cfg, cases=[cfg.cases[i] for i in share], out_dir=shard_dir(cfg.out_dir, group.rank),
                               rank=group.rank, workers=())
    rows, _ = execute_run(mine, on_row=lambda row: _say(group, _row_line(row)))
    return rows


def run_collective(cfg: RunConfig, group: GroupInfo) -> list[Row]:
    """Run every case and backend of a collective suite on this rank; rank 0 writes the run
    folder (env.json with every rank's environment and the all-reduce ceiling, run.json,
    rows as they are merged, report.md) and returns the merged rows."""
    suite = cfg.suite
    assert isinstance(suite, CollectiveSuite)
    kmap = load_map(suite.name) if cfg.per_kernel else None
    env = collect_env(cfg.device.index or 0)
    ceiling = measure_allreduce_ceiling(cfg.device, suite.bus_factor(group.world_size))
    envs = all_gather(env.to_dict())
    agreement = Agreement(env.l2_cache_bytes or 0)
    ctx = RunContext(cfg, env, None, kmap, agreement=agreement)
    writer = RunWriter(cfg.out_dir) if group.rank == 0 else None
    if writer:
        writer.write_json("env.json", {**envs[0], "ranks": envs, "comm_ceiling": dataclasses.asdict(ceiling),
                                       "comm_env_notes": list(group.env_notes)})
        writer.write_json("run.json", {**_record(cfg, group), "process_group": group.backend})
        _say(group, f"all-reduce ceiling {ceiling.busbw_gbps:.1f} GB/s busbw ({ceiling.method})")

    def on_row(row: Row, rollup: list, kernels: list) -> None:
        writer.append(row, rollup, kernels)
        _say(group, _row_line(row))

    rows = run_sweep(ctx, rank0_only(group, on_row), run_one=collective_run_one(group, ceiling, agreement))
    suite.finish()
    if writer:
        write_report(cfg.out_dir)
    return rows


def _check_models(cfg: RunConfig, group: GroupInfo) -> str:
    """The one-model rule over every rank's GPU (a run under a user's torchrun was not
    checked by fibench's launcher); returns the report's sentence about the devices."""
    if cfg.device.type != "cuda":
        return f"{group.world_size} CPU workers (no GPU)"
    names = all_gather(torch.cuda.get_device_name(cfg.device))
    return check_one_model(dict(zip(group.devices, names)), allow_mixed=cfg.allow_mixed_gpus)


def run_rank(cfg: RunConfig, *, merge: bool) -> list[Row]:
    """One rank of a multi-GPU run of ``cfg`` (see the module docstring).

    Args:
        merge: rank 0 merges the shards and writes the report once every rank is done
            (under a user's torchrun; fibench's launcher merges in its own process).

    Returns:
        rank 0: the run's rows (merged); other ranks: their own rows.

    Raises:
        UsageError: the ranks' GPUs are of several models (without allow_mixed_gpus).
    """
    collective = isinstance(cfg.suite, CollectiveSuite)
    group = init_group(cfg.device, collective=collective)
    try:
        cfg = dataclasses.replace(cfg, out_dir=Path(broadcast(str(cfg.out_dir))), rank=group.rank)
        cfg = dataclasses.replace(cfg, gpu_note=cfg.gpu_note or _check_models(cfg, group))
        if collective:
            return run_collective(cfg, group)
        if merge and group.rank == 0:
            RunWriter(cfg.out_dir).write_json("run.json", _record(cfg, group))
        rows = run_shard(cfg, group)
        if merge:
            all_gather(len(rows))  # every rank has finished its share
            if group.rank == 0:
                rows = merge_shards(dataclasses.replace(cfg, workers=tuple(group.devices)))
                write_report(cfg.out_dir)
        return rows
    finally:
        close_group()


def main(argv: list[str] | None = None) -> None:
    """Entry point of a launched rank: ``python -m fibench.distributed.worker RUN/launch.json``."""
    args = sys.argv[1:] if argv is None else argv
    spec = LaunchSpec.read(Path(args[0]))
    rank = launched_rank()
    if rank is None:
        raise SystemExit("fibench.distributed.worker runs as a rank started by torchrun / the elastic launcher")
    run_rank(rank_config(spec, rank[2]), merge=False)


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    record(main)()
