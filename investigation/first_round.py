"""Hypotheses (issue 8): why the first timing round of a process reads ~14% low for the
one-row rmsnorm on an H200 (1.96-1.98 us against 2.29 us in later rounds; the profiler's
kernel time is 2.30 us). investigation/rotation_layout.py showed the slab layout does not
remove it (audits/h200-2026-11-30-c). Two candidates:

- fresh memory: rounds whose copies land in newly ``cudaMalloc``-ed segments read low
  (predicts: a round after ``torch.cuda.empty_cache()`` reads low again; idle time does not
  matter);
- GPU idle state: rounds after the GPU sat idle read low (predicts: a round after a sleep
  reads low again, ``empty_cache`` does not matter).

Runs one case (FlashInfer rmsnorm, Llama-3-8B hidden 4096, graph + events, cold-L2
rotation) through a fixed schedule of rounds (sleep / empty_cache / layout per step) and
writes steps.csv: step, action, layout, median_us, new segments the round's copies took,
seconds since the process started, and the NVML SM / memory clock, power (W) and
temperature (C) read at the round's end.

Run from the repo root on the GPU host (about a minute):
    python3 investigation/first_round.py --out DIR [--size 1] [--samples 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from fibench.measure.rotation import RotationSet
from fibench.measure.timers import timer_class

from rotation_layout import _prepare  # investigation/ is on sys.path when run as a script

T0 = time.monotonic()
SCHEDULE = [  # (action before the round, layout)
    ("start", "slab"), ("-", "slab"), ("-", "slab"),
    ("empty_cache", "slab"), ("-", "slab"),
    ("sleep 5", "slab"), ("-", "slab"),
    ("sleep 20", "slab"), ("-", "slab"),
    ("empty_cache", "alloc"), ("-", "alloc"), ("-", "alloc"),
    ("empty_cache+sleep 5", "slab"), ("-", "slab"),
]


def _nvml(index: int) -> dict:
    import pynvml
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    return dict(sm_mhz=pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                mem_mhz=pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
                power_w=pynvml.nvmlDeviceGetPowerUsage(h) / 1000,
                temp_c=pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))


def _segments() -> int:
    return torch.cuda.memory_stats().get("segment.all.allocated", 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=1)
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    case_id, device, launch, plan = _prepare(args.size)
    cls = timer_class("events", graph=True)
    held: list[RotationSet] = []
    rows = []
    for step, (action, layout) in enumerate(SCHEDULE):
        if "empty_cache" in action:
            held.clear()
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
        if "sleep" in action:
            torch.cuda.synchronize(device)
            time.sleep(float(action.split()[-1]))
        before = _segments()
        held[:] = [RotationSet(launch, plan, device, layout=layout)]
        new_segments = _segments() - before
        timer = cls(held[0], plan, device)
        try:
            timer.start(5)
            xs = timer.sample(args.samples)
        finally:
            timer.close()
        rows.append(dict(case=case_id, step=step, action=action, layout=layout, median_us=statistics.median(xs),
                         min_us=min(xs), max_us=max(xs), new_segments=new_segments,
                         t_s=round(time.monotonic() - T0, 2), **_nvml(device.index or 0)))
        r = rows[-1]
        print(f"step {step:2d} {action:20s} {layout:5s} {r['median_us']:.3f} us  new segments {new_segments:5d} "
              f"t={r['t_s']:.1f}s sm {r['sm_mhz']} mem {r['mem_mhz']} MHz {r['power_w']:.0f} W {r['temp_c']} C",
              flush=True)
        pd.DataFrame(rows).to_csv(args.out / "steps.csv", index=False)


if __name__ == "__main__":
    main()
