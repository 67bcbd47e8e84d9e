"""One row's timed pass: pick the timer, sample in rounds until the stopping rule says so,
sample the SM clock, measure the events floor, and retry a throttled pass when asked.

A pass is made of rounds (``--rounds``): each round allocates its own input copies (a new
:class:`~fibench.measure.rotation.RotationSet`, made while the previous round's copies are
still held, so it cannot take their addresses; the caching allocator may hand round 3 the
blocks round 1 released), builds a new timer (a new graph capture), warms up and samples
its share of the stopping rule (:func:`fibench.measure.stopping.round_rules`). Two passes
of the same ~2 us one-row rmsnorm on an H200 read 2.04 and 2.36 us while each pass's own
interval was +-0.05%: the first rounds of a process read low, whatever they time
(audits/h200-2026-11-30-c), so the first timed row of a process drops two rounds first
(:mod:`fibench.measure.warmup`). The row pools every round's samples, keeps each round's
count and median, and its median interval covers the spread between rounds
(:func:`fibench.measure.stats.summarize`).

The timers themselves live in :mod:`fibench.measure.timers` (one class each). Nothing
falls back silently: a backend that cannot be captured, a graph capture that fails, or a
``--timer auto`` that cannot use CUPTI is timed another way and the row's ``timer`` names
the timer actually used, with the reason in its notes.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import numpy as np
import torch

from fibench.errors import UsageError, describe_exception
from fibench.measure.clocks import ClockStats, SmClockSampler
from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet
from fibench.measure.stats import Stats, summarize
from fibench.measure.stopping import STOP_CAP, STOP_ITERS, STOP_TIME, Sampled, StopRule, round_rules, sample_until
from fibench.measure.throttle import ThrottleCheck, ThrottlePolicy, check_throttle
from fibench.measure.timers import AUTO, Timer, timer_class
from fibench.measure.timers.base import nsys_range
from fibench.measure.timers.cupti import cupti_unavailable_reason
from fibench.measure.timers.events import CaptureError, GraphEventsTimer, empty_call_floor
from fibench.measure.warmup import warm_process
from fibench.suites.base import Launch

TIMER_GRAPH = GraphEventsTimer.name

__all__ = ["TIMER_GRAPH", "Timing", "run_timing"]


@dataclass
class Timing:
    """Result of one timed pass.

    Attributes:
        timer: stable name of the timer actually used (``Row.timer``).
        stats: per-call statistics in microseconds (median with its interval).
        plan: the cold-L2 plan actually applied.
        clock: SM clock during the pass (None without NVML; ``clock_note`` says why).
        notes: anything that differs from what was requested.
        requested: the ``--timer`` family asked for.
        stop_reason / elapsed_s: why sampling stopped and its wall seconds.
        floor_us: per-call time the same timer reports for an empty kernel under the same
            plan (per-call events only), in us.
        kernel_sum_us: median per-call kernel-sum (CUPTI timers only), in us.
        timer_note: what a sample is and what it contains (overhead, priming window).
        throttle: the throttling verdict of the kept pass; retries: passes repeated.
        samples_us: the kept samples, the rounds one after another (JSONL only).
        rounds: timing rounds, each over fresh input copies and a fresh timer;
        round_sizes / round_medians_us: samples and median (us) of each round.
    """

    timer: str
    stats: Stats
    plan: ColdL2Plan
    clock: ClockStats | None = None
    clock_note: str = ""
    notes: list[str] = field(default_factory=list)
    requested: str = ""
    stop_reason: str = STOP_ITERS
    elapsed_s: float | None = None
    floor_us: float | None = None
    kernel_sum_us: float | None = None
    timer_note: str = ""
    throttle: ThrottleCheck | None = None
    retries: int = 0
    samples_us: list[float] = field(default_factory=list)
    rounds: int = 1
    round_sizes: list[int] = field(default_factory=list)
    round_medians_us: list[float] = field(default_factory=list)


def _family(requested: str | None, device: torch.device, notes: list[str]) -> str:
    """The timer family to use for ``requested`` on ``device``.

    Whether the family can run here is the chosen timer class's question
    (:meth:`Timer.unavailable`, asked by :func:`_time_once`).
    """
    cuda = device.type == "cuda"
    if requested is None:
        return "events" if cuda else "wall"
    if requested == AUTO:
        if not cuda:
            return "wall"
        reason = cupti_unavailable_reason(device)
        if reason:
            notes.append(f"--timer auto: CUPTI unavailable ({reason}); timed with events")
            return "events"
        return "cupti"
    return requested




def _rotation(launch: Launch, plan: ColdL2Plan, device: torch.device, previous: list[RotationSet],
              notes: list[str]) -> RotationSet:
    """A new RotationSet, made while ``previous`` (the last round's, at most one) is still
    held so the copies cannot take its addresses; when both do not fit, the previous one is
    released first (its memory may then be reused) and a note says so."""
    try:
        return RotationSet(launch, plan, device)
    except torch.cuda.OutOfMemoryError:
        if not previous:
            raise
    previous.clear()  # outside the except clause: the failed attempt's tensors are gone too
    note = ("a round's input copies did not fit beside the previous round's: released those first "
            "(their memory may be reused)")
    if note not in notes:
        notes.append(note)
    return RotationSet(launch, plan, device)


def _pooled_reason(parts: list[Sampled]) -> str:
    """Why sampling stopped: a cap any round hit (max-time, max-samples), else the first
    round's reason."""
    return next((p.reason for p in parts if p.reason in (STOP_TIME, STOP_CAP)), parts[0].reason)


def _cuda_index(device: torch.device) -> int | None:
    """The CUDA device index of ``device`` (``cuda`` means the current one); None off CUDA."""
    if device.type != "cuda":
        return None
    return device.index if device.index is not None else torch.cuda.current_device()


def _run_round(timer: Timer, warmup: int, rule: StopRule,
               *spans: ContextManager) -> tuple[Sampled, dict[str, Any]]:
    """One timing round on a fresh ``timer``: warm-up, then sampling under ``rule`` inside
    ``spans`` (SM clock sampler, nsys range); the timer is closed after.

    Returns:
        (the round's samples, the timer's :meth:`~Timer.details`)."""
    with timer:
        timer.start(warmup)
        with contextlib.ExitStack() as stack:
            for span in spans:
                stack.enter_context(span)
            sampled = sample_until(timer.sample, rule)
        return sampled, timer.details()


def _measure(cls: type[Timer], launch: Launch, plan_for: Callable[[bool], ColdL2Plan], device: torch.device,
             warmup: int, rule: StopRule, rounds: int, nsys_label: str | None) -> Timing:
    plan = plan_for(cls.graph)
    index = _cuda_index(device)
    clock = SmClockSampler(index) if index is not None else contextlib.nullcontext(None)
    parts: list[Sampled] = []
    kernel_sums: list[float] = []
    notes: list[str] = []
    details: dict[str, Any] = {}
    held: list[RotationSet] = []
    rules = round_rules(rule, rounds)
    if index is not None:  # rounds run and dropped before a process's first timed row
        warm = warm_process(("cuda", index),
                            lambda: _run_round(cls(RotationSet(launch, plan, device), plan, device), warmup, rules[0]))
        if warm:
            notes.append(warm)
    for round_rule in rules:
        held[:] = [_rotation(launch, plan, device, held, notes)]  # the previous round's copies go only now
        part, details = _run_round(cls(held[0], plan, device), warmup, round_rule,
                                   clock, nsys_range(nsys_label if index is not None else None))
        parts.append(part)
        if details.get("kernel_sum_us") is not None:
            kernel_sums.append(details["kernel_sum_us"])
    held.clear()
    sampler = clock if isinstance(clock, SmClockSampler) else None
    samples = [x for p in parts for x in p.samples]
    sizes = [len(p.samples) for p in parts]
    t = Timing(cls.name, summarize(samples, rule.confidence, round_sizes=sizes), plan,
               sampler.result if sampler else None,
               (sampler.reason if sampler else "CPU run: no SM clock"), notes=notes,
               stop_reason=_pooled_reason(parts), elapsed_s=sum(p.elapsed_s for p in parts),
               kernel_sum_us=float(np.median(kernel_sums)) if len(kernel_sums) == len(parts) else None,
               samples_us=samples, rounds=len(parts), round_sizes=sizes,
               round_medians_us=[float(np.median(p.samples)) for p in parts])
    note = [details.get("note", "")]
    if cls.family == "events" and (not cls.graph or plan.per_call):
        try:
            t.floor_us = empty_call_floor(cls, plan, device)
            note.append(f"an empty kernel reads {t.floor_us:.2f} us under the same timer and plan "
                        "(event overhead inside every sample)")
        except RuntimeError as exc:
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                raise
            note.append(f"empty-kernel calibration failed: {describe_exception(exc, 120)}")
    t.timer_note = "; ".join(filter(None, note))
    return t


def _time_once(launch: Launch, plan_for: Callable[[bool], ColdL2Plan], *, device: torch.device, graph: bool,
               warmup: int, rule: StopRule, rounds: int, nsys_label: str | None, requested: str | None) -> Timing:
    notes: list[str] = []
    family = _family(requested, device, notes)
    use_graph = graph and device.type == "cuda"
    if use_graph and not launch.capturable:
        notes.append("backend cannot be captured in a CUDA graph (host sync); timed without a graph")
        use_graph = False
    while True:
        cls = timer_class(family, graph=use_graph)
        reason = cls.unavailable(device)
        if reason:
            raise UsageError(f"--timer {family}: {reason}")
        try:
            timing = _measure(cls, launch, plan_for, device, warmup, rule, rounds, nsys_label)
            break
        except CaptureError as exc:
            torch.cuda.synchronize(device)
            notes.append(f"CUDA graph capture failed ({describe_exception(exc.__cause__ or exc, 160)}); "
                         "timed without a graph")
            use_graph = False
        except Exception as exc:
            if isinstance(exc, torch.cuda.OutOfMemoryError) or not (requested == AUTO and family == "cupti"):
                raise
            notes.append(f"--timer auto: CUPTI timing failed ({describe_exception(exc, 160)}); timed with events")
            family = "events"
    timing.notes = notes + timing.notes
    timing.requested = requested or family
    return timing


def run_timing(launch: Launch, plan_for: Callable[[bool], ColdL2Plan], *, device: torch.device, graph: bool,
               warmup: int, iters: int = 50, nsys_label: str | None = None, timer: str | None = None,
               rule: StopRule | None = None, throttle: ThrottlePolicy | None = None, rounds: int = 1) -> Timing:
    """Time ``launch``; the timer follows ``timer``, the device, ``graph`` and ``launch.capturable``.

    Args:
        plan_for: cold-L2 planner called with ``graph=True/False`` for the timer in use.
        iters: samples of a fixed rule in all rounds together (ignored when ``rule`` is given).
        timer: ``--timer`` family: events | cupti | auto | wall; None = events on CUDA,
            wall on the CPU.
        rule: when to stop sampling (default: exactly ``iters`` samples).
        throttle: throttling threshold and retry policy (default: flag below 90%).
        rounds: timing rounds, each over fresh input copies and a fresh timer (see the
            module docstring; ``fibench run`` defaults to 3, this function to 1); a fixed
            rule of fewer samples than rounds makes one round per sample.

    Raises:
        UsageError: the requested timer cannot run here (e.g. ``cupti`` without CUPTI).
        torch.cuda.OutOfMemoryError: out of memory (the caller makes an ``oom`` row).
    """
    rule = rule or StopRule.fixed(iters)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    policy = throttle or ThrottlePolicy()
    retries = 0
    while True:
        timing = _time_once(launch, plan_for, device=device, graph=graph, warmup=warmup, rule=rule,
                            rounds=rounds, nsys_label=nsys_label, requested=timer)
        timing.throttle = (check_throttle(timing.clock, policy) if timing.clock else
                           ThrottleCheck(None, timing.clock_note or "no SM clock samples: throttling unknown"))
        if not (timing.throttle.throttled and policy.on_throttle == "retry" and retries < policy.retries):
            break
        retries += 1
        time.sleep(policy.wait_s)
    timing.retries = retries
    if retries:
        timing.notes.append(f"throttled pass repeated {retries} time(s) after {policy.wait_s:g} s idle; "
                            f"last pass kept ({'still throttled' if timing.throttle.throttled else 'not throttled'})")
    return timing
