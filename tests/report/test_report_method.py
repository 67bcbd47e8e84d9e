"""report.md describes this run and nothing else: only the timers rows used, the
tolerances verdicts used, no throughput columns without a byte/FLOP model, why rollup.csv
and kernels.csv are empty, and no reference to documents outside the run."""

import pandas as pd

from fibench.report.markdown import render_report
from fibench.sweep.results import Row, Status
from fibench.sweep.sinks import KERNEL_COLUMNS, ROLLUP_COLUMNS, RunWriter, load_run

BASE = dict(suite="moe", op="moe", dtype="bf16", model="small")


def _run(tmp_path, rows, **run_json):
    w = RunWriter(tmp_path)
    w.write_json("run.json", {"suite": "moe", "reference": "torch", "baseline": "torch", "device": "cpu",
                              "per_kernel": False, **run_json})
    for row in rows:
        w.append(row)
    return load_run(tmp_path)


def _row(size, backend, **kw):
    return Row(case_id=f"moe/{size}", size=size, backend=backend, status=Status.OK, median_us=100.0 * size,
               timer="cpu-wall-clock", **BASE, **kw)


def test_a_cpu_run_report_speaks_only_of_what_it_used(tmp_path):
    rows = [_row(1, "torch", parity_verdict="reference"),
            _row(1, "fast", parity_verdict="pass", parity_rule="allclose", atol=8e-3, rtol=1e-2)]
    md = render_report(_run(tmp_path, rows))
    assert "DESIGN.md" not in md
    assert "Timer `cpu-wall-clock` (2 rows): CPU wall clock around each call" in md
    assert "cuda-graph+events" not in md and "cuda-events" not in md
    assert "verdict by tolerance (bf16: allclose, atol 0.008, rtol 0.01 (1 row))" in md
    assert "TB/s" not in md and "TFLOP/s" not in md and "SOL" not in md  # no flop/bytes, no ceilings
    assert "Per-kernel pass: off (no CUDA GPU: kernel traces need CUPTI); rollup.csv and kernels.csv hold only their header" in md
    assert list(pd.read_csv(tmp_path / "rollup.csv").columns) == ROLLUP_COLUMNS
    assert list(pd.read_csv(tmp_path / "kernels.csv").columns) == KERNEL_COLUMNS


def test_throughput_appears_with_the_byte_model_and_isolation_cost_is_summarised(tmp_path):
    rows = [_row(1, "torch", parity_verdict="reference", tbps=0.5, tflops=1.0, flop=1e8, bytes_read=4e7,
                 bytes_written=1e7, isolation_s=2.0),
            _row(2, "torch", parity_verdict="reference", tbps=0.6, tflops=1.2, flop=2e8, bytes_read=8e7,
                 bytes_written=2e7, isolation_s=3.0)]
    md = render_report(_run(tmp_path, rows))
    assert "TB/s and TFLOP/s from the suite's byte/FLOP model at the median." in md
    assert "| moe | 1 | torch | 0.500 | 1.00 |" in md
    assert "2 rows ran in their own process" in md and "median 3.00 s per row" in md


def test_a_stopped_run_says_so(tmp_path):
    md = render_report(_run(tmp_path, [_row(1, "torch", parity_verdict="reference")], stopped_by="SIGTERM",
                            stopped="2026-11-30T12:00:00"))
    assert "**Stopped by SIGTERM** at 2026-11-30T12:00:00" in md and "`--resume`" in md


def test_a_row_above_a_ceiling_is_explained(tmp_path):
    rows = [_row(1, "torch", parity_verdict="reference", tbps=4.5, sol_bw_pct=112.0)]
    run = _run(tmp_path, rows)
    run.env["ceilings"] = {"copy_tbps": 4.0, "gemm_tflops": 790.0, "method": "m"}
    assert "1 row exceeds 100% of a ceiling" in render_report(run)
    run.rows[0].sol_bw_pct = 90.0
    assert "100% of a ceiling" not in render_report(run)


def test_the_ceilings_line_names_the_fp8_ceiling_or_its_absence(tmp_path):
    run = _run(tmp_path, [_row(1, "torch", parity_verdict="reference")])
    run.env["ceilings"] = {"copy_tbps": 4.0, "gemm_tflops": 790.0, "method": "m", "fp8_gemm_tflops": 1450.0}
    assert "fp8 GEMM 1450 TFLOP/s (rows whose FLOPs run in fp8 use it)" in render_report(run)
    run.env["ceilings"] = {"copy_tbps": 4.0, "gemm_tflops": 790.0, "method": "m"}  # a run.json from before
    assert "no fp8 GEMM ceiling (fp8 rows use the bf16 one)" in render_report(run)
