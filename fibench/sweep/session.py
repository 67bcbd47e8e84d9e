"""One ``fibench run`` end to end: environment, ceilings, sweep, files, report.

The CLI parses options into a :class:`~fibench.sweep.config.RunConfig` and calls
:func:`execute_run`; progress reaches the caller through callbacks, so the library never
imports Typer or Rich.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from fibench.errors import UsageError
from fibench.measure.ceilings import Ceilings, measure_ceilings
from fibench.sweep.config import RunConfig
from fibench.env import collect_env
from fibench.trace.kernel_map import load_map
from fibench.parity.store import TensorStore
from fibench.report.markdown import write_report
from fibench.sweep.results import Row
from fibench.sweep.runner import RunContext, run_sweep
from fibench.sweep.sinks import RunWriter


def execute_run(cfg: RunConfig, on_row: Callable[[Row], None] | None = None,
                on_step: Callable[[str], None] | None = None) -> tuple[list[Row], Path]:
    """Run the sweep of ``cfg``, writing the run folder as rows finish.

    Returns:
        (rows, path of report.md).

    One process on ``cfg.device``; a multi-GPU run (``cfg.workers``) is started by
    :func:`fibench.distributed.launch.run_distributed`, whose sharded workers call this function.

    Raises:
        KernelMapError: the suite's kernel map is invalid (checked before measuring).
        UsageError: ``cfg.workers`` is set (a multi-GPU configuration).
    """
    if cfg.workers:
        raise UsageError("a multi-GPU run (--gpus) is started by fibench.distributed.launch.run_distributed")
    kmap = load_map(cfg.suite.name) if cfg.per_kernel else None
    writer = RunWriter(cfg.out_dir)
    env = collect_env(cfg.device.index or 0)
    ceilings: Ceilings | None = None
    env_data = env.to_dict()
    if cfg.device.type == "cuda":
        if on_step:
            on_step("measuring copy bandwidth and GEMM ceilings")
        ceilings = measure_ceilings(cfg.device)
        env_data["ceilings"] = dataclasses.asdict(ceilings)
    writer.write_json("env.json", env_data)
    run_info = cfg.to_record()
    writer.write_json("run.json", run_info)
    store = None
    if cfg.save_tensors is not None:  # manifest: the run's options and the machine (versions, GPU, driver)
        store = TensorStore(cfg.save_tensors, suite=cfg.suite.name, run=run_info, env=env_data)
    ctx = RunContext(cfg, env, ceilings, kmap, store=store)

    def handle(row: Row, rollup_recs: list, kernel_recs: list) -> None:
        writer.append(row, rollup_recs, kernel_recs)
        if on_row:
            on_row(row)

    rows = run_sweep(ctx, handle, on_step)
    return rows, write_report(cfg.out_dir)
