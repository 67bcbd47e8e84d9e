"""Markdown report of a run, rendered only from the run folder's files (``fibench report
DIR`` and the end of ``fibench run`` produce the same text). Pure: rows are never mutated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from fibench.report.distributed import collective_section, gpu_lines
from fibench.report.formatting import env_rows, fmt_num, fmt_us
from fibench.report.parity_md import parity_sections
from fibench.report.phases import phase_tables
from fibench.report.timing import is_wall_clock, timer_lines, timing_section
from fibench.report.tables import CaseColumns, md_table
from fibench.sweep.results import Row, Status
from fibench.sweep.sinks import LoadedRun, load_run

MARK = {Status.PARITY_FAIL: " ✗parity", Status.UNSUPPORTED: "unsupported", Status.OOM: "oom", Status.ERROR: "error"}


def _cases(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.case_id for r in rows))


def _backends(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.backend for r in rows))


def speedup(rows: list[Row], baseline: str) -> dict[tuple[str, str], float]:
    """Baseline median / row median for every timed row whose case has a timed baseline
    with passing or reference parity. Rows that failed parity get no speedup."""
    base = {r.case_id: r.median_us for r in rows
            if r.backend == baseline and r.timed and r.status == Status.OK}
    out = {}
    for r in rows:
        b = base.get(r.case_id)
        if b and r.timed and r.status == Status.OK:
            out[(r.case_id, r.backend)] = b / r.median_us
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stopped_lines(cfg: dict) -> list[str]:
    if not cfg.get("stopped_by"):
        return []
    return [f"> **Stopped by {cfg['stopped_by']}** at {cfg.get('stopped', '-')}: only the rows finished before "
            "are reported; `--resume` with the same command and `--out` continues the run.", ""]


def _parity_rule_line(rows: list[Row]) -> str:
    """The tolerances this run's parity verdicts used (per dtype and rule), from the rows."""
    used = Counter((r.dtype, r.parity_rule, r.atol, r.rtol) for r in rows if r.parity_rule)
    if not used:
        return "- Parity: no row was compared with the reference."
    rules = "; ".join(f"{d}: {rule}, atol {a:g}, rtol {rt:g} ({_plural(n, 'row')})"
                      for (d, rule, a, rt), n in used.items())
    return ("- Parity: bitwise-equal fraction and max ULP against the reference rounded to the output dtype; "
            f"verdict by tolerance ({rules}).")


def _per_kernel_line(cfg: dict, rows: list[Row]) -> list[str]:
    if any(r.kernel_sum_us is not None for r in rows):
        return ["- Per-kernel pass: torch.profiler traces rolled up by logical op (rollup.csv, kernels.csv)."]
    if "per_kernel" not in cfg:  # run.json unreadable: nothing to say
        return []
    if not cfg["per_kernel"]:
        why = "no CUDA GPU: kernel traces need CUPTI" if str(cfg.get("device", "")).startswith("cpu") else \
            "--no-per-kernel"
        return [f"- Per-kernel pass: off ({why}); rollup.csv and kernels.csv hold only their header."]
    return ["- Per-kernel pass: on, but no row was traced (see the rollup notes); rollup.csv and kernels.csv are empty."]


def _isolation_line(rows: list[Row]) -> list[str]:
    costs = sorted(r.isolation_s for r in rows if r.isolation_s is not None)
    if not costs:
        return []
    return [f"- {_plural(len(costs), 'row')} ran in their own process (`--isolate`, or after a lost CUDA context): "
            f"median {fmt_num(costs[len(costs) // 2])} s per row beyond the measurement (column isolation_s)."]


def _rounds_text(rounds: int | None) -> str:
    if not rounds or rounds < 2:
        return ""
    return (f", in {rounds} rounds per row (each over fresh input copies with its own warm-up and graph capture; "
            "a fixed count is shared out, an adaptive rule runs in each round)")


def _method(run: LoadedRun) -> list[str]:
    rows, cfg = run.rows, run.run
    methods = Counter(f"{r.cold_l2_method} (L2 {'cold' if r.l2_cold else 'warm'})" for r in rows if r.cold_l2_method)
    lines = ["## Method", "", *_stopped_lines(cfg)]
    if cfg.get("notice"):
        lines += [f"> Note: {cfg['notice']}.", ""]
    if is_wall_clock(rows):
        lines += ["> **These are CPU numbers.** No CUDA GPU was used: CPU-capable backends were timed with a "
                  "wall clock; they say nothing about GPU kernel speed.", ""]
    sampling = cfg.get("stop_rule") or f"fixed: {cfg.get('iters', '-')} samples per row"
    lines += [f"- Timer requested: `{cfg.get('timer', 'events')}`.", *timer_lines(rows),
        f"- Cold L2 requested: `{cfg.get('cold_l2', '-')}`; applied: {', '.join(f'{k}: {v}' for k, v in methods.items()) or '-'}.",
        f"- Warm-up {cfg.get('warmup', '-')}; sampling {sampling}{_rounds_text(cfg.get('rounds'))}; "
        "latency = median per call with its 95% interval.",
        f"- Reference backend: `{cfg.get('reference', '-')}`; speedups against `{cfg.get('baseline', '-')}` "
        "(only rows that passed parity).",
        _parity_rule_line(rows), *_per_kernel_line(cfg, rows), *_isolation_line(rows),
    ]
    ceil = run.env.get("ceilings")
    if ceil:
        lines.append(f"- SOL ceilings measured on this GPU: copy {fmt_num(ceil['copy_tbps'])} TB/s (read+write), "
                     f"bf16 GEMM {fmt_num(ceil['gemm_tflops'])} TFLOP/s, "
                     + (f"fp8 GEMM {fmt_num(ceil['fp8_gemm_tflops'])} TFLOP/s (rows whose FLOPs run in fp8 use it)"
                        if ceil.get("fp8_gemm_tflops") else "no fp8 GEMM ceiling (fp8 rows use the bf16 one)")
                     + f" ({ceil['method']}).")
        over = [r for r in rows if (r.sol_bw_pct or 0) > 100 or (r.sol_flops_pct or 0) > 100]
        if over:
            lines.append(f"- {_plural(len(over), 'row')} {'exceeds' if len(over) == 1 else 'exceed'} 100% of a ceiling: the copy ceiling moves each byte "
                         "once read and once written, a read-dominated kernel (decode) can stream reads faster "
                         "(the H200's HBM3e peak is 4.8 TB/s by its datasheet). Read those percentages as relative to the measured ceiling, not as a bound.")
    lines += gpu_lines(run)
    shape = cfg.get("shape")
    if shape:
        lines.append(f"- Shape: {', '.join(f'{k}={v}' for k, v in shape.items())}.")
    if cfg.get("command"):
        lines.append(f"- Command: `{cfg['command']}`")
    lines += [f"- Resumed: `{r.get('command', '')}` ({r.get('started', '-')}, {r.get('rows_kept', 0)} rows kept)"
              for r in cfg.get("resumed") or []]
    return lines + [""]


def _unreadable(run: LoadedRun) -> list[str]:
    """What could not be read from the run folder (cut lines, broken files)."""
    if not run.problems:
        return []
    return ["## Unreadable parts of the run folder", "", *(f"- {p}" for p in run.problems), ""]


def _latency(rows: list[Row], baseline: str, size_name: str) -> list[str]:
    backends = _backends(rows)
    sp = speedup(rows, baseline)
    by = {(r.case_id, r.backend): r for r in rows}
    first = {r.case_id: r for r in reversed(rows)}
    cols = CaseColumns(rows, size_name)
    lines = []
    for case in _cases(rows):
        cells = cols.cells(first[case])
        for b in backends:
            r = by.get((case, b))
            if r is None:
                cells.append("")
            elif not r.timed:
                cells.append(MARK.get(r.status, r.status.value))
            else:
                s = sp.get((case, b))
                text = fmt_us(r.median_us) + (f" ({s:.2f}x)" if s and b != baseline else "")
                cells.append(text + (MARK[r.status] if r.status == Status.PARITY_FAIL else ""))
        lines.append(cells)
    return ["## Latency (median per call)", "", f"Speedup in brackets: `{baseline}` median / backend median.", ""] + \
        md_table([*cols.header, *backends], lines) + [""]


def _drop_empty_columns(header: list[str], lines: list[list[str]], keep: int) -> tuple[list[str], list[list[str]]]:
    """Drop every column after the first ``keep`` that is '-' (or blank) in every line."""
    cols = [i for i in range(len(header)) if i < keep or any(line[i] not in ("-", "") for line in lines)]
    return [header[i] for i in cols], [[line[i] for i in cols] for line in lines]


def _throughput(rows: list[Row]) -> list[str]:
    cols = CaseColumns(rows)
    timed = [r for r in rows if r.timed]
    if not timed:
        return []
    lines = [[*cols.cells(r), r.backend, fmt_num(r.tbps), fmt_num(r.sol_bw_pct), fmt_num(r.tflops),
              fmt_num(r.sol_flops_pct), f"{r.cold_l2_method} ({r.rotation_copies}x, K={r.calls_per_graph})",
              (f"{r.sm_clock_min_mhz}-{r.sm_clock_max_mhz}" if r.sm_clock_min_mhz else "-"), fmt_num(r.first_call_s),
              fmt_num(r.plan_us)]
             for r in timed]
    header, lines = _drop_empty_columns([*cols.header, "backend", "TB/s", "BW SOL %", "TFLOP/s", "FLOP SOL %",
                                         "cold L2", "SM MHz", "first call s", "plan us"], lines, len(cols.header) + 1)
    said = []
    if "TB/s" in header or "TFLOP/s" in header:
        said.append("TB/s and TFLOP/s from the suite's byte/FLOP model at the median")
    if "BW SOL %" in header or "FLOP SOL %" in header:
        said.append("SOL % against the measured ceilings")
    if "plan us" in header:
        said.append("`plan us`: host time of the backend's plan step, outside the timed call")
    intro = ["; ".join(said) + ".", ""] if said else []
    return ["## Throughput and conditions", "", *intro] + md_table(header, lines) + [""]


def _rollup(rows: list[Row], rollup: pd.DataFrame, baseline: str, size_name: str) -> list[str]:
    traced = [r for r in rows if r.kernel_sum_us is not None]
    if not traced:
        return []
    out = ["## Where the time goes (per-kernel pass, mean per call)", "",
           "kernel-sum = sum of GPU activity durations; span = first start to last end; "
           "kernel-sum / median compares the profiler with the timed pass.", ""]
    cols = CaseColumns(traced)
    lines = []
    for r in traced:
        lines.append([*cols.cells(r), r.backend,
                      fmt_num(r.kernel_sum_us), fmt_num(r.span_us), fmt_num(r.median_us),
                      fmt_num(r.kernel_sum_over_median), fmt_num(r.kernels_per_call), str(r.streams),
                      fmt_num(r.unmapped_us)])
    out += md_table([*cols.header, "backend", "kernel-sum us", "span us", "median us",
                   "kernel-sum / median", "kernels/call", "streams", "unmapped us"], lines) + [""]
    out += phase_tables(rows, baseline, size_name)
    if not rollup.empty and "op" in rollup:
        unmapped = rollup[rollup["op"] == "unmapped"]
        if not unmapped.empty:
            names = unmapped.groupby("kernels")["mean_us"].max().sort_values(ascending=False).head(10)
            out += ["Unmapped kernels (largest first; add them to fibench/kernel_maps/):", ""]
            out += [f"- `{name[:140]}` up to {fmt_num(us)} us" for name, us in names.items()] + [""]
    notes = [f"- {r.backend} {r.case_id}: {r.rollup_note}" for r in rows if r.rollup_note]
    return out + (["Rollup notes:", "", *notes, ""] if notes else [])


def _problems(rows: list[Row]) -> list[str]:
    bad = [r for r in rows if r.status != Status.OK]
    noted = [r for r in rows if r.notes or r.cold_l2_note]
    out = []
    if bad:
        out += ["## Rows that are not ok", ""]
        cols = CaseColumns(bad)
        out += md_table([*cols.header, "backend", "status", "reason"],
                      [[*cols.cells(r), r.backend, r.status.value, r.reason or "parity outside tolerance"]
                       for r in bad]) + [""]
    if noted:
        grouped: dict[str, list[str]] = defaultdict(list)
        for r in noted:
            for note in filter(None, [r.notes, r.cold_l2_note]):
                grouped[f"{r.backend}: {note}"].append(r.case_id)
        out += ["## Notes", ""] + [f"- {k} ({', '.join(v)})" for k, v in grouped.items()] + [""]
    return out


def _pictures(plots: list[tuple[str, str]] | None, note: str) -> list[str]:
    if note:
        return ["## Pictures", "", f"> {note}", ""]
    if not plots:
        return []
    return ["## Pictures", ""] + [line for caption, rel in plots for line in (f"![{caption}]({rel})", "")]


def render_report(run: LoadedRun, plots: list[tuple[str, str]] | None = None, plot_note: str = "") -> str:
    """The Markdown report of a loaded run.

    Args:
        plots: (caption, relative path) of PNGs already written (see
            :func:`fibench.report.plots.report_plots`); plot_note: why there are none.
    """
    rows, cfg = run.rows, run.run
    suite = cfg.get("suite") or (rows[0].suite if rows else "?")
    out = [f"# fibench {suite} run", "", f"Run folder: `{run.out_dir}`. {len(rows)} rows "
           f"({sum(r.status == Status.OK for r in rows)} ok). Started {cfg.get('started', '-')}.", "",
           "## Environment", ""]
    out += md_table(["", ""], [[k, v] for k, v in env_rows(run.env)]) + [""]
    out += _method(run) + _unreadable(run)
    if rows:
        baseline, size_name = cfg.get("baseline") or cfg.get("reference") or rows[0].backend, cfg.get("size_name", "size")
        out += _latency(rows, baseline, size_name) + collective_section(rows) + _pictures(plots, plot_note)
        out += timing_section(rows, size_name)
        out += _throughput(rows) + parity_sections(rows) + _rollup(rows, run.rollup, baseline, size_name) + _problems(rows)
        details = sorted({f"- `{r.backend}`: {r.backend_detail}" for r in rows if r.backend_detail})
        if details:
            out += ["## Backend details", "", *details, ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(out_dir: Path, notes: list[str] | tuple[str, ...] = ()) -> Path:
    """Render ``report.md`` of the run in ``out_dir`` from its files; returns its path.

    Args:
        notes: lines about the folder found before (e.g. rows rebuilt by ``fibench report``),
            listed with what cannot be read now.

    Raises:
        UsageError: not a run folder.
    """
    run = load_run(out_dir)
    run.problems = [*notes, *(p for p in run.problems if p not in notes)]
    path = Path(out_dir) / "report.md"
    plots, note = [], ""
    try:
        from fibench.report.plots import report_plots

        plots = report_plots(run.rows, Path(out_dir), size_name=run.run.get("size_name", "size"))
    except ImportError as exc:
        note = f"Pictures not drawn: {exc} (matplotlib is a declared dependency: pip install matplotlib)."
    path.write_text(render_report(run, plots, note))
    return path
