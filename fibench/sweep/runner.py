"""Measure one backend on one case: it becomes one :class:`~fibench.sweep.results.Row`
(the sweep loop, :mod:`fibench.sweep.loop`, hands each to ``on_row`` as soon as it is done).

Per backend: needs check -> prepare (outside any timing) -> first call (JIT, autotune;
its own column) -> parity against the reference on fresh copies of the inputs, plus a
second call for run-to-run determinism -> timed pass -> per-kernel pass and rollup.
Out-of-memory (GPU or host) becomes status ``oom``; any other exception ``error`` with
its message; the sweep goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from fibench.measure.ceilings import Ceilings
from fibench.measure.coldl2 import ColdL2Plan, plan_cold_l2
from fibench.measure.stats import round_spread_pct
from fibench.sweep.config import RunConfig
from fibench.distributed.gpus import gpus_argument
from fibench.env import EnvSnapshot
from fibench.errors import KernelMapError, describe_exception
from fibench.trace.kernel_map import KernelMap
from fibench.parity.determinism import graph_vs_eager
from fibench.suites.needs import NeedsCheck, check_needs
from fibench.parity.metrics import ParityResult, outputs_bitwise_equal
from fibench.parity.pairwise import comparison_fields, pair_row_fields
from fibench.suites.collective import CollectiveSuite
from fibench.trace.profiling import KernelTrace, trace_calls
from fibench.sweep.failures import out_of_memory, release
from fibench.sweep.results import Row, Status
from fibench.trace.rollup import rollup
from fibench.suites.base import Backend, Case, Inputs, Launch, Outputs
from fibench.measure.timing import Timing, run_timing

OnRow = Callable[[Row, list[dict[str, Any]], list[dict[str, Any]]], None]
OnStep = Callable[[str], None]
class RankAgreement(Protocol):
    """What the ranks of a collective run must agree on while each runs the steps below
    (implemented by :class:`fibench.distributed.collective.Agreement`)."""

    def plan(self, plan: ColdL2Plan) -> ColdL2Plan:
        """The cold-L2 plan every rank uses (each rank must capture the same collectives)."""

    def outputs(self, backend: str, outputs: Outputs) -> None:
        """Record this rank's outputs of ``backend`` (ranks are compared bit for bit)."""


@dataclass
class RunContext:
    """What every backend of a run shares: configuration, environment, ceilings, map, and
    on the ranks of a collective run (fibench.distributed) the agreement between ranks."""

    cfg: RunConfig
    env: EnvSnapshot
    ceilings: Ceilings | None
    kmap: KernelMap | None
    store: Any = None  # fibench.parity.store.TensorStore when --save-tensors
    agreement: RankAgreement | None = None


def fresh_tensors(launch: Launch) -> dict[str, torch.Tensor]:
    """The launch's reads, with tensors the call mutates replaced by private clones."""
    return {k: (v.clone() if k in launch.mutates else v) for k, v in launch.reads.items()}


def call_once(launch: Launch, device: torch.device, first: bool = False, *, parity: bool = False) -> Outputs:
    """Run one call on fresh inputs and return cloned outputs (synchronised); ``parity``
    runs ``launch.parity_bind`` when the launch has one."""
    bind = launch.parity_bind if (parity and launch.parity_bind) else launch.bind
    call = bind(fresh_tensors(launch))
    ctx = launch.first_call_context() if (first and launch.first_call_context) else contextlib.nullcontext()
    with ctx:
        out = call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {k: v.clone() for k, v in out.items()}


def repro_command(cfg: RunConfig, case: Case, backend: str) -> str:
    """A ``fibench run`` command that reproduces one row (with ``--gpus`` for the ranks of a
    collective run; a sharded worker's row reproduces on one GPU)."""
    shape = " ".join(a.argument(case.params[a.name]) for a in cfg.suite.axes)
    parts = [f"fibench run {cfg.suite.name} --model {case.params['model']} {shape}".rstrip(),
             f"--op {case.op} --sizes {case.size} --backends {backend} --reference {cfg.reference}",
             f"--dtype {case.dtype} --cold-l2 {cfg.cold_l2} --seed {case.seed}",
             f"--warmup {cfg.warmup} --timer {cfg.timer} --rounds {cfg.rounds}"]
    stop = cfg.stop
    parts.append(f"--target-noise {stop.target_pct:g}% --min-samples {stop.min_samples} --max-time {stop.max_time_s:g}"
                 if stop.adaptive else f"--iters {stop.min_samples}")
    gpus = gpus_argument(cfg.workers) if cfg.workers else None
    parts.append(f"--gpus {gpus}" if gpus else f"--device {cfg.device.type}")
    if not cfg.graph:
        parts.append("--no-graph")
    if cfg.parity_against and cfg.parity_against != backend:
        parts.append(f"--parity-against {cfg.parity_against}")
    if cfg.inputs_from:
        parts.append(f"--inputs-from {cfg.inputs_from}")
    return " ".join(parts)


def _base_row(ctx: RunContext, case: Case, backend: str) -> dict[str, Any]:
    cfg = ctx.cfg
    return dict(suite=case.suite, case_id=case.case_id, op=case.op, size=case.size, dtype=case.dtype,
                model=str(case.params.get("model", "")), backend=backend,
                axes={a.name: case.params[a.name] for a in cfg.suite.axes},
                params=json.dumps(case.params, sort_keys=True), is_reference=backend == cfg.reference,
                device=str(cfg.device), gpu_name=ctx.env.gpu_name or "cpu", rank=cfg.rank,
                gpus=str(cfg.device.index) if cfg.device.type == "cuda" and cfg.device.index is not None else "",
                cold_l2_requested=cfg.cold_l2, warmup=cfg.warmup, timer_requested=cfg.timer,
                command=repro_command(cfg, case, backend))


def support(ctx: RunContext, case: Case, backend: Backend) -> NeedsCheck:
    """Whether ``backend`` can run ``case`` here: its own shape/dtype limits first, then its
    needs (CUDA, compute capability, modules, JIT); ``reason`` is None when it can."""
    reason = backend.unsupported_reason(case)
    return NeedsCheck(reason) if reason else check_needs(backend.needs, ctx.cfg.device, ctx.cfg.jit)


def failed_row(ctx: RunContext, case: Case, backend: str, status: Status, reason: str) -> Row:
    """A row for a backend that produced no measurement (oom, error) with its reason."""
    return Row(status=status, reason=reason, **_base_row(ctx, case, backend))


def inputs_failure(exc: Exception) -> tuple[Status, str]:
    """Status and reason of the rows of a case whose inputs could not be made: ``oom`` when
    memory (GPU or host) ran out, ``error`` otherwise."""
    if out_of_memory(exc):
        return Status.OOM, f"inputs: out of memory: {describe_exception(exc, 200)}"
    return Status.ERROR, f"inputs: {describe_exception(exc, 200)}"


def no_inputs_row(ctx: RunContext, case: Case, backend: str, status: Status, reason: str) -> Row:
    """The row of ``backend`` on a case without inputs: ``unsupported`` (with its own
    reason) when it could not have run anyway, else ``status`` and ``reason``."""
    unsupported = support(ctx, case, ctx.cfg.suite.backends[backend]()).reason
    return failed_row(ctx, case, backend, Status.UNSUPPORTED if unsupported else status, unsupported or reason)


def _cpu_plan(requested: str, mutates: bool) -> ColdL2Plan:
    return ColdL2Plan(requested, "n/a", False, 1, 1, mutates, 0, "CPU run: no L2 control")


def plan_factory(ctx: RunContext, inputs: Inputs, launch: Launch) -> Callable[[bool], ColdL2Plan]:
    """Cold-L2 planner for one launch (see :func:`fibench.measure.coldl2.plan_cold_l2`)."""
    cfg = ctx.cfg
    agree = ctx.agreement.plan if ctx.agreement else (lambda p: p)
    if cfg.device.type != "cuda":
        return lambda graph: agree(_cpu_plan(cfg.cold_l2, bool(launch.mutates)))

    def plan(graph: bool) -> ColdL2Plan:
        free, _ = torch.cuda.mem_get_info(cfg.device)
        return agree(plan_cold_l2(cfg.cold_l2, graph=graph, l2_bytes=ctx.env.l2_cache_bytes or 0,
                                  traffic_bytes=inputs.work.bytes_total, set_bytes=launch.read_bytes(),
                                  free_bytes=free, mutates=bool(launch.mutates)))
    return plan


def _timing_fields(t: Timing, inputs: Inputs, ceilings: Ceilings | None) -> dict[str, Any]:
    s, plan = t.stats, t.plan
    seconds = s.median_us * 1e-6
    tflops = inputs.work.flop / seconds / 1e12 if seconds > 0 else None
    tbps = inputs.work.bytes_total / seconds / 1e12 if seconds > 0 else None
    fields: dict[str, Any] = dict(
        timer=t.timer, cold_l2_method=plan.method, l2_cold=plan.cold, rotation_copies=plan.copies,
        calls_per_graph=plan.calls_per_graph, cold_l2_note=plan.note,
        median_us=s.median_us, mean_us=s.mean_us, std_us=s.std_us, min_us=s.min_us, max_us=s.max_us,
        p10_us=s.p10_us, p90_us=s.p90_us, samples=s.samples, tflops=tflops, tbps=tbps,
        flop=inputs.work.flop, bytes_read=inputs.work.bytes_read, bytes_written=inputs.work.bytes_written,
        timer_requested=t.requested, median_ci_low_us=s.ci_low_us, median_ci_high_us=s.ci_high_us,
        noise_pct=s.noise_pct, rounds=t.rounds, round_spread_pct=round_spread_pct(t.round_medians_us),
        stop_reason=t.stop_reason, timing_s=t.elapsed_s, timer_floor_us=t.floor_us,
        timer_kernel_sum_us=t.kernel_sum_us, timer_note=t.timer_note, throttle_retries=t.retries)
    if t.throttle:
        fields.update(throttled=t.throttle.throttled, throttle_note=t.throttle.note)
    if t.clock:
        fields.update(sm_clock_min_mhz=t.clock.min_mhz, sm_clock_median_mhz=t.clock.median_mhz,
                      sm_clock_max_mhz=t.clock.max_mhz)
    fields["extra"] = {"samples_us": [round(x, 4) for x in t.samples_us], "round_sizes": list(t.round_sizes),
                       "round_medians_us": [round(x, 4) for x in t.round_medians_us]}
    if ceilings and tbps is not None:
        flops_ceiling = ceilings.flops_ceiling(inputs.work.flop_dtype)  # fp8 rows: the fp8 GEMM ceiling
        fields.update(sol_bw_pct=100 * tbps / ceilings.copy_tbps, sol_flops_pct=100 * tflops / flops_ceiling)
    return fields


def _parity_fields(p: ParityResult) -> dict[str, Any]:
    fields = comparison_fields(p)
    return dict(parity_verdict=fields.pop("verdict"), parity_rule=p.rule, atol=p.atol, rtol=p.rtol, **fields)


def _kernel_records(case: Case, backend: str, trace: KernelTrace, kmap: KernelMap) -> list[dict[str, Any]]:
    """The first traced call's activities in order (a timeline with op attribution); the
    rollup already averages every traced call, and all calls of a per-expert loop would
    make the file tens of MB."""
    records = []
    for i, call in enumerate(trace.calls[:1]):
        try:
            rules = kmap.classify(backend, [k.name for k in call], [k.op_range for k in call])
        except KernelMapError:
            rules = [None] * len(call)
        for j, (k, rule) in enumerate(zip(call, rules)):
            records.append(dict(case_id=case.case_id, backend=backend, call=i, index=j, name=k.name,
                                op=rule.op if rule else "unmapped", phase=rule.phase if rule else "unmapped",
                                op_range=k.op_range, stream=k.stream, start_us=k.start_us, dur_us=k.dur_us))
    return records


def _per_kernel(ctx: RunContext, case: Case, backend: str, launch: Launch, plan_for, fields: dict[str, Any]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trace, roll up, reconcile; fills ``fields`` and returns (rollup, kernel) records."""
    cfg = ctx.cfg
    try:
        align = cfg.suite.align_ranks if isinstance(cfg.suite, CollectiveSuite) else None
        trace = trace_calls(launch, plan_for(False), cfg.device, cfg.profile_calls, align=align)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # the timed pass stands; only the breakdown is missing
        fields["rollup_note"] = f"per-kernel trace failed: {describe_exception(exc, 200)}"
        return [], []
    kernels = _kernel_records(case, backend, trace, ctx.kmap) if ctx.kmap else []
    if ctx.kmap is None or not ctx.kmap.rules(backend):
        fields["rollup_note"] = f"no kernel map entry for backend {backend}: all kernels unmapped"
    try:
        r = rollup(trace, ctx.kmap, backend) if ctx.kmap else None
    except KernelMapError as exc:
        fields["rollup_note"] = str(exc)
        return [], kernels
    if r is None:
        return [], kernels
    fields.update(r.row_fields(fields.get("median_us")))
    fields.setdefault("extra", {})["phases_us"] = r.phases
    return r.records(case.case_id, backend), kernels


def _parity_step(ctx: RunContext, case: Case, name: str, launch: Launch, ref: Outputs | None, ref_reason: str,
                 fields: dict[str, Any], notes: list[str], *, against: Outputs | None = None,
                 against_reason: str = "") -> tuple[Status, Outputs]:
    """Two eager calls (run-to-run determinism), a CUDA-graph replay against the first
    (graph determinism), the comparison with ``--parity-against``'s outputs, then parity
    against the reference's outputs; fills ``fields`` and returns (PARITY_FAIL or OK, the
    first eager call's outputs)."""
    cfg = ctx.cfg
    out = call_once(launch, cfg.device, parity=True)
    if ctx.agreement:
        ctx.agreement.outputs(name, out)
    fields["deterministic"] = outputs_bitwise_equal(out, call_once(launch, cfg.device, parity=True))
    graph = graph_vs_eager(launch, fresh_tensors(launch), cfg.device, out)
    fields["graph_deterministic"] = graph.equal
    notes += [graph.note] if graph.note else []
    pair, pair_note = pair_row_fields(cfg.suite, case, name, out, against=cfg.parity_against, against_outputs=against,
                                      against_reason=against_reason)
    fields.update(pair)
    notes += [pair_note] if pair_note else []
    if name == cfg.reference:
        fields["parity_verdict"] = "reference"
        return Status.OK, out
    if ref is None:
        fields["parity_verdict"] = "n/a"
        notes.append(f"no parity: {ref_reason}")
        return Status.OK, out
    parity = cfg.suite.check_parity(case, out, ref)
    fields.update(_parity_fields(parity))
    fields.update(getattr(parity, "row_fields", {}))
    fields.setdefault("extra", {})["worst"] = [w.__dict__ for w in parity.worst]
    fields["extra"].update(getattr(parity, "extra", {}))
    return (Status.PARITY_FAIL if parity.verdict == "fail" else Status.OK), out


def _timing_step(ctx: RunContext, case: Case, inputs: Inputs, name: str, launch: Launch,
                 fields: dict[str, Any], notes: list[str]) -> Callable[[bool], ColdL2Plan]:
    """The timed pass; fills ``fields`` and returns the cold-L2 planner it used."""
    cfg = ctx.cfg
    plan_for = plan_factory(ctx, inputs, launch)
    label = f"fibench/{case.suite}/{case.case_id}/{name}" if cfg.nsys else None
    throttle = dataclasses.replace(cfg.throttle, max_clock_mhz=ctx.env.sm_clock_max_mhz)
    timing = run_timing(launch, plan_for, device=cfg.device, graph=cfg.graph, warmup=cfg.warmup,
                        nsys_label=label, timer=cfg.timer, rule=cfg.stop, throttle=throttle, rounds=cfg.rounds)
    timed = _timing_fields(timing, inputs, ctx.ceilings)
    fields.setdefault("extra", {}).update(timed.pop("extra"))
    fields.update(timed)
    notes += timing.notes
    return plan_for


def run_backend(ctx: RunContext, case: Case, inputs: Inputs, name: str,
                ref: Outputs | None, ref_reason: str, *, against: Outputs | None = None, against_reason: str = "",
                on_outputs: Callable[[str, Outputs], None] | None = None) -> tuple[Row, list, list]:
    """Measure one backend on one case; never raises for backend failures.

    Steps: needs check -> prepare -> first call (its own column) -> determinism and
    parity (against the reference and ``against``, the ``--parity-against`` backend's
    outputs) -> timed pass -> per-kernel pass. ``on_outputs(name, outputs)`` receives the
    outputs parity compared (to save them, or keep them as the pair side). A failure in a
    step keeps what the earlier steps measured (OOM -> ``oom``, anything else -> ``error``
    with its type and message).
    """
    cfg = ctx.cfg
    fields = _base_row(ctx, case, name)
    backend = cfg.suite.backends[name]()
    check = support(ctx, case, backend)
    if check.reason:
        return Row(status=Status.UNSUPPORTED, reason=check.reason, **fields), [], []
    notes = list(check.notes)
    rollup_recs: list = []
    kernel_recs: list = []
    status = Status.OK
    try:
        launch = backend.prepare(case, inputs)
        fields["backend_detail"] = launch.detail
        fields["plan_us"] = launch.plan_us
        t0 = time.perf_counter()
        call_once(launch, cfg.device, first=True)
        fields["first_call_s"] = time.perf_counter() - t0 + (launch.plan_first_s or 0.0)
        status, out = _parity_step(ctx, case, name, launch, ref, ref_reason, fields, notes, against=against,
                                   against_reason=against_reason)
        if on_outputs:
            on_outputs(name, out)
        del out
        plan_for = _timing_step(ctx, case, inputs, name, launch, fields, notes)
        if cfg.per_kernel:
            rollup_recs, kernel_recs = _per_kernel(ctx, case, name, launch, plan_for, fields)
    except Exception as exc:  # a backend failure becomes a row, the sweep goes on
        if out_of_memory(exc):
            status, fields["reason"] = Status.OOM, f"out of memory: {describe_exception(exc, 200)}"
        else:
            status, fields["reason"] = Status.ERROR, describe_exception(exc)
    finally:
        launch = None
        release(cfg.device)
    if status == Status.OK and fields.get("median_us") is None:
        status, fields["reason"] = Status.ERROR, "no timing recorded"
    fields["notes"] = "; ".join(notes)
    fields.setdefault("extra", {})["info"] = inputs.info
    return Row(status=status, **fields), rollup_recs, kernel_recs


def reference_outputs(ctx: RunContext, case: Case, inputs: Inputs) -> tuple[Outputs | None, str]:
    """Outputs of the reference backend on ``case`` (None and the reason if it cannot run)."""
    cfg = ctx.cfg
    backend = cfg.suite.backends[cfg.reference]()
    reason = support(ctx, case, backend).reason
    if reason:
        return None, f"reference {cfg.reference} unsupported: {reason}"
    try:
        return call_once(backend.prepare(case, inputs), cfg.device, parity=True), ""
    except Exception as exc:
        return None, f"reference {cfg.reference} failed: {describe_exception(exc, 200)}"
