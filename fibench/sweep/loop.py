"""The sweep loop: every case x backend of a run, case by case, each row handed on as soon
as it is finished (so an interrupted sweep keeps what was measured).

One case at a time: its inputs (generated, or loaded with ``--inputs-from``; saved with
``--save-tensors``), the reference's outputs, then each backend through
:func:`fibench.sweep.runner.run_backend`. A sticky CUDA error (device-side assert, illegal
memory access) leaves the process's CUDA context unusable: :func:`run_sweep` then runs the
rest of the sweep through its ``fallback`` (the session passes isolated child processes,
:mod:`fibench.sweep.isolate`), so one crashing kernel does not fail every later row.
"""

from __future__ import annotations

import functools
from typing import Callable

from fibench.errors import FibenchError
from fibench.parity.store import load_saved_inputs
from fibench.suites.base import Case, Inputs, Outputs
from fibench.sweep.failures import ContextLost, check_context, release
from fibench.sweep.results import Row, Status
from fibench.sweep.rowfiles import case_key, row_key
from fibench.sweep.runner import (OnRow, OnStep, RunContext, failed_row, inputs_failure, no_inputs_row,
                                  reference_outputs, run_backend)

CaseRunner = Callable[["RunContext", Case, list[str], OnRow, "OnStep | None"], None]
"""Runs the named backends of one case and hands each row to the callback (in this
process: :func:`run_case`; in child processes: :func:`fibench.sweep.isolate.run_case_isolated`)."""

RunOne = Callable[..., tuple[Row, list, list]]
"""``run_one(ctx, case, inputs, name, ref, ref_reason, *, against, against_reason, on_outputs)``
-> (row, rollup records, kernel records): :func:`run_backend`'s signature (a collective run
wraps it)."""


def _case_inputs(ctx: RunContext, case: Case) -> Inputs:
    """The case's inputs: generated from the seed, or the tensors saved by an earlier run
    (``--inputs-from``; the Work model and info stay); saved too with ``--save-tensors``."""
    cfg = ctx.cfg
    inputs = cfg.suite.make_inputs(case, cfg.device)
    if cfg.saved_inputs is not None:
        inputs = Inputs(load_saved_inputs(cfg.saved_inputs, case, cfg.device, like=inputs.tensors),
                        inputs.work, {**inputs.info, "inputs_from": str(cfg.inputs_from)})
    if ctx.store is not None:
        ctx.store.save_inputs(case, inputs.tensors)
    return inputs


def run_case(ctx: RunContext, case: Case, names: list[str], on_row: OnRow, on_step: OnStep | None = None, *,
             run_one: RunOne = run_backend) -> None:
    """Run backends ``names`` on ``case`` in this process, sharing one set of inputs.

    Inputs that cannot be made give a row per backend: ``oom`` when memory (GPU or host)
    ran out, ``error`` otherwise (``unsupported`` for a backend that could not run anyway).
    The ``--parity-against`` backend runs first (the config orders it so); its outputs are
    kept for the others' pair columns, and with ``--save-tensors`` every backend's outputs
    are stored.

    Raises:
        ContextLost: after a failed reference or row, the CUDA context no longer works
            (the rows so far have been handed to ``on_row``).
    """
    cfg = ctx.cfg
    if on_step:
        on_step(f"{case.case_id}: inputs")
    try:
        inputs = _case_inputs(ctx, case)
    except FibenchError:
        raise
    except Exception as exc:  # the frames of the failed allocation are freed once this block ends
        inputs, (status, reason) = None, inputs_failure(exc)
    if inputs is None:
        release(cfg.device)
        for name in names:
            on_row(no_inputs_row(ctx, case, name, status, reason), [], [])
        check_context(cfg.device)
        return
    ref, ref_reason = reference_outputs(ctx, case, inputs)
    if ref is None:
        check_context(cfg.device)
    kept: dict[str, Outputs] = {}  # the --parity-against backend's outputs

    def keep(name: str, out: Outputs) -> None:
        if ctx.store is not None:
            ctx.store.save_outputs(case, name, out)
        if name == cfg.parity_against:
            kept[name] = out

    against_reason = ""
    for name in names:
        if on_step:
            on_step(f"{case.case_id}: {name}")
        row, rollup_recs, kernel_recs = run_one(ctx, case, inputs, name, ref, ref_reason,
                                                against=kept.get(cfg.parity_against or ""),
                                                against_reason=against_reason, on_outputs=keep)
        if name == cfg.parity_against and name not in kept:
            against_reason = f"{name} {row.status.value}: {row.reason or 'no outputs'}"
        if ctx.store is not None:
            ctx.store.annotate(case, name, status=row.status.value, deterministic=row.deterministic,
                               graph_deterministic=row.graph_deterministic)
        on_row(row, rollup_recs, kernel_recs)
        if row.status == Status.ERROR:
            check_context(cfg.device)
    kept.clear()  # the pair side's outputs, freed before the cache is emptied
    del inputs, ref
    release(cfg.device)


def run_sweep(ctx: RunContext, on_row: OnRow, on_step: OnStep | None = None, *,
              done: frozenset = frozenset(), fallback: CaseRunner | None = None,
              run_one: RunOne = run_backend) -> list[Row]:
    """Run every case x backend of ``ctx.cfg``; returns the rows (also given to ``on_row``).

    Args:
        done: keys (:func:`fibench.sweep.rowfiles.row_key`) of rows already finished: skipped.
        fallback: runs cases once this process's CUDA context is lost, and every case when
            ``cfg.isolate`` (the session passes
            :func:`fibench.sweep.isolate.run_case_isolated`); without one, the rows left
            after a lost context are ``error`` rows saying so.
        run_one: measures one backend on one case in this process (:func:`run_backend`; a
            collective run passes a wrapper that makes the ranks agree and merges their rows).

    Raises:
        ValueError: ``cfg.isolate`` without a ``fallback``.
    """
    cfg = ctx.cfg
    if cfg.isolate and fallback is None:
        raise ValueError("cfg.isolate needs a fallback case runner (fibench.sweep.isolate.run_case_isolated)")
    rows: list[Row] = []
    finished = set(done)
    runner: CaseRunner = fallback if (cfg.isolate and fallback) else functools.partial(run_case, run_one=run_one)
    lost_note = ""

    def emit(row: Row, rollup_recs: list, kernel_recs: list) -> None:
        if lost_note:
            row.notes = "; ".join(filter(None, [row.notes, lost_note]))
        finished.add(row_key(row))
        rows.append(row)
        on_row(row, rollup_recs, kernel_recs)

    for case in cfg.cases:
        names = [n for n in cfg.backends if case_key(case, n) not in finished]
        if not names:
            continue
        try:
            runner(ctx, case, names, emit, on_step)
        except ContextLost as lost:
            rest = [n for n in names if case_key(case, n) not in finished]
            if fallback is None:
                for name in rest:
                    emit(failed_row(ctx, case, name, Status.ERROR, f"not run: the CUDA context was lost ({lost})"), [], [])
                continue
            lost_note = f"ran in its own process: the sweep's CUDA context was lost at {case.case_id} ({lost})"
            if on_step:
                on_step(f"CUDA context lost ({lost}); the rest of the sweep runs in child processes")
            runner = fallback
            if rest:
                runner(ctx, case, rest, emit, on_step)
    return rows
