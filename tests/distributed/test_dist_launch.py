"""Multi-process runs on the CPU with torch.distributed's gloo backend: ranks started by the
elastic launcher, a collective merged across ranks, a sharded sweep against the same sweep in
one process, an interrupt, and a process that a user's torchrun started."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from fibench.distributed.env import COMM_ENV
from fibench.distributed.launch import RankFailed, describe_failures, run_distributed
from fibench.sweep.config import resolve_run
from fibench.sweep.results import Status
from fibench.sweep.session import execute_run
from fibench.sweep.sinks import load_run

ROOT = Path(__file__).resolve().parents[2]


def test_allreduce_on_two_gloo_ranks(tmp_path):
    cfg = resolve_run("allreduce", "3", backends="gloo", axes={"hidden": 16}, cpu_workers=2, warmup=1, iters=2,
                      out=tmp_path)
    rows, report = run_distributed(cfg)
    by = {(r.op, r.backend): r for r in rows}
    assert set(by) == {(op, b) for op in ("allreduce", "allreduce_add_rmsnorm") for b in ("torch", "gloo")}
    plain, fused = by["allreduce", "gloo"], by["allreduce_add_rmsnorm", "gloo"]
    for row in (plain, fused):
        assert row.status == Status.OK and row.parity_verdict == "pass" and row.world_size == 2
        assert row.ranks_bitwise_equal is True and row.device == "cpu,cpu" and row.rank_spread_us >= 0
        assert [r["rank"] for r in row.extra["ranks"]] == [0, 1]
        assert row.extra["ranks"][0]["digest"] == row.extra["ranks"][1]["digest"]
        assert row.median_us == max(r["median_us"] for r in row.extra["ranks"])
        # 2 ranks: busbw = algbw = 3 x 16 bf16 bytes / slowest median
        assert row.busbw_gbps == pytest.approx(96 / (row.median_us * 1e-6) / 1e9)
        assert row.command.endswith("--device cpu")
    assert plain.bitwise_equal_frac == 1.0  # a sum of two bf16 values is rounded once, like the fp32 reference
    assert by["allreduce", "torch"].busbw_gbps is None and by["allreduce", "torch"].parity_verdict == "reference"
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["comm_ceiling"]["world_size"] == 2 and env["comm_ceiling"]["busbw_gbps"] > 0
    assert len(env["ranks"]) == 2
    text = report.read_text()
    assert "## Across ranks (2 ranks)" in text and "Collective run: every row is 2 ranks" in text
    assert json.loads((tmp_path / "launch.json").read_text())["workers"] == ["cpu", "cpu"]
    record = json.loads((tmp_path / "run.json").read_text())  # written by rank 0, in its environment
    assert record["comm_env"]["NCCL_NVLS_ENABLE"] == "0" and record["world_size"] == 2
    # the launcher's own session facts survive rank 0 rewriting run.json
    assert record["launch_s"] > 0 and record["started"] <= record["finished"]


def test_sharded_sweep_matches_the_same_sweep_in_one_process(tmp_path):
    common = dict(ops="rmsnorm", backends="torch", axes={"hidden": 32}, warmup=1, iters=2)
    rows, report = run_distributed(resolve_run("norm", "1,2,3", cpu_workers=2, out=tmp_path / "sharded", **common))
    single, _ = execute_run(resolve_run("norm", "1,2,3", device="cpu", out=tmp_path / "single", **common))
    assert [(r.case_id, r.backend) for r in rows] == [(r.case_id, r.backend) for r in single]
    assert [r.rank for r in rows] == [0, 1, 0]  # round-robin: case i on worker i mod 2
    for a, b in zip(rows, single):
        assert a.status == b.status == Status.OK
        assert (a.parity_verdict, a.bitwise_equal_frac, a.max_abs_err) == (b.parity_verdict, b.bitwise_equal_frac,
                                                                          b.max_abs_err)
    assert [r.case_id for r in load_run(tmp_path / "sharded").rows] == [r.case_id for r in single]
    assert (tmp_path / "sharded" / "shards" / "rank1" / "results.csv").exists()
    assert "Sharded sweep: each case ran on one of them" in report.read_text()


SCRIPT = """
import sys
from pathlib import Path
from fibench.distributed.launch import run_distributed
from fibench.errors import FibenchError
from fibench.sweep.config import resolve_run
cfg = resolve_run("norm", ",".join(str(s) for s in range(1, 41)), ops="rmsnorm", backends="torch",
                  axes={"hidden": 64}, cpu_workers=2, warmup=1, iters=200, out=Path(sys.argv[1]))
try:
    run_distributed(cfg)
except FibenchError as exc:
    print("RESULT", exc, flush=True)
    sys.exit(exc.exit_code)
"""


def _rows_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_interrupt_keeps_what_every_worker_finished(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        shards = [out / "shards" / f"rank{r}" / "results.jsonl" for r in (0, 1)]
        while not all(_rows_in(p) >= 1 for p in shards):
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    kept = load_run(out).rows
    assert 2 <= len(kept) < 40 and {r.rank for r in kept} == {0, 1}
    assert [r.size for r in kept] == sorted(r.size for r in kept)  # single-GPU order
    assert f"kept {len(kept)} finished rows" in output
    assert f"{len(kept)} rows" in (out / "report.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_process_started_by_a_users_torchrun_runs_as_its_rank(tmp_path, monkeypatch):
    for key, value in {**COMM_ENV, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    cfg = resolve_run("norm", "1,2", device="cpu", ops="rmsnorm", backends="torch", axes={"hidden": 8}, warmup=1,
                      iters=2, out=tmp_path)
    rows, report = run_distributed(cfg)
    assert [(r.case_id, r.rank) for r in rows] == [("rmsnorm/1", 0), ("rmsnorm/2", 0)]
    assert report == tmp_path / "report.md" and report.exists()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["workers"] == ["cpu"] and record["comm_env"] == COMM_ENV


def test_a_failing_rank_is_reported_in_one_line(tmp_path):
    cfg = resolve_run("norm", "1", ops="rmsnorm", backends="torch", cpu_workers=2, out=tmp_path)
    cfg.options["axes"] = {"hidden": "0"}  # each rank resolves its configuration from these and fails
    with pytest.raises(RankFailed, match=r"rank \d \(cpu\): UsageError: --hidden must be >= 1, got 0.*"
                                         r"kept 0 finished rows"):
        run_distributed(cfg)


def test_failed_ranks_are_named_in_one_line():
    failure = SimpleNamespace(message={"message": "RuntimeError: NCCL timeout\ntraceback..."}, exitcode=1)
    killed = SimpleNamespace(message="", exitcode=-9)
    exc = SimpleNamespace(failures={1: failure, 0: killed})
    assert describe_failures(exc, ("cuda:0", "cuda:1")) == \
        "rank 0 (cuda:0): exit code -9; rank 1 (cuda:1): RuntimeError: NCCL timeout"
    assert describe_failures(RuntimeError("rendezvous timed out"), ()) == "RuntimeError: rendezvous timed out"
