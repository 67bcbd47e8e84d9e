"""Every kernel the H200 runs of 2026-11-30 traced (audits/h200-2026-11-30 and, for the
second session's suites, allreduce on two GPUs included, audits/h200-2026-11-30-b, and
the third's llama31_rope and aligned all-reduce traces, audits/h200-2026-11-30-c) is attributed
to exactly one logical op by the current maps: no unmapped kernel, no ambiguity. Each entry
is the first traced call of one (case, backend) as kernels.csv recorded it: kernel names
(cut to 300 characters) in launch order with the fibench op range each was launched in,
kept in tests/data/kernels_h200_2026-11-30[-b,-c].json (distinct sequences only; the torch
reference backends, mapped by range rules over fibench's own markers, are left out)."""

import json
from pathlib import Path

import pytest

from fibench.trace.kernel_map import load_map

TRACES = {name: json.loads((Path(__file__).parent / "data" / f"kernels_h200_{name}.json").read_text())
          for name in ("2026-11-30", "2026-11-30-b", "2026-11-30-c")}
DATA = TRACES["2026-11-30"]
CASES = [(session, suite, backend, i) for session, data in TRACES.items() for suite, backends in data.items()
         for backend, calls in backends.items() for i in range(len(calls))]


@pytest.mark.parametrize("session, suite, backend, i", CASES)
def test_traced_call_maps_every_kernel_to_one_op(session, suite, backend, i):
    call = TRACES[session][suite][backend][i]
    names, ranges = zip(*call["kernels"])
    rules = load_map(suite).classify(backend, list(names), list(ranges))  # raises on ambiguity
    unmapped = [n[:100] for n, rule in zip(names, rules) if rule is None]
    assert not unmapped, (call["case"], unmapped)


def test_the_sampling_renorm_kernel_seen_unmapped_is_now_mapped():
    calls = DATA["sampling"]["flashinfer"]
    names = [n for c in calls for n, _ in c["kernels"] if "RadixTopKRenormProb" in n]
    assert names and all(r.op == "top_k_renorm" for r in load_map("sampling").classify("flashinfer", names))
