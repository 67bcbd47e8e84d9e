"""Issue 9, shown: every bad or edge input a new user would try, one line each.

Runs each command as a real ``python -m fibench`` process (in a scratch folder with a
file FILE, an empty folder, a finished run to damage...) and prints one line:

    NN name  rc=R tb=yes|no | first line of stderr (else stdout) || what the files hold

``tb=yes`` means a Python traceback reached the user. Expected: every bad input exits 2
with one ``error:`` line and writes nothing; every damaged or stopped run keeps its rows;
``tb=no`` everywhere. Two commands are there to show a limit rather than a fix:
``crash-without-isolate`` (a backend that SIGKILLs its process takes the run with it,
rows so far are kept) is what ``--isolate`` is for; the next command continues that run
with ``--resume --isolate``.

Run from the repository root (CPU is enough; takes minutes, mostly torch imports):
    python3 investigation/bad_inputs.py > investigation/bad_inputs.out
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PLUGIN = str(REPO / "tests" / "plugins" / "crash_backends.py")
TREE = str(REPO / "tests" / "audit" / "fixtures" / "skips_tree")
MOE = ["run", "moe", "--sizes", "1"]
QUICK = ["--model", "small", "--iters", "3", "--warmup", "1"]
NORM = ["run", "norm", "--sizes", "2,3", "--hidden", "64", "--iters", "2", "--warmup", "0"]


@dataclass
class Try:
    """One command: ``args`` after ``python -m fibench`` (or a Python snippet with
    ``python``), an optional scratch setup, a signal sent once a row exists, and a check
    that summarises what the run folder holds afterwards."""

    name: str
    args: list[str]
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    signal: int | None = None
    check: Callable[[Path], str] | None = None
    python: bool = False


def rows(folder: str) -> Callable[[Path], str]:
    """Summary of results.csv: status counts per backend, and the distinct reasons."""
    def check(tmp: Path) -> str:
        path = tmp / folder / "results.csv"
        if not path.exists():
            return f"{folder}/results.csv: none"
        df = pd.read_csv(path)
        counts = ", ".join(f"{b} {'/'.join(g.status)}" for b, g in df.groupby("backend", sort=False))
        reasons = "; ".join(sorted({str(r)[:70] for r in df.reason.dropna()}))
        return f"{len(df)} rows: {counts}" + (f" | reasons: {reasons}" if reasons else "")
    return check


def files(folder: str, *names: str) -> Callable[[Path], str]:
    """Which of ``names`` exist in ``folder`` (and the header of a CSV)."""
    def check(tmp: Path) -> str:
        out = []
        for name in names:
            p = tmp / folder / name
            out.append(f"{name}: {'header ' + p.read_text().splitlines()[0][:40] if p.exists() and name.endswith('.csv') else ('yes' if p.exists() else 'no')}")
        return "; ".join(out)
    return check


def report_facts(folder: str) -> Callable[[Path], str]:
    """What report.md says about itself: DESIGN.md cited? timers described? TB/s shown?"""
    def check(tmp: Path) -> str:
        md = (tmp / folder / "report.md").read_text()
        line = next((ln for ln in md.splitlines() if ln.startswith("- Timers used")), "")
        df = pd.read_csv(tmp / folder / "results.csv")
        return (f"DESIGN.md cited: {'DESIGN.md' in md}; cuda-graph+events described: {'cuda-graph+events' in md}; "
                f"flop/bytes filled: {bool(df.flop.notna().any())}, TB/s shown: {'TB/s' in md}; "
                f"empty rollup/kernels explained: {'hold only their header' in md} | {line[:90]}")
    return check


def damage(kind: str) -> Callable[[Path], None]:
    """Copy the finished norm run to ./damaged and break one of its files."""
    def setup(tmp: Path) -> None:
        d = tmp / "damaged"
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(tmp / "base", d)
        if kind == "run.json":
            (d / "run.json").write_text('{"suite": "norm", "sizes": [2,')
        elif kind == "jsonl":
            lines = (d / "results.jsonl").read_text().splitlines()
            (d / "results.jsonl").write_text("\n".join(lines[:-1] + [lines[-1][:60]]))
        elif kind == "csv":
            text = (d / "results.csv").read_text().splitlines()
            (d / "results.csv").write_text("\n".join(text[:3] + ["moe,garbage"] + text[4:]) + "\n")
    return setup


def folder_with_run(name: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        if not (tmp / name).exists():
            shutil.copytree(tmp / "base", tmp / name)
    return setup


TRIES = [
    # --- tracebacks before issue 9 ---
    Try("run --out FILE", [*MOE, "--out", "FILE"]),
    Try("run --out /proc/x", [*MOE, "--out", "/proc/x"]),
    Try("run --out FILE/sub", [*MOE, "--out", "FILE/sub"]),
    Try("skips --out FILE", ["audit", "skips", TREE, "--out", "FILE"]),
    Try("skips --out /proc/x", ["audit", "skips", TREE, "--out", "/proc/x"]),
    Try("skips --out FILE/sub", ["audit", "skips", TREE, "--out", "FILE/sub"]),
    Try("compat --out FILE", ["audit", "compat", "--out", "FILE"]),
    Try("compat --out /proc/x", ["audit", "compat", "--out", "/proc/x"]),
    Try("compat --out FILE/sub", ["audit", "compat", "--out", "FILE/sub"]),
    Try("report with corrupt run.json", ["report", "damaged"], setup=damage("run.json"), check=files("damaged", "report.md")),
    Try("seed overflow", [*MOE, "--seed", "99999999999999999999"]),
    Try("host OOM creating inputs", ["run", "moe", "--hidden", "65536", "--sizes", "1,100000", "--iters", "3",
                                     "--out", "oom"], check=rows("oom")),
    Try("exception with empty message", [*MOE, *QUICK, "--backends", "torch,test-empty-error,torch-grouped", "--out",
                                         "empty-msg"], env={"FIBENCH_PLUGINS": PLUGIN}, check=rows("empty-msg")),
    # --- silent results before issue 9 ---
    Try("--out an existing run folder", [*MOE, "--out", "existing"], setup=folder_with_run("existing")),
    Try("--out existing run + --resume", [*NORM[:2], "--sizes", "2,3,4", *NORM[4:], "--out", "existing", "--resume"],
        setup=folder_with_run("existing"), check=rows("existing")),
    Try("--model ''", [*MOE, "--model", ""]),
    Try("skips on a non-Python file", ["audit", "skips", "README.md"]),
    Try("skips on an empty folder", ["audit", "skips", "empty"]),
    Try("report, results.jsonl cut mid-line", ["report", "damaged"], setup=damage("jsonl"), check=rows("damaged")),
    Try("report, broken results.csv", ["report", "damaged"], setup=damage("csv"), check=rows("damaged")),
    Try("SIGINT during a run", ["run", "moe", *QUICK, "--sizes", ",".join(map(str, range(1, 41))), "--out", "sigint"],
        signal=signal.SIGINT, check=rows("sigint")),
    Try("SIGTERM during a run", ["run", "moe", *QUICK, "--sizes", ",".join(map(str, range(1, 41))), "--out", "sigterm"],
        signal=signal.SIGTERM, check=files("sigterm", "results.csv", "report.md")),
    Try("CPU run: rollup.csv, kernels.csv", [*NORM, "--out", "cpu-files"], check=files("cpu-files", "rollup.csv", "kernels.csv")),
    Try("report.md describes this run only", ["report", "cpu-files"], check=report_facts("cpu-files")),
    Try("max_err_over_tol, same inf", ["-c", "import torch; from fibench.parity.metrics import compare; "
                                       "o = torch.tensor([1.0, float('inf')]); "
                                       "print('max_err_over_tol =', compare({'o': o}, {'o': o.clone()}).max_err_over_tol)"],
        python=True),
    Try("typer usage error (unknown option)", [*MOE, "--bogus"]),
    # --- a crashing kernel ---
    Try("--isolate, backend SIGKILLs itself", [*MOE[:3], "1,2", *QUICK, "--backends", "torch,test-sigkill,torch-grouped",
                                                "--isolate", "--out", "isolated"], env={"FIBENCH_PLUGINS": PLUGIN},
        check=rows("isolated")),
    Try("crash-without-isolate (the limit)", [*MOE[:3], "1,2", *QUICK, "--backends", "torch,test-sigkill,torch-grouped",
                                              "--out", "crashed"], env={"FIBENCH_PLUGINS": PLUGIN}, check=rows("crashed")),
    Try("...then --resume --isolate", [*MOE[:3], "1,2", *QUICK, "--backends", "torch,test-sigkill,torch-grouped",
                                         "--out", "crashed", "--resume", "--isolate"], env={"FIBENCH_PLUGINS": PLUGIN},
        check=rows("crashed")),
    Try("device-assert backend on the CPU", [*MOE, *QUICK, "--backends", "torch,test-device-assert,torch-grouped",
                                             "--out", "assert"], env={"FIBENCH_PLUGINS": PLUGIN}, check=rows("assert")),
    # --- more edge inputs ---
    Try("missing --sizes", ["run", "moe"]),
    Try("unknown suite", ["run", "attention-x", "--sizes", "1"]),
    Try("--sizes 1,x", ["run", "moe", "--sizes", "1,x"]),
    Try("--sizes ''", ["run", "moe", "--sizes", ""]),
    Try("--sizes 0", ["run", "moe", "--sizes", "0"]),
    Try("--sizes 99999999", ["run", "moe", "--sizes", "99999999"]),
    Try("--sizes 4,4", ["run", "moe", "--sizes", "4,4"]),
    Try("--iters 0", [*MOE, "--iters", "0"]),
    Try("--warmup -1", [*MOE, "--warmup", "-1"]),
    Try("--iters abc", [*MOE, "--iters", "abc"]),
    Try("--device cuda without a GPU", [*MOE, "--device", "cuda"]),
    Try("--device tpu", [*MOE, "--device", "tpu"]),
    Try("--per-kernel without a GPU", [*MOE, "--per-kernel"]),
    Try("--backends nope", [*MOE, "--backends", "torch,nope"]),
    Try("--backends torch,,x", [*MOE, "--backends", "torch,,x"]),
    Try("--dtype fp64", [*MOE, "--dtype", "fp64"]),
    Try("--cold-l2 tepid", [*MOE, "--cold-l2", "tepid"]),
    Try("--model gpt-5", [*MOE, "--model", "gpt-5"]),
    Try("--model llama-3-8b (dense) on moe", [*MOE, "--model", "llama-3-8b"]),
    Try("--top-k 9 with 8 experts", [*MOE, "--model", "small", "--top-k", "9"]),
    Try("--ep 3 with 8 experts", [*MOE, "--model", "small", "--ep", "3"]),
    Try("--hidden 0 (norm)", ["run", "norm", "--sizes", "1", "--hidden", "0"]),
    Try("--op attention", [*MOE, "--op", "attention"]),
    Try("--seed -1", [*MOE, "--seed", "-1"]),
    Try("--resume without --out", [*MOE, "--resume"]),
    Try("--resume on an empty folder", [*MOE, "--out", "empty", "--resume"]),
    Try("--resume with other --iters", [*NORM[:-4], "--iters", "5", "--out", "existing", "--resume"],
        setup=folder_with_run("existing")),
    Try("report on a missing folder", ["report", "nowhere"]),
    Try("report on a folder that is no run", ["report", "empty"]),
    Try("FIBENCH_PLUGINS=no.such.module", MOE, env={"FIBENCH_PLUGINS": "no.such.module"}),
    Try("skips on a missing path", ["audit", "skips", "nowhere"]),
    Try("skips --rules-mode without --rules", ["audit", "skips", TREE, "--rules-mode", "extend"]),
    Try("compat --timeout -1", ["audit", "compat", "--timeout", "-1"]),
    Try("compat --only nope", ["audit", "compat", "--only", "nope"]),
    Try("list --bogus", ["list", "--bogus"]),
    Try("unknown command", ["frobnicate"]),
]


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def run_one(t: Try, tmp: Path) -> str:
    if t.setup:
        t.setup(tmp)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250", **t.env}
    argv = [sys.executable, *(t.args if t.python else ["-m", "fibench", *t.args])]
    proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if t.signal is not None:
        jsonl = tmp / t.args[t.args.index("--out") + 1] / "results.jsonl"
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline and not (jsonl.exists() and jsonl.read_text().count("\n") >= 2):
            time.sleep(0.1)
        proc.send_signal(t.signal)
    out, err = proc.communicate(timeout=900)
    warnings = [ln.strip() for ln in err.splitlines() if ln.startswith("warning:")]
    if proc.returncode != 0 and err.strip():
        shown = err.strip().splitlines()[-1].strip()  # the error line is the last (warnings come first)
    elif warnings:
        shown = " / ".join(warnings)
    else:
        shown = first_line(out) or first_line(err)
    tb = "yes" if "Traceback (most recent call last)" in out + err else "no"
    extra = f" || {t.check(tmp)}" if t.check else ""
    return f"rc={proc.returncode:<4} tb={tb:<3} | {shown[:400]}{extra}"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fibench-bad-inputs-") as name:
        tmp = Path(name)
        (tmp / "FILE").write_text("a file, not a folder\n")
        (tmp / "README.md").write_text("# not Python\n")
        (tmp / "empty").mkdir()
        base = subprocess.run([sys.executable, "-m", "fibench", *NORM, "--out", "base"], cwd=tmp, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert base.returncode == 0, base.stderr
        print(f"# fibench bad inputs: {len(TRIES)} commands, python {sys.version.split()[0]}, "
              f"scratch folder with FILE, README.md, empty/, and a finished norm run base/ (copied per command)")
        for i, t in enumerate(TRIES, start=1):
            print(f"{i:2d} {t.name:<38} {run_one(t, tmp)}", flush=True)
        print("# run.json of the resumed run:", json.dumps(json.loads((tmp / 'existing' / 'run.json').read_text()).get("resumed")))


if __name__ == "__main__":
    main()
