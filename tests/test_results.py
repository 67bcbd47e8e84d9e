"""Row validation and the run-folder round trip."""

import pytest

from fibench.report.markdown import render_report, speedup
from fibench.sweep.results import CSV_COLUMNS, Row, Status
from fibench.sweep.sinks import RunWriter, load_run

BASE = dict(suite="moe", case_id="moe/8", op="moe", size=8, dtype="bf16", model="small")


def test_validator_refuses_illegal_rows():
    with pytest.raises(ValueError, match="needs a reason"):
        Row(backend="b", status=Status.UNSUPPORTED, **BASE)
    with pytest.raises(ValueError, match="cannot carry timings"):
        Row(backend="b", status=Status.UNSUPPORTED, reason="r", median_us=1.0, **BASE)
    with pytest.raises(ValueError, match="needs a median"):
        Row(backend="b", status=Status.OK, **BASE)
    with pytest.raises(ValueError, match="parity_fail row"):
        Row(backend="b", status=Status.PARITY_FAIL, median_us=1.0, parity_verdict="pass", **BASE)
    with pytest.raises(ValueError, match="must have status parity_fail"):
        Row(backend="b", status=Status.OK, median_us=1.0, parity_verdict="fail", **BASE)


def test_speedup_skips_failed_parity():
    rows = [Row(backend="ref", status=Status.OK, median_us=10.0, parity_verdict="reference", **BASE),
            Row(backend="fast", status=Status.OK, median_us=2.5, parity_verdict="pass", **BASE),
            Row(backend="wrong", status=Status.PARITY_FAIL, median_us=1.0, parity_verdict="fail", **BASE)]
    sp = speedup(rows, "ref")
    assert sp[("moe/8", "fast")] == 4.0 and ("moe/8", "wrong") not in sp


def test_round_trip_and_report(tmp_path):
    w = RunWriter(tmp_path)
    w.write_json("env.json", {"gpu_name": "Test GPU", "compute_capability": "9.0"})
    w.write_json("run.json", {"suite": "moe", "reference": "ref", "baseline": "ref", "size_name": "tokens"})
    ok = Row(backend="ref", status=Status.OK, median_us=10.0, parity_verdict="reference", timer="cuda-graph+events",
             cold_l2_method="rotate", l2_cold=True, rotation_copies=4, calls_per_graph=12, kernel_sum_us=9.5,
             extra={"phases_us": {"gemm1": 6.0, "gemm2": 3.5}}, **BASE)
    bad = Row(backend="fi", status=Status.PARITY_FAIL, median_us=5.0, parity_verdict="fail", atol=8e-3, rtol=1e-2,
              extra={"worst": [{"output": "out", "index": [3, 4], "reference": 1.0, "candidate": 1.5,
                                "abs_err": 0.5, "ulp": 64}]}, **BASE)
    gone = Row(backend="x", status=Status.UNSUPPORTED, reason="needs SM 10.0", **BASE)
    for row in (ok, bad, gone):
        w.append(row, [{"case_id": "moe/8", "backend": row.backend, "op": "gemm1", "phase": "gemm1",
                        "mean_us": 6.0, "share": 0.6, "kernels_per_call": 1, "kernels": "k"}])
    run = load_run(tmp_path)
    assert [r.backend for r in run.rows] == ["ref", "fi", "x"]
    assert run.rows[1].extra["worst"][0]["index"] == [3, 4]
    assert run.rows[0].l2_cold is True and len(run.rollup) == 3
    assert (tmp_path / "results.csv").read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    md = render_report(run)
    assert "| moe | 8 | 10.0 us | 5.00 us ✗parity | unsupported |" in md
    assert "| out | (3, 4) | 1.00000 | 1.50000 | 0.500 | 64 |" in md
    assert "| x | unsupported | needs SM 10.0 |" in md.replace("| moe | 8 ", "")
    assert "| moe | 8 | gemm1 | 6.00 | 63.2% |" in md and "|  |  | gemm2 | 3.50 | 36.8% |" in md
