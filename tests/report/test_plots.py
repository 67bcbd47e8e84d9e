"""Pictures: files written and non-empty, and the figures' axes what they claim."""

import math

import pytest

from fibench.report.markdown import write_report
from fibench.report.plots import latency_figure, phase_figure, ratio_figure, report_plots, save

from doctored import make_row, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sweep():
    rows = []
    for backend, scale in (("torch", 10.0), ("flashinfer", 1.0)):
        for kv in (1024, 4096):
            for size in (1, 16, 128):
                rows.append(make_row(f"decode/{size}/kv_len={kv}", backend, median=scale * size * kv / 1024,
                                     axes={"kv_len": kv, "page_size": 16}, op="decode", size=size,
                                     phases={"attention": 0.7 * size, "merge": 0.3 * size}))
    return rows


def test_latency_figure_lines_per_backend_and_axis_combination():
    fig = latency_figure(_sweep(), "decode", size_name="batch")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "batch" and "us per call" in ax.get_ylabel()
    labels = sorted(t.get_text() for t in ax.get_legend().get_texts())
    # page_size does not vary, so only kv_len names the series
    assert labels == ["flashinfer (kv_len=1024)", "flashinfer (kv_len=4096)", "torch (kv_len=1024)",
                      "torch (kv_len=4096)"]
    assert len(ax.containers) == 4  # one errorbar container per series
    line = ax.containers[0].lines[0]
    assert list(line.get_xdata()) == [1, 16, 128]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "16", "128"]


def test_latency_interval_bars_come_from_the_rows():
    row = make_row("rmsnorm/8", median=10.0, median_ci_low_us=9.0, median_ci_high_us=12.0)
    fig = latency_figure([row], "rmsnorm")
    segments = fig.axes[0].containers[0].lines[2][0].get_segments()
    assert [tuple(p) for p in segments[0]] == [(8.0, 9.0), (8.0, 12.0)]


def test_phase_figure_one_panel_per_case_stacked_by_phase():
    fig = phase_figure(_sweep(), "decode", size_name="batch")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6  # 3 sizes x 2 kv_len
    ax = visible[2]  # batch 128, kv_len 1024
    assert ax.get_title() == "batch 128 kv_len=1024"
    bars = ax.patches
    assert len(bars) == 4  # 2 backends x 2 phases
    heights = sorted(round(b.get_height(), 6) for b in bars)
    assert heights == [0.3 * 128] * 2 + [0.7 * 128] * 2
    assert phase_figure([make_row()], "rmsnorm") is None  # no rollup, no picture


def test_ratio_figure_has_log_ratio_axis_and_the_same_band():
    fig = ratio_figure(["a", "b"], [1.0, 1.5], [0.99, 1.4], [1.01, 1.6], ["same", "slower"], 3.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    band = ax.patches[0]  # axvspan: a Rectangle in data x (matplotlib >= 3.9)
    assert (band.get_x(), band.get_x() + band.get_width()) == (pytest.approx(1 / 1.03), pytest.approx(1.03))


def test_files_are_written_and_embedded(tmp_path):
    out = write_run(tmp_path / "run", _sweep(), run={"suite": "decode", "size_name": "batch"})
    report = write_report(out).read_text()  # draws through report_plots
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["latency_decode.png", "phases_decode.png"]
    for png in (out / "plots").iterdir():
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    assert "![decode: latency against batch](plots/latency_decode.png)" in report
    assert "![decode: phases per backend](plots/phases_decode.png)" in report


def test_report_plots_skips_ops_without_data(tmp_path):
    rows = [make_row("rmsnorm/8", median=3.0)]
    assert report_plots(rows, tmp_path, size_name="rows") == [("rmsnorm: latency against rows",
                                                               "plots/latency_rmsnorm.png")]


def test_save_creates_folders(tmp_path):
    fig = ratio_figure(["x"], [1.0], [math.nan], [math.nan], ["unsure"], 3.0)
    path = save(fig, tmp_path / "a" / "b.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
