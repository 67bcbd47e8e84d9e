"""Hypothesis (issue 8): the one-row rmsnorm's two values on an H200 (1.985 us in the first
timing round, 2.296 us in later ones, audits/h200-2026-11-30-b section 4) come from where
the 12,801 rotation copies land, not from the kernel; a layout that does not depend on the
caching allocator's state (``RotationSet(layout="slab")``: one allocation per input, copies
in order) reads the same time in every round and every process.

For each case (FlashInfer rmsnorm, Llama-3-8B hidden 4096, graph + events, cold-L2
rotation), times R rounds per layout in the order alloc, slab, alloc, slab: each round a
new RotationSet made while the previous round's is held (as fibench's rounds are), a new
graph capture, warm-up, then S samples. Writes rounds.csv (case, layout, pass, round,
median_us, min_us, max_us, copies, calls_per_graph) and prints each layout's round medians.

Supported if: the slab rounds agree within 1% of each other in both slab passes and across
two invocations, while the alloc rounds keep their first-round / later-round split.
Refuted if: slab rounds split the same way (then the cause is the capture or the first
pass, not the layout).

Result (H200, audits/h200-2026-11-30-c, section 1): refuted as stated. Both layouts read the
same once a process's first rounds are past; the low rounds are the first one or two of the
process, whatever the layout (investigation/first_round.py).

Run from the repo root on the GPU host (about a minute with the defaults):
    python3 investigation/rotation_layout.py --out DIR [--sizes 1,16,128] [--rounds 4] [--samples 30]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import pandas as pd
import torch

from fibench.env import collect_env
from fibench.measure.rotation import RotationSet
from fibench.measure.timers import timer_class
from fibench.sweep.config import resolve_run
from fibench.sweep.runner import RunContext, call_once, plan_factory


def _prepare(size: int):
    cfg = resolve_run("norm", str(size), model="llama-3-8b", ops="rmsnorm", backends="flashinfer",
                      reference="flashinfer", device="cuda")
    case = cfg.cases[0]
    inputs = cfg.suite.make_inputs(case, cfg.device)
    launch = cfg.suite.backends["flashinfer"]().prepare(case, inputs)
    call_once(launch, cfg.device, first=True)  # JIT load
    plan = plan_factory(RunContext(cfg, collect_env(cfg.device.index or 0), None, None), inputs, launch)(True)
    return case.case_id, cfg.device, launch, plan


def one_round(launch, plan, device, layout: str, held: list, samples: int) -> list[float]:
    """One timing round as fibench runs it (new copies made while ``held`` keeps the previous
    round's, new graph capture, 5 warm-up replays): ``samples`` per-call times in us."""
    held[:] = [RotationSet(launch, plan, device, layout=layout)]  # the previous round's copies go now
    timer = timer_class("events", graph=True)(held[0], plan, device)
    try:
        timer.start(5)
        return timer.sample(samples)
    finally:
        timer.close()


def _rounds(launch, plan, device, layout: str, rounds: int, samples: int) -> list[dict]:
    held: list[RotationSet] = []
    out = []
    for r in range(rounds):
        xs = one_round(launch, plan, device, layout, held, samples)
        out.append(dict(round=r, median_us=statistics.median(xs), min_us=min(xs), max_us=max(xs)))
    held.clear()
    torch.cuda.synchronize(device)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", default="1,16,128")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        case_id, device, launch, plan = _prepare(size)
        for n, layout in enumerate(("alloc", "slab", "alloc", "slab")):
            for rec in _rounds(launch, plan, device, layout, args.rounds, args.samples):
                rows.append(dict(case=case_id, layout=layout, pass_=n, copies=plan.copies,
                                 calls_per_graph=plan.calls_per_graph, **rec))
            medians = [f"{r['median_us']:.3f}" for r in rows if r["case"] == case_id and r["pass_"] == n]
            print(f"{case_id} {layout:5s} pass {n}: round medians {', '.join(medians)} us", flush=True)
        pd.DataFrame(rows).rename(columns={"pass_": "pass"}).to_csv(args.out / "rounds.csv", index=False)


if __name__ == "__main__":
    main()
