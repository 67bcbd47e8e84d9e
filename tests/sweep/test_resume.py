"""--resume: rows already finished with the same settings are kept and skipped."""

import json

import pandas as pd
import pytest

from fibench.errors import UsageError
from fibench.sweep.config import resolve_run
from fibench.sweep.resume import Resume, check_env
from fibench.sweep.rowfiles import read_rows
from fibench.sweep.session import execute_run


def _run(out, sizes, **kw):
    kw = {"ops": "rmsnorm", "backends": "torch,flashinfer", "device": "cpu", "iters": 1, "warmup": 0, "axes": {"hidden": "64"}, **kw}
    return execute_run(resolve_run("norm", sizes, out=out, **kw))


@pytest.fixture
def first(tmp_path):
    rows, _ = _run(tmp_path / "r", "1,2")
    assert len(rows) == 4
    return tmp_path / "r"


def test_resume_runs_only_the_missing_rows(first):
    before = pd.read_csv(first / "results.csv")
    rows, report = _run(first, "1,2,3", resume=True)
    assert [(r.case_id, r.backend) for r in rows] == [("rmsnorm/3", "torch"), ("rmsnorm/3", "flashinfer")]
    after = pd.read_csv(first / "results.csv")
    assert list(after.case_id) == ["rmsnorm/1", "rmsnorm/1", "rmsnorm/2", "rmsnorm/2", "rmsnorm/3", "rmsnorm/3"]
    pd.testing.assert_frame_equal(after.iloc[:4], before)  # the kept rows are untouched
    run = json.loads((first / "run.json").read_text())
    assert run["sizes"] == [1, 2, 3] and run["resumed"][0]["rows_kept"] == 4
    assert "Resumed: `" in report.read_text() and "6 rows" in report.read_text()


def test_resume_with_nothing_left_runs_nothing(first):
    rows, _ = _run(first, "2", resume=True)
    assert rows == []
    assert len(read_rows(first).rows) == 4


def test_resume_refuses_other_measurement_settings(first):
    with pytest.raises(UsageError, match=r"was run with other settings \(iters=1 then, 3 now[;)]"):
        _run(first, "1,2,3", resume=True, iters=3)
    with pytest.raises(UsageError, match=r"seed=0 then, 7 now"):
        _run(first, "1,2,3", resume=True, seed=7)
    assert len(read_rows(first).rows) == 4  # nothing was appended


def test_resume_repairs_a_cut_line_before_appending(first):
    jsonl = first / "results.jsonl"
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:3]) + "\n" + lines[3][:50])  # killed while writing row 4
    rows, _ = _run(first, "1,2,3", resume=True)
    assert len(rows) == 2  # row 4 was recovered from results.csv, not measured again
    read = read_rows(first)
    assert read.problems == [] and len(read.rows) == 6
    assert (first / "results.jsonl.broken").exists()


def test_another_gpu_is_refused():
    resume = Resume(previous={}, env={"gpu_name": "NVIDIA H200", "torch_version": "2.11"}, kept=[], done=frozenset())
    check_env(resume, {"gpu_name": "NVIDIA H200", "torch_version": "2.11"})
    with pytest.raises(UsageError, match="gpu_name='NVIDIA H200' then, 'NVIDIA H100 80GB HBM3' now"):
        check_env(resume, {"gpu_name": "NVIDIA H100 80GB HBM3", "torch_version": "2.11"})
