"""Roll a per-kernel trace up into logical ops and phases, and reconcile it with the timed
latency.

All rollup quantities are means over the traced calls, so they add up: the ops (plus the
unmapped kernels) sum exactly to ``kernel_sum_us``. ``span_us`` (first kernel start to last
kernel end) is reported beside it: span > kernel-sum means idle gaps or host waits inside a
call; kernel-sum > span means kernels overlapped (other streams, programmatic dependent
launch).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from fibench.trace.kernel_map import KernelMap
from fibench.trace.profiling import KernelTrace

UNMAPPED = "unmapped"


@dataclass(frozen=True)
class OpTime:
    """Mean time per call of one logical op (us), its phase, share of the kernel-sum,
    kernels per call and the distinct kernel names it covered."""

    op: str
    phase: str
    mean_us: float
    share: float
    kernels_per_call: float
    names: tuple[str, ...]


@dataclass
class Rollup:
    """Per-logical-op and per-phase breakdown of one backend on one case.

    Attributes:
        ops: in map order, then unmapped kernels (op = "unmapped", one entry per name).
        phases: phase -> mean us per call (map phase order; "unmapped" last if any).
        kernel_sum_us: mean per-call sum of activity durations.
        span_us: mean per-call span; span_median_us: its median.
        kernels_per_call: mean activities per call; streams: distinct streams seen.
        calls: calls traced.
    """

    ops: list[OpTime]
    phases: dict[str, float]
    kernel_sum_us: float
    span_us: float
    span_median_us: float
    kernels_per_call: float
    streams: int
    calls: int
    unmapped_us: float = 0.0
    errors: list[str] = field(default_factory=list)

    def row_fields(self, median_us: float | None) -> dict:
        """The rollup columns of a result row; ``median_us`` is the timed median (None
        when timing failed), for the kernel-sum / median reconciliation."""
        return dict(kernel_sum_us=self.kernel_sum_us, span_us=self.span_us, kernels_per_call=self.kernels_per_call,
                    streams=self.streams, unmapped_us=self.unmapped_us,
                    kernel_sum_over_median=self.kernel_sum_us / median_us if median_us else None)

    def records(self, case_id: str, backend: str) -> list[dict]:
        """One rollup.csv line per logical op (and unmapped kernel name)."""
        return [dict(case_id=case_id, backend=backend, op=o.op, phase=o.phase, mean_us=o.mean_us, share=o.share,
                     kernels_per_call=o.kernels_per_call, kernels=" | ".join(o.names)) for o in self.ops]


def rollup(trace: KernelTrace, kmap: KernelMap, backend: str) -> Rollup:
    """Classify each call's activities with ``kmap`` and average over calls.

    Raises:
        KernelMapError: a kernel matches two logical ops of ``backend``.
    """
    n = len(trace.calls)
    op_us: dict[str, float] = defaultdict(float)
    op_count: dict[str, int] = defaultdict(int)
    op_names: dict[str, set[str]] = defaultdict(set)
    op_phase: dict[str, str] = {}
    unmapped_us: dict[str, float] = defaultdict(float)
    unmapped_count: dict[str, int] = defaultdict(int)
    streams: set[int] = set()
    for call in trace.calls:
        for k, rule in zip(call, kmap.classify(backend, [k.name for k in call], [k.op_range for k in call])):
            streams.add(k.stream)
            if rule is None:
                unmapped_us[k.name] += k.dur_us
                unmapped_count[k.name] += 1
            else:
                op_us[rule.op] += k.dur_us
                op_count[rule.op] += 1
                op_names[rule.op].add(k.name)
                op_phase[rule.op] = rule.phase
    sums = np.array([trace.kernel_sum_us(i) for i in range(n)])
    spans = np.array([trace.span_us(i) for i in range(n)])
    total = float(sums.mean())
    ops: list[OpTime] = []
    order = [r.op for r in kmap.rules(backend)]
    for op in dict.fromkeys(order):
        if op in op_us:
            mean = op_us[op] / n
            ops.append(OpTime(op, op_phase[op], mean, mean / total if total else 0.0,
                              op_count[op] / n, tuple(sorted(op_names[op]))))
    for name, us in sorted(unmapped_us.items(), key=lambda kv: -kv[1]):
        mean = us / n
        ops.append(OpTime(UNMAPPED, UNMAPPED, mean, mean / total if total else 0.0,
                          unmapped_count[name] / n, (name,)))
    phases: dict[str, float] = {}
    for phase in kmap.phases:
        t = sum(o.mean_us for o in ops if o.phase == phase)
        if any(o.phase == phase for o in ops):
            phases[phase] = t
    unmapped_total = sum(unmapped_us.values()) / n
    if unmapped_us:
        phases[UNMAPPED] = unmapped_total
    return Rollup(ops, phases, total, float(spans.mean()), float(np.median(spans)),
                  float(np.mean([len(c) for c in trace.calls])), len(streams), n, unmapped_total)
