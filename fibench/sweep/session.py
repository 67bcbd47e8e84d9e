"""One ``fibench run`` end to end: run folder, environment, ceilings, sweep, files, report.

The CLI parses options into a :class:`~fibench.sweep.config.RunConfig` and calls
:func:`execute_run`; progress reaches the caller through callbacks, so the library never
imports Typer or Rich. The run folder is checked before any work
(:func:`fibench.outdir.prepare_out_dir`); SIGINT/SIGTERM stop the sweep between two rows,
write report.md of the finished rows and raise :class:`~fibench.errors.Interrupted`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
import signal
import time
from pathlib import Path
from typing import Any, Callable

from fibench.env import EnvSnapshot, collect_env
from fibench.errors import FibenchError, Interrupted, UsageError, describe_exception
from fibench.measure.ceilings import Ceilings, measure_ceilings
from fibench.outdir import prepare_out_dir
from fibench.parity.store import TensorStore
from fibench.report.markdown import write_report
from fibench.sweep.config import RunConfig
from fibench.interrupt import SignalGuard, StopRun
from fibench.sweep.isolate import run_case_isolated
from fibench.sweep.results import Row
from fibench.sweep.sinks import update_run_json
from fibench.sweep.resume import RUN_FILES, Resume, check_env, load_resume, merged_settings
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext
from fibench.sweep.sinks import RunWriter
from fibench.trace.kernel_map import load_map


def open_run(cfg: RunConfig) -> Resume | None:
    """Check ``cfg.out_dir`` before any work and create it; with ``cfg.resume`` read what
    the earlier session finished.

    One process on ``cfg.device``; a multi-GPU run (``cfg.workers``) is started by
    :func:`fibench.distributed.launch.run_distributed`, whose sharded workers call
    :func:`execute_run` with a one-device configuration each.

    Raises:
        UsageError: ``cfg.workers`` is set; see also :func:`fibench.outdir.prepare_out_dir`
            and :func:`fibench.sweep.resume.load_resume`.
    """
    if cfg.workers:
        raise UsageError("a multi-GPU run (--gpus) is started by fibench.distributed.launch.run_distributed")
    prepare_out_dir(cfg.out_dir, owned=RUN_FILES, what="run", resume=cfg.resume)
    return load_resume(cfg.out_dir, cfg.to_record()) if cfg.resume else None


def resume_command(cfg: RunConfig) -> str:
    """The command that continues this run: its own command with ``--out`` and ``--resume``."""
    try:
        words = shlex.split(cfg.command)
    except ValueError:
        words = []
    has_out = any(w in ("--out", "-o") or w.startswith("--out=") for w in words)
    extra = ([] if has_out else ["--out", shlex.quote(str(cfg.out_dir))]) + ([] if cfg.resume else ["--resume"])
    return " ".join([cfg.command or f"fibench run {cfg.suite.name} ...", *extra])


def _stopped(cfg: RunConfig, signum: int, new_rows: int, kept: int) -> Interrupted:
    """Write the report of the finished rows and build the one-line message."""
    name = signal.Signals(signum).name
    if not new_rows and not kept:
        return Interrupted(f"{name}: stopped before the first row; nothing was measured ({cfg.out_dir})", signum)
    update_run_json(cfg.out_dir, stopped_by=name, stopped=dt.datetime.now().isoformat(timespec="seconds"))
    try:
        report = f"report {write_report(cfg.out_dir)}"
    except (FibenchError, OSError) as exc:
        report = f"no report ({describe_exception(exc, 120)})"
    before = f" (+{kept} from before)" if kept else ""
    return Interrupted(f"{name}: stopped after {new_rows} new row{'' if new_rows == 1 else 's'}{before}; the finished rows are in "
                       f"{cfg.out_dir / 'results.csv'}, {report}; continue with: {resume_command(cfg)}", signum)


def _write_start(cfg: RunConfig, writer: RunWriter, resume: Resume | None, env: EnvSnapshot,
                 on_step: Callable[[str], None] | None) -> tuple[Ceilings | None, dict[str, Any]]:
    """Measure the ceilings and write env.json and run.json; a resumed run keeps its
    env.json and ceilings (its rows share one set of SOL ceilings) and extends run.json.

    Returns:
        (ceilings, the env.json data)."""
    settings = cfg.to_record()
    if resume is not None:
        saved = resume.env.get("ceilings")
        writer.write_json("run.json", merged_settings(resume, settings))
        return (Ceilings(**saved) if saved else None), resume.env
    env_data = env.to_dict()
    ceilings: Ceilings | None = None
    if cfg.device.type == "cuda":
        if on_step:
            on_step("measuring copy bandwidth and GEMM ceilings")
        ceilings = measure_ceilings(cfg.device)
        env_data["ceilings"] = dataclasses.asdict(ceilings)
    writer.write_json("env.json", env_data)
    writer.write_json("run.json", {**settings, "started": dt.datetime.now().isoformat(timespec="seconds")})
    return ceilings, env_data


def execute_run(cfg: RunConfig, on_row: Callable[[Row], None] | None = None,
                on_step: Callable[[str], None] | None = None,
                on_start: Callable[[Resume | None], None] | None = None) -> tuple[list[Row], Path]:
    """Run the sweep of ``cfg``, writing the run folder as rows finish.

    Args:
        on_start: called once the folder is checked (with what a resumed run kept),
            before anything is measured.

    Returns:
        (rows of this session, path of report.md).

    Raises:
        KernelMapError: the suite's kernel map is invalid (checked before measuring).
        UsageError: the run folder cannot be used (see :func:`open_run`).
        Interrupted: SIGINT or SIGTERM; the finished rows and report.md are written.
    """
    kmap = load_map(cfg.suite.name) if cfg.per_kernel else None
    resume = open_run(cfg)
    env = collect_env(cfg.device.index or 0)
    if resume is not None:
        check_env(resume, env.to_dict())
    if on_start:
        on_start(resume)
    writer = RunWriter(cfg.out_dir)
    rows: list[Row] = []
    with SignalGuard() as guard:
        try:
            ceilings, env_data = _write_start(cfg, writer, resume, env, on_step)
            store = None
            if cfg.save_tensors is not None:  # manifest: the run's options and the machine (versions, GPU, driver)
                store = TensorStore(cfg.save_tensors, suite=cfg.suite.name, run=cfg.to_record(), env=env_data)
            t0 = time.perf_counter()

            def handle(row: Row, rollup_recs: list, kernel_recs: list) -> None:
                with guard.hold():  # a signal waits until the row is in every file
                    writer.append(row, rollup_recs, kernel_recs)
                    rows.append(row)
                if on_row:
                    on_row(row)

            run_sweep(RunContext(cfg, env, ceilings, kmap, store=store), handle, on_step,
                      done=resume.done if resume else frozenset(), fallback=run_case_isolated)
            update_run_json(cfg.out_dir, finished=dt.datetime.now().isoformat(timespec="seconds"),
                             sweep_s=round(time.perf_counter() - t0, 3))
        except StopRun as stop:
            raise _stopped(cfg, stop.signum, len(rows), len(resume.kept) if resume else 0) from None
    return rows, write_report(cfg.out_dir)
