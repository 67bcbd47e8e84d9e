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

A third candidate, checked with ``--plain R`` (R plain rounds, no sleeps or empty_cache):

- L2 survival: with the copies' physical placement, a few copies survive in L2 from one
  replay to the next (predicts: ``--copies-scale 2`` shrinks the fast rounds' gap);
- process warm-up: the first rounds of a process read low whatever runs in them
  (predicts: ``--prime-size 16 --prime-rounds 2``, two throwaway rounds of another size
  first, removes the fast rounds of the size timed next).

Result (H200, audits/h200-2026-11-30-c, section 1): neither fresh memory, nor idle time, nor L2
survival; two throwaway rounds of another case remove the low rounds (process warm-up).

Run from the repo root on the GPU host (about a minute):
    python3 investigation/first_round.py --out DIR [--size 1] [--samples 30]
    python3 investigation/first_round.py --out DIR --plain 4 [--copies-scale 2] [--prime-size 16 --prime-rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from fibench.measure.rotation import RotationSet

from rotation_layout import _prepare, one_round  # investigation/ is on sys.path when run as a script

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


def _round(launch, plan, device, layout: str, held: list, samples: int) -> float:
    return statistics.median(one_round(launch, plan, device, layout, held, samples))


def _plain(args) -> None:
    """``--plain R``: optional throwaway rounds of another size, then R rounds of the size."""
    rows = []
    if args.prime_size:
        _, device, launch, plan = _prepare(args.prime_size)
        held: list = []
        for r in range(args.prime_rounds):
            med = _round(launch, plan, device, args.layout, held, args.samples)
            rows.append(dict(size=args.prime_size, role="prime", round=r, median_us=med, copies=plan.copies))
            print(f"prime size {args.prime_size} round {r}: {med:.3f} us", flush=True)
        held.clear()
    case_id, device, launch, plan = _prepare(args.size)
    if args.copies_scale != 1:
        plan = dataclasses.replace(plan, copies=plan.copies * args.copies_scale,
                                   calls_per_graph=plan.calls_per_graph * args.copies_scale)
    held = []
    for r in range(args.plain):
        med = _round(launch, plan, device, args.layout, held, args.samples)
        rows.append(dict(size=args.size, role="timed", round=r, median_us=med, copies=plan.copies,
                         t_s=round(time.monotonic() - T0, 2)))
        print(f"{case_id} {args.layout} copies {plan.copies} round {r}: {med:.3f} us", flush=True)
    pd.DataFrame(rows).to_csv(args.out / "plain.csv", index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=1)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--plain", type=int, default=0, help="R plain rounds instead of the schedule")
    ap.add_argument("--layout", default="slab")
    ap.add_argument("--copies-scale", type=int, default=1)
    ap.add_argument("--prime-size", type=int, default=0)
    ap.add_argument("--prime-rounds", type=int, default=2)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.plain:
        _plain(args)
        return
    case_id, device, launch, plan = _prepare(args.size)
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
        med = _round(launch, plan, device, layout, held, args.samples)
        new_segments = _segments() - before
        rows.append(dict(case=case_id, step=step, action=action, layout=layout, median_us=med,
                         new_segments=new_segments, t_s=round(time.monotonic() - T0, 2), **_nvml(device.index or 0)))
        r = rows[-1]
        print(f"step {step:2d} {action:20s} {layout:5s} {r['median_us']:.3f} us  new segments {new_segments:5d} "
              f"t={r['t_s']:.1f}s sm {r['sm_mhz']} mem {r['mem_mhz']} MHz {r['power_w']:.0f} W {r['temp_c']} C",
              flush=True)
        pd.DataFrame(rows).to_csv(args.out / "steps.csv", index=False)


if __name__ == "__main__":
    main()
