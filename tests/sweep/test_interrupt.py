"""SIGINT / SIGTERM: a real signal to a real ``fibench run`` keeps the finished rows,
writes report.md and exits 130 / 143; a signal never cuts a row in half."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fibench.interrupt import SignalGuard, StopRun
from fibench.sweep.rowfiles import read_rows

REPO = Path(__file__).resolve().parents[2]
SIZES = ",".join(str(n) for n in range(1, 41))  # far more rows than finish before the signal


def _wait_for_rows(path: Path, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= 2:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the signal: {proc.communicate()}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("no row within the time limit")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_keeps_the_rows_writes_the_report_and_exits_128_plus_n(tmp_path, sig, code):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fibench", "run", "moe", "--model", "small", "--sizes", SIZES,
         "--backends", "torch-grouped", "--iters", "30", "--warmup", "1", "--device", "cpu", "--out", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(out / "results.jsonl", proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr + stdout
    read = read_rows(out)
    assert read.problems == [] and 2 <= len(read.rows) < 80  # whole rows only, both files agree
    name = signal.Signals(sig).name
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: {name}: stopped after {len(read.rows)} new rows;")
    assert "continue with: fibench run moe" in line and line.endswith("--resume")
    report = (out / "report.md").read_text()
    assert f"Stopped by {name}" in report and f"{len(read.rows)} rows" in report


def test_a_signal_during_a_write_waits_for_the_write():
    written = []
    previous = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        with pytest.raises(StopRun) as stop:
            with guard.hold():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs between these bytecodes
                    pass
                written.append("row")
        assert stop.value.signum == signal.SIGTERM
    assert written == ["row"]
    assert signal.getsignal(signal.SIGTERM) is previous  # restored
