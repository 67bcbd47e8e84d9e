"""Issue 9 on a GPU: a kernel that poisons the CUDA context loses nothing else, and what
``--isolate`` costs per row.

Three sweeps, each a real ``python -m fibench run`` process:
  1. crash-auto: moe (small preset) with the test backend ``test-device-assert`` between
     ``torch`` and ``torch-grouped``, no ``--isolate``. The first device-side assert loses
     the process's CUDA context; every later row must still be measured (in child
     processes, noted on the rows).
  2. crash-isolate: the same plus ``test-sigkill`` (a process that dies), with
     ``--isolate``: every ``torch`` / ``torch-grouped`` row ok, the crash rows ``error``
     with the CUDA error or the signal.
  3. cost: the same real sweep in one process and with ``--isolate``: per-row
     ``isolation_s`` (process start, imports, CUDA context, inputs, reference) and
     whole-sweep seconds (run.json ``sweep_s``).
The test backends come from tests/plugins/crash_backends.py through FIBENCH_PLUGINS; they
are never in the shipped registries.

Run from the repository root on a GPU host (about 5 minutes):
    python3 investigation/isolation_gpu.py --out DIR [--model qwen3-30b-a3b] [--sizes 1,128]
Prints Markdown (also DIR/isolation_gpu.md). On a CPU the crash backend raises an ordinary
IndexError instead of a device-side assert; the flow is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PLUGIN = str(REPO / "tests" / "plugins" / "crash_backends.py")


def fibench(args: list[str], out: Path) -> tuple[int, float, str]:
    """Run ``python -m fibench run ... --out out``; returns (exit code, wall s, last stderr line)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "FIBENCH_PLUGINS": PLUGIN, "COLUMNS": "200"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fibench", "run", *args, "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=1800)
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return proc.returncode, time.perf_counter() - t0, last


def rows_table(out: Path) -> list[str]:
    df = pd.read_csv(out / "results.csv")
    lines = ["| case | backend | status | parity | median us | first call s | isolation_s | reason / notes |",
             "|---|---|---|---|---|---|---|---|"]

    def num(v: float, fmt: str) -> str:
        return format(v, fmt) if pd.notna(v) else "-"

    for r in df.itertuples():
        why = r.reason if isinstance(r.reason, str) else (r.notes if isinstance(r.notes, str) else "")
        parity = r.parity_verdict if isinstance(r.parity_verdict, str) else "-"
        lines.append(f"| {r.case_id} | {r.backend} | {r.status} | {parity} | {num(r.median_us, '.1f')} "
                     f"| {num(r.first_call_s, '.2f')} | {num(r.isolation_s, '.2f')} | {str(why)[:110]} |")
    return lines


def breakdown(out: Path) -> list[str]:
    """Median of each part of the isolated rows' extra cost."""
    parts: dict[str, list[float]] = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        for k, v in json.loads(line).get("extra", {}).get("isolation", {}).items():
            parts.setdefault(k, []).append(float(v))
    return [f"- {k}: median {sorted(v)[len(v) // 2]:.2f} s over {len(v)} rows" for k, v in parts.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="qwen3-30b-a3b", help="preset of the cost sweep")
    ap.add_argument("--sizes", default="1,128", help="sizes of the cost sweep")
    ap.add_argument("--backends", default="torch,torch-grouped,flashinfer-cutlass", help="backends of the cost sweep")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    crash = ["moe", "--model", "small", "--sizes", "1,8,64", "--iters", "20"]
    report = ["# Crash isolation and the cost of --isolate", ""]
    sweeps = [
        ("crash-auto", [*crash, "--backends", "torch,test-device-assert,torch-grouped"]),
        ("crash-isolate", [*crash, "--backends", "torch,test-device-assert,torch-grouped,test-sigkill", "--isolate"]),
        ("cost-in-process", ["moe", "--model", a.model, "--sizes", a.sizes, "--backends", a.backends]),
        ("cost-isolate", ["moe", "--model", a.model, "--sizes", a.sizes, "--backends", a.backends, "--isolate"]),
    ]
    for name, args in sweeps:
        out = a.out / name
        code, wall, last = fibench(args, out)
        run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
        if len(report) == 2 and (out / "env.json").exists():
            env = json.loads((out / "env.json").read_text())
            report += [f"{env.get('gpu_name') or 'CPU'}, torch {env.get('torch_version')}, "
                       f"FlashInfer {env.get('flashinfer_version')}", ""]
        report += [f"## {name}", "", f"`fibench run {' '.join(args)}`: exit {code}, {wall:.1f} s wall, "
                   f"sweep {run.get('sweep_s', '-')} s" + (f"; last stderr line: {last}" if code else ""), ""]
        if (out / "results.csv").exists():
            report += rows_table(out) + [""]
        if name.endswith("isolate"):
            report += breakdown(out) + [""]
    text = "\n".join(report)
    (a.out / "isolation_gpu.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
