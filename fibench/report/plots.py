"""Pictures for report.md and compare.md, drawn with matplotlib's object API (no pyplot
state, Agg canvas: headless). Each ``*_figure`` function returns a
``matplotlib.figure.Figure`` (tests inspect its axes); :func:`save` writes it as PNG.

- latency against size: one line per backend and combination of the other swept axes,
  log-log, 95% interval of the median as error bars;
- phase times: stacked bars (one stack per backend) for each case, from the per-kernel
  rollup (mean us per call per phase);
- compare ratios: new / base median per row with its interval, the "same" band shaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from fibench.report.tables import varying_axes
from fibench.sweep.results import Row

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

PHASE_COLUMNS = 4
"""Cases per row of subplots in the phase figure."""


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: "Figure", path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _series_label(r: Row, others: Sequence[str]) -> str:
    tail = ", ".join(f"{a}={r.axes.get(a)}" for a in others)
    return f"{r.backend} ({tail})" if tail else r.backend


def latency_figure(rows: Iterable[Row], op: str, *, size_name: str = "size", title: str = "") -> "Figure | None":
    """Median latency (us) against size for one op, log-log, with interval bars.

    One line per backend x combination of the other varying axes (e.g. kv_len, page_size).
    Returns None when no row of ``op`` is timed.
    """
    timed = [r for r in rows if r.op == op and r.timed]
    if not timed:
        return None
    others = varying_axes(timed)
    series: dict[str, list[Row]] = {}
    for r in timed:
        series.setdefault(_series_label(r, others), []).append(r)
    from matplotlib.ticker import NullLocator

    # one colour per backend, one line style per combination of the other axes, so a
    # backend reads as one colour across kv_len / page_size / ... (10 colours repeat beyond)
    backends = list(dict.fromkeys(r.backend for r in timed))
    combos = list(dict.fromkeys(tuple(r.axes.get(a) for a in others) for r in timed))
    styles = ("-", "--", ":", "-.")
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    for label, pts in series.items():
        first = pts[0]
        color = f"C{backends.index(first.backend) % 10}"
        style = styles[combos.index(tuple(first.axes.get(a) for a in others)) % len(styles)]
        pts.sort(key=lambda r: r.size)
        x = [r.size for r in pts]
        y = [r.median_us for r in pts]
        low = [max(0.0, r.median_us - r.median_ci_low_us) if r.median_ci_low_us is not None else 0.0 for r in pts]
        high = [max(0.0, r.median_ci_high_us - r.median_us) if r.median_ci_high_us is not None else 0.0 for r in pts]
        ax.errorbar(x, y, yerr=[low, high], marker="o", markersize=4, capsize=3, label=label, color=color,
                    linestyle=style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({r.size for r in timed})
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(size_name)
    ax.set_ylabel("us per call (median, 95% interval)")
    ax.set_title(title or f"{op}: latency per call")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _case_label(r: Row, others: Sequence[str]) -> str:
    tail = " ".join(f"{a}={r.axes.get(a)}" for a in others)
    return f"{r.size} {tail}".strip()


def phase_figure(rows: Iterable[Row], op: str, *, size_name: str = "size") -> "Figure | None":
    """Stacked phase times (mean us per call) per backend, one subplot per case of ``op``.

    Uses ``Row.extra["phases_us"]`` (the per-kernel rollup); None when no row has phases.
    """
    traced = [r for r in rows if r.op == op and r.extra.get("phases_us")]
    if not traced:
        return None
    others = varying_axes(traced)
    cases = list(dict.fromkeys(r.case_id for r in traced))
    phases = list(dict.fromkeys(p for r in traced for p in r.extra["phases_us"]))
    backends = list(dict.fromkeys(r.backend for r in traced))
    ncols = min(PHASE_COLUMNS, len(cases))
    nrows = math.ceil(len(cases) / ncols)
    fig = _figure(max(4.0, 2.6 * ncols + 1.5), 2.9 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = {p: f"C{i % 10}" for i, p in enumerate(phases)}
    for k, case in enumerate(cases):
        ax = axes[k // ncols][k % ncols]
        by = {r.backend: r for r in traced if r.case_id == case}
        names = [b for b in backends if b in by]
        bottom = [0.0] * len(names)
        for p in phases:
            values = [float(by[b].extra["phases_us"].get(p, 0.0)) for b in names]
            ax.bar(names, values, bottom=bottom, color=colors[p], label=p)
            bottom = [a + v for a, v in zip(bottom, values)]
        ax.set_title(f"{size_name} {_case_label(by[names[0]], others)}", fontsize=9)
        ax.set_ylabel("us per call")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    for k in range(len(cases), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="phase")
    fig.suptitle(f"{op}: where the time goes (per-kernel pass, mean per call)")
    return fig


VERDICT_COLORS = {"faster": "tab:green", "slower": "tab:red", "same": "tab:gray", "unsure": "tab:orange"}


def ratio_figure(labels: Sequence[str], ratios: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                 verdicts: Sequence[str], threshold_pct: float) -> "Figure":
    """New / base median per row with its interval; the "same" band [1/(1+t), 1+t] shaded.

    Args:
        labels: one per row (e.g. "rmsnorm/128 flashinfer"); ratios/lows/highs: the ratio
            and its interval; verdicts: faster | slower | same | unsure.
        threshold_pct: the compare threshold t in percent.
    """
    n = len(labels)
    fig = _figure(7.5, max(2.5, 0.28 * n + 1.2))
    ax = fig.add_subplot()
    t = threshold_pct / 100
    ax.axvspan(1 / (1 + t), 1 + t, color="0.9", label=f"same (+-{threshold_pct:g}%)")
    ax.axvline(1.0, color="0.5", linewidth=0.8)
    y = list(range(n))
    for i in y:
        lo, hi = lows[i], highs[i]
        err = [[max(0.0, ratios[i] - lo)], [max(0.0, hi - ratios[i])]] if not (math.isnan(lo) or math.isnan(hi)) else None
        ax.errorbar([ratios[i]], [i], xerr=err, fmt="o", capsize=3, color=VERDICT_COLORS.get(verdicts[i], "black"))
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("new / base median (95% interval, log scale)")
    ax.set_title("compare: ratio of medians per row")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def report_plots(rows: list[Row], out_dir: Path, *, size_name: str = "size") -> list[tuple[str, str]]:
    """Draw the run's latency and phase figures into ``out_dir/plots/``.

    Returns:
        (caption, path relative to ``out_dir``) per PNG written, in report order.

    Raises:
        ImportError: matplotlib is not installed.
    """
    out: list[tuple[str, str]] = []
    for op in dict.fromkeys(r.op for r in rows):
        for kind, make in (("latency", latency_figure), ("phases", phase_figure)):
            fig = make(rows, op, size_name=size_name)
            if fig is None:
                continue
            rel = f"plots/{kind}_{op}.png"
            save(fig, Path(out_dir) / rel)
            out.append((f"{op}: {'latency against ' + size_name if kind == 'latency' else 'phases per backend'}", rel))
    return out
