"""The report's timing-quality section: per row the timer actually used, the median with
its 95% interval, relative noise, the timing rounds and how far their medians spread,
samples and why sampling stopped, device time spent, the events floor (what an empty
kernel reads under the same plan) and throttling; then the rows whose rounds disagree
beyond their own noise."""

from __future__ import annotations

from collections import Counter

import numpy as np

from fibench.measure.stats import median_ci, split_rounds
from fibench.measure.timers import TIMERS
from fibench.report.formatting import fmt_num, fmt_us
from fibench.report.tables import CaseColumns, md_table
from fibench.sweep.results import Row


def timer_lines(rows: list[Row]) -> list[str]:
    """Method bullets: each timer used (with what one sample is) and the events floors."""
    used = Counter(r.timer for r in rows if r.timer)
    lines = []
    for name, count in used.items():
        basis = TIMERS[name].basis if name in TIMERS else "unknown timer (older fibench?)"
        lines.append(f"- Timer `{name}` ({count} rows): {basis}.")
    floors = [r for r in rows if r.timer_floor_us is not None]
    if floors:
        lo = min(r.timer_floor_us for r in floors)
        hi = max(r.timer_floor_us for r in floors)
        lines.append(f"- Per-call events overhead: an empty kernel reads {fmt_num(lo)}-{fmt_num(hi)} us under the "
                     "same timer and plan; those rows' medians include it (column `floor us`; `--timer cupti` "
                     "excludes it).")
    return lines


def is_wall_clock(rows: list[Row]) -> bool:
    """Whether any row was timed with the CPU wall clock."""
    return any(TIMERS[r.timer].family == "wall" for r in rows if r.timer in TIMERS)


def _interval(r: Row) -> str:
    if r.median_ci_low_us is None or r.median_ci_high_us is None:
        return "-"
    return f"{fmt_num(r.median_ci_low_us)}-{fmt_num(r.median_ci_high_us)}"


def _rounds(r: Row) -> str:
    if not r.rounds:
        return "-"
    if r.round_spread_pct is None:
        return str(r.rounds)
    return f"{r.rounds}, spread {fmt_num(r.round_spread_pct)}%"


def within_round_width_pct(r: Row) -> float | None:
    """Full width of the widest within-round 95% interval of the median, in percent of that
    round's median (from the row's samples and round sizes in results.jsonl); None with one
    round, without stored samples, or when a round has too few samples for an interval."""
    sizes, samples = r.extra.get("round_sizes") or [], r.extra.get("samples_us") or []
    if len(sizes) < 2 or sum(sizes) != len(samples):
        return None
    widths = []
    for part in split_rounds(samples, sizes):
        ci, mid = median_ci(part), float(np.median(part))
        if ci is None or mid <= 0:
            return None
        widths.append(100 * (ci[1] - ci[0]) / mid)
    return max(widths)


def _disagreeing_rounds(timed: list[Row]) -> list[str]:
    lines = []
    for r in timed:
        width = within_round_width_pct(r)
        if width is None or r.round_spread_pct is None or r.round_spread_pct <= width:
            continue
        medians = "/".join(fmt_num(m) for m in r.extra.get("round_medians_us") or [])
        lines.append(f"- {r.backend} {r.case_id}: round medians {medians} us, spread {fmt_num(r.round_spread_pct)}% "
                     f"> the widest within-round interval ({fmt_num(width)}% wide)")
    if not lines:
        return []
    return ["Rounds that disagree beyond their own noise (each round has fresh input copies and a fresh capture: "
            "something that differs between them, such as where the copies landed in memory, moved the result; "
            "the row's interval covers the rounds, one pass's would not):", "", *lines, ""]


def timing_section(rows: list[Row], size_name: str = "size") -> list[str]:
    """Markdown: the timing-quality table of the timed rows, then throttled rows."""
    timed = [r for r in rows if r.timed]
    if not timed:
        return []
    cols = CaseColumns(timed, size_name)
    lines = [[*cols.cells(r), r.backend, r.timer or "-", fmt_us(r.median_us), _interval(r), fmt_num(r.noise_pct),
              _rounds(r), str(r.samples or "-"), r.stop_reason or "-", fmt_num(r.timing_s), fmt_num(r.timer_floor_us),
              fmt_num(r.timer_kernel_sum_us), {True: "yes", False: "no"}.get(r.throttled, "-")] for r in timed]
    out = ["## Timing quality", "",
           "95% interval: distribution-free interval of the median (order statistics; Conover 1999, 3.2), with "
           "several rounds widened to cover a two-level bootstrap over rounds, then samples (Davison & Hinkley "
           "1997, 3.8). noise %: 100 x std / mean (nvbench's Noise). rounds: timing rounds, each over fresh input "
           "copies and a fresh capture; spread: 100 x (max - min) / median of the round medians. floor us: an "
           "empty kernel under the same timer and plan (per-call events). CUPTI kernel-sum: median per-call "
           "kernel-sum seen by the CUPTI timer.", ""]
    out += md_table([*cols.header, "backend", "timer", "median", "95% interval us", "noise %", "rounds", "samples",
                     "stopped", "sampling s", "floor us", "CUPTI kernel-sum us", "throttled"], lines) + [""]
    throttled = [r for r in timed if r.throttled]
    if throttled:
        out += ["Throttled rows (SM clock below the threshold during the timed pass):", ""]
        out += [f"- {r.backend} {r.case_id}: {r.throttle_note}" for r in throttled] + [""]
    return out + _disagreeing_rounds(timed)
