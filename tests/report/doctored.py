"""Doctored run folders, written with the run writer the CLI uses (helpers imported by
the report tests)."""

import numpy as np

from fibench.measure.stats import summarize
from fibench.sweep.results import Row
from fibench.sweep.sinks import RunWriter


def make_row(case_id="rmsnorm/128", backend="flashinfer", median=10.0, *, noise=0.002, n=200, seed=0,
             samples=True, phases=None, **fields):
    """A timed row whose samples are median x (1 + noise x N(0, 1))."""
    op, size = case_id.split("/")[:2]
    rng = np.random.default_rng(seed)
    x = median * (1 + noise * rng.standard_normal(n))
    s = summarize(x)
    extra = {"samples_us": list(map(float, x))} if samples else {}
    if phases:
        extra["phases_us"] = phases
    base = dict(suite="norm", case_id=case_id, op=op, size=int(size), dtype="bf16", model="llama-3-8b",
                backend=backend, status="ok", median_us=s.median_us, median_ci_low_us=s.ci_low_us,
                median_ci_high_us=s.ci_high_us, samples=n, timer="cuda-graph+events",
                cold_l2_method="rotate", sm_clock_median_mhz=1980, extra=extra)
    base.update(fields)
    return Row(**base)


def write_run(path, rows, env=None, run=None):
    """A run folder with ``rows`` and the given env.json / run.json contents."""
    w = RunWriter(path)
    w.write_json("env.json", {"gpu_name": "NVIDIA H200", "torch_version": "2.11.0", "flashinfer_version": "0.6.13",
                              "sm_clock_max_mhz": 1980, **(env or {})})
    w.write_json("run.json", {"suite": "norm", "size_name": "rows", "graph": True, "cold_l2": "rotate",
                              "timer": "events", **(run or {})})
    for r in rows:
        w.append(r)
    return path
