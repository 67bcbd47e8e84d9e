"""Reading rows back from a damaged run folder, and rebuilding its files."""

import json

from fibench.sweep.repair import repair_run
from fibench.sweep.results import Row, Status
from fibench.sweep.rowfiles import read_rows
from fibench.sweep.sinks import RunWriter

BASE = dict(suite="norm", op="rmsnorm", dtype="bf16", model="llama-3-8b", params='{"hidden": 64}')


def _folder(tmp_path, n=3):
    w = RunWriter(tmp_path)
    rows = [Row(case_id=f"rmsnorm/{i}", size=i, backend="torch", status=Status.OK, median_us=float(i),
                axes={"hidden": 64}, max_err_over_tol=float("inf") if i == 2 else 0.5, l2_cold=False,
                samples=5, extra={"info": {"i": i}}, **BASE) for i in range(1, n + 1)]
    for row in rows:
        w.append(row)
    return rows


def test_an_intact_folder_reads_back_exactly(tmp_path):
    rows = _folder(tmp_path)
    read = read_rows(tmp_path)
    assert read.problems == [] and read.jsonl_ok and read.csv_ok
    assert [r.json_dict() for r in read.rows] == [r.json_dict() for r in rows]  # inf survives the JSON round trip


def test_rows_missing_from_results_jsonl_come_back_from_results_csv_with_their_types(tmp_path):
    rows = _folder(tmp_path)
    (tmp_path / "results.jsonl").unlink()
    read = read_rows(tmp_path)
    assert read.problems[0] == "results.jsonl: missing" and len(read.recovered) == 3
    back = read.rows[1]
    assert back.axes == {"hidden": 64} and back.size == 2 and back.samples == 5
    assert back.median_us == 2.0 and back.max_err_over_tol == float("inf") and back.l2_cold is False
    assert back.status == Status.OK and back.extra == {}  # nested data lives only in the JSONL
    _, messages = repair_run(tmp_path)
    assert messages[-1] == "rebuilt results.jsonl from the 3 readable rows"
    assert [json.loads(line)["case_id"] for line in (tmp_path / "results.jsonl").read_text().splitlines()] == \
        [r.case_id for r in rows]


def test_a_csv_record_with_an_impossible_status_is_skipped_by_line(tmp_path):
    _folder(tmp_path, n=2)
    (tmp_path / "results.jsonl").write_text("")
    text = (tmp_path / "results.csv").read_text().replace(",ok,", ",bogus,", 1)
    (tmp_path / "results.csv").write_text(text)
    read = read_rows(tmp_path)
    assert read.problems[0].startswith("results.csv record 2: unreadable (ValueError: 'bogus' is not a valid Status)")
    assert [r.case_id for r in read.rows] == ["rmsnorm/2"]


def test_consistent_files_are_left_alone(tmp_path):
    _folder(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _, messages = repair_run(tmp_path)
    assert messages == [] and {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
