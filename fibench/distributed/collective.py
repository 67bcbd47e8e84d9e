"""The per-rank runner of a collective suite (allreduce): every rank runs every case and
backend through :func:`fibench.sweep.loop.run_sweep` and :func:`run_backend` (the same
steps, timers, cold-L2 plans and parity as one GPU), kept in lockstep:

* before a backend, the ranks check that they are at the same case and backend and agree
  whether it can run (if one rank cannot, none does: a rank alone in a collective would
  wait forever);
* the cold-L2 plan is agreed (each rank must capture the same number of collectives);
* each rank's outputs are digested, and rank 0 merges the ranks' rows
  (:func:`fibench.distributed.merge.merge_rank_rows`, gathered with ``all_gather_object``) and
  writes them as they finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable

import torch

from fibench.distributed.ceiling import CommCeiling
from fibench.distributed.group import GroupInfo, all_gather
from fibench.distributed.merge import BusModel, RankResult, merge_rank_rows
from fibench.suites.collective import CollectiveSuite
from fibench.measure.coldl2 import FACTOR, MIN_CALLS_PER_GRAPH, ColdL2Plan
from fibench.suites.base import Case, Inputs, Outputs
from fibench.sweep.results import Row, Status
from fibench.sweep.loop import RunOne
from fibench.sweep.runner import RunContext, failed_row, run_backend, support

MAX_COLLECTIVES_PER_GRAPH = 1024
"""At most this many collective calls captured in one CUDA graph: a rotation plan that needs
more (a one-token all-reduce needs ~10^4 copies for cold L2) becomes a per-call L2 flush."""


def outputs_digest(outputs: Outputs) -> str:
    """SHA-256 over every output's name, dtype, shape and bytes (names sorted): equal digests
    mean bit-identical outputs."""
    h = hashlib.sha256()
    for name in sorted(outputs):
        t = outputs[name].detach().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()


def agree_on_plan(plans: list[ColdL2Plan], *, l2_bytes: int,
                  max_calls: int = MAX_COLLECTIVES_PER_GRAPH) -> ColdL2Plan:
    """The plan every rank uses, from every rank's own plan (index = rank).

    Ranks plan alike unless their free memory differs; then all take the plan with the
    fewest copies (it fits everywhere the others fit). A plan capturing more than
    ``max_calls`` collectives becomes a per-call flush of FACTOR x ``l2_bytes`` (still cold;
    see fibench.measure.coldl2 for its cost per call).
    """
    chosen = min(plans, key=lambda p: (p.copies, p.calls_per_graph))
    notes = [chosen.note]
    if any(p != plans[0] for p in plans):
        notes.append(f"ranks planned differently (free memory); all use rank {plans.index(chosen)}'s plan")
    if chosen.calls_per_graph > max_calls and not chosen.per_call:
        notes.append(f"collective: rotation would capture {chosen.calls_per_graph} calls > {max_calls} per graph; "
                     "flush + per-call events inside the graph")
        chosen = dataclasses.replace(chosen, method="flush", cold=True, copies=1, per_call=True,
                                     calls_per_graph=MIN_CALLS_PER_GRAPH, flush_bytes=FACTOR * l2_bytes)
    return dataclasses.replace(chosen, note="; ".join(filter(None, notes)))


class Agreement:
    """This rank's side of :class:`fibench.sweep.runner.RankAgreement`."""

    def __init__(self, l2_bytes: int) -> None:
        self.l2_bytes = l2_bytes
        self.digests: dict[str, str] = {}

    def plan(self, plan: ColdL2Plan) -> ColdL2Plan:
        """Gather every rank's plan and return the agreed one."""
        return agree_on_plan(all_gather(plan), l2_bytes=self.l2_bytes)

    def outputs(self, backend: str, outputs: Outputs) -> None:
        """Keep the digest of this rank's outputs of ``backend``."""
        self.digests[backend] = outputs_digest(outputs)


def collective_run_one(group: GroupInfo, ceiling: CommCeiling | None, agreement: Agreement) -> RunOne:
    """A ``run_one`` for :func:`run_sweep`: agree on support, run the backend on this rank,
    gather every rank's result; rank 0 returns the merged row, the others their own."""

    def run_one(ctx: RunContext, case: Case, inputs: Inputs, name: str, ref: Any,
                ref_reason: str, **parity: Any) -> tuple[Row, list, list]:
        suite = ctx.cfg.suite
        steps = all_gather((case.case_id, name, support(ctx, case, suite.backends[name]()).reason))
        if len({step[:2] for step in steps}) > 1:  # e.g. one rank skipped a case it had no memory for
            where = ", ".join(f"rank {i} at {c} {b}" for i, (c, b, _) in enumerate(steps))
            raise RuntimeError(f"ranks out of step: {where}")
        reasons = [step[2] for step in steps]
        if any(reasons):
            why = next(r for r in reasons if r)
            row, rollup, kernels = failed_row(ctx, case, name, Status.UNSUPPORTED, why), [], []
        else:
            row, rollup, kernels = run_backend(ctx, case, inputs, name, ref, ref_reason, **parity)
        mine = RankResult(row.json_dict(), rollup, kernels, agreement.digests.pop(name, None))
        results = all_gather(mine)
        if group.rank != 0:
            return row, [], []
        bus = None
        if isinstance(suite, CollectiveSuite):
            bus = BusModel(suite.collective_bytes(case), suite.bus_factor(group.world_size),
                           ceiling.busbw_gbps if ceiling else None)
        return merge_rank_rows(results, bus)

    return run_one


def rank0_only(group: GroupInfo, on_row: Callable[[Row, list, list], None]) -> Callable[[Row, list, list], None]:
    """``on_row`` on rank 0, nothing on the other ranks (their rows are merged into rank 0's)."""
    return on_row if group.rank == 0 else (lambda row, rollup, kernels: None)
