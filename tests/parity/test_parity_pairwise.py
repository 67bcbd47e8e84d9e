"""Backend against backend (--parity-against), requirements, and the determinism check on a
deliberately nondeterministic toy backend (CPU runs of the small MoE preset)."""

import itertools
from typing import ClassVar, Mapping

import pytest
import torch

from fibench.env import EnvSnapshot
from fibench.errors import UsageError
from fibench.parity.metrics import compare
from fibench.parity.pairwise import Requirement, comparison_fields, comparison_view, pair_row_fields
from fibench.report.markdown import render_report
from fibench.suites import get_suite
from fibench.suites.base import Backend, Case, Inputs, Launch, Needs
from fibench.suites.moe_backends import BACKENDS, TorchGroupedMoe
from fibench.sweep.config import resolve_run
from fibench.sweep.results import Row
from fibench.sweep.loop import run_sweep
from fibench.sweep.runner import RunContext
from fibench.sweep.sinks import load_run
from fibench.sweep.session import execute_run


class NondetMoe(Backend):
    """torch-grouped, then one element moved up by one ULP, a different element each call:
    two calls on the same inputs never agree bitwise (like a reduction whose order varies)."""

    name: ClassVar[str] = "toy-nondet"
    description: ClassVar[str] = "test backend: not run-to-run deterministic"
    needs: ClassVar[Needs] = Needs(dtypes=("bf16",))

    def prepare(self, case: Case, inputs: Inputs) -> Launch:
        base = TorchGroupedMoe().prepare(case, inputs)
        calls = itertools.count()

        def bind(t: Mapping[str, torch.Tensor]):
            inner = base.bind(t)

            def call():
                out = inner()["out"].clone()
                bits = out.view(-1).view(torch.int16)
                bits[next(calls) % bits.numel()] += 1
                return {"out": out}
            return call
        return Launch(base.reads, bind, detail="toy")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """One CPU run: torch (reference), toy-nondet, and torch-grouped as --parity-against."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(BACKENDS, NondetMoe.name, NondetMoe)
        out = tmp_path_factory.mktemp("toy") / "run"
        cfg = resolve_run("moe", "1,4", model="small", device="cpu", iters=1, warmup=0, backends="torch,toy-nondet",
                          parity_against="torch-grouped", out=out)
        rows, _ = execute_run(cfg)
    return cfg, {(r.case_id, r.backend): r for r in rows}, out


def test_parity_against_runs_first_and_fills_pair_columns(toy_run):
    cfg, rows, _ = toy_run
    assert cfg.backends[0] == "torch-grouped"  # added and moved first: its outputs exist before the others run
    grouped, toy_row, ref = (rows[("moe/4", b)] for b in ("torch-grouped", "toy-nondet", "torch"))
    assert grouped.pair_verdict == "self" and grouped.pair_bitwise_equal_frac is None
    # the toy is torch-grouped with one element one ULP off: 256 * 4 elements, one differs
    assert toy_row.pair_backend == "torch-grouped" and toy_row.pair_verdict == "pass"
    assert toy_row.pair_bitwise_equal_frac == pytest.approx(1 - 1 / (4 * 256))
    assert toy_row.pair_max_ulp == 1 and toy_row.pair_ulp_hist_1 == 1 and toy_row.pair_ulp_hist_0 == 4 * 256 - 1
    # nearest rank: p99.9 of 1024 distances is the ceil(1022.98) = 1023rd smallest, still 0
    assert toy_row.pair_ulp_p999 == 0 and toy_row.pair_ulp_p50 == 0
    assert ref.pair_verdict == "pass" and ref.pair_ulp_hist_0 is not None  # the reference is compared too


def test_toy_backend_is_reported_not_deterministic(toy_run):
    _, rows, out = toy_run
    toy_row, grouped = rows[("moe/4", "toy-nondet")], rows[("moe/4", "torch-grouped")]
    assert toy_row.deterministic is False and grouped.deterministic is True
    assert toy_row.graph_deterministic is None  # no graphs on a CPU
    assert toy_row.status.value == "ok"  # one ULP is within tolerance: nondeterminism is not a failure
    text = render_report(load_run(out))
    assert "**`toy-nondet` is not run-to-run deterministic** on moe/1, moe/4" in text
    assert "`torch-grouped` is not run-to-run" not in text
    assert "## `toy-nondet` against `torch-grouped`" in text and "## `torch` against `torch-grouped`" in text
    assert "- **max above floor**: " in text and "## ULP distribution against the reference" in text


def test_unavailable_against_backend_gives_na_with_reason():
    cfg = resolve_run("moe", "1", model="small", device="cpu", iters=1, warmup=0, backends="torch-grouped",
                      parity_against="flashinfer-cutlass")
    rows = {(r.case_id, r.backend): r for r in run_sweep(RunContext(cfg, EnvSnapshot(), None, None), lambda *a: None)}
    r = rows[("moe/1", "torch-grouped")]
    assert r.pair_verdict == "n/a" and r.pair_bitwise_equal_frac is None
    assert "no comparison with flashinfer-cutlass: flashinfer-cutlass unsupported: needs a CUDA GPU" in r.notes


def test_unknown_parity_against_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown backend 'nope'"):
        resolve_run("moe", "1", model="small", device="cpu", parity_against="nope")


def test_pair_row_fields_without_against_and_on_shape_mismatch():
    suite = get_suite("norm")  # element-wise check_parity (moe's reads the case)
    assert pair_row_fields(suite, None, "x", {}, against=None, against_outputs=None) == ({}, "")
    fields, note = pair_row_fields(suite, None, "x", {"out": torch.zeros(2)}, against="y",
                                   against_outputs={"out": torch.zeros(3)})
    assert fields["pair_verdict"] == "n/a" and note.startswith("cannot compare with y: output out: shape")


def test_every_comparison_field_is_a_row_column():
    p = compare({"o": torch.tensor([1.0, 2.0])}, {"o": torch.tensor([1.0, 2.5])})
    row_fields = set(Row.__dataclass_fields__)
    pair = {k for k in comparison_fields(p, "pair_")}
    assert pair <= row_fields, pair - row_fields
    ref = {k for k in p.ulp.fields("")}
    assert ref <= row_fields, ref - row_fields
    view = comparison_view(comparison_fields(p, "pair_"), "pair_")
    assert view["verdict"] == "fail" and view["ulp"].histogram == p.ulp.histogram and view["max_ulp"] == p.max_ulp


@pytest.mark.parametrize("text, kind, bound", [("bitwise", "bitwise", 0), ("ULP:3", "ulp", 3), (" tolerance ", "tolerance", 0)])
def test_requirement_parse(text, kind, bound):
    r = Requirement.parse(text)
    assert (r.kind, r.max_ulp) == (kind, bound)


@pytest.mark.parametrize("text", ["", "ulp", "ulp:-1", "ulp:x", "exact", "ulp:1:2"])
def test_requirement_parse_rejects(text):
    with pytest.raises(UsageError, match="--require must be"):
        Requirement.parse(text)


def test_requirement_check_on_hand_cases():
    one = torch.tensor([1.0, 2.0])
    two_ulp = torch.nextafter(torch.nextafter(one, one + 1), one + 1)  # both elements 2 ULP up
    exact = compare({"o": one.clone()}, {"o": one})
    off = compare({"o": two_ulp}, {"o": one})
    assert Requirement.parse("bitwise").check(exact) == (True, "")
    assert Requirement.parse("bitwise").check(off)[0] is False
    assert Requirement.parse("ulp:2").check(off) == (True, "")
    assert Requirement.parse("ulp:1").check(off) == (False, "max ULP 2 > 1")
    assert Requirement.parse("tolerance").check(off)[0] is True  # 2 ULP of fp32 is far inside 1e-5
    nan = compare({"o": torch.tensor([float("nan"), 2.0])}, {"o": one})
    assert Requirement.parse("ulp:1000").check(nan) == (False, "1 elements are NaN on one side only")
    assert Requirement.parse("tolerance").check(nan)[0] is False


def test_a_reference_row_is_compared_in_the_pair_backends_narrower_dtype():
    """H200, allreduce_add_rmsnorm: the fp32 torch reference against the bf16 nccl+rmsnorm
    outputs read ~1e9 fp32 ULPs; rounded once to bf16 the comparison is in bf16 ULPs."""
    suite = get_suite("norm")
    exact = torch.tensor([1.0, -2.5, 0.15625, 3.0])  # exactly representable in bf16
    ref = exact + torch.tensor([0.0, 0.0, 0.0, 2.0 ** -12])  # fp32: 3 + 2^-12 rounds to 3 in bf16
    kernel = exact.to(torch.bfloat16)
    fields, note = pair_row_fields(suite, None, "torch", {"out": ref}, against="nccl+rmsnorm",
                                   against_outputs={"out": kernel})
    assert fields["pair_verdict"] == "pass" and fields["pair_bitwise_equal_frac"] == 1.0 and fields["pair_max_ulp"] == 0
    assert note == "compared with nccl+rmsnorm in the narrower dtype of each output (out float32->bfloat16 rounded)"
    # one bf16 ULP apart after rounding: counted as 1 ULP, not as 65536 fp32 ULPs
    off = kernel.clone()
    off[0] = torch.tensor(1.0078125, dtype=torch.bfloat16)  # 1 + 2^-7: the next bf16 after 1.0
    fields, _ = pair_row_fields(suite, None, "torch", {"out": ref}, against="nccl+rmsnorm", against_outputs={"out": off})
    assert fields["pair_max_ulp"] == 1
    # same dtype on both sides: nothing rounded, no note
    _, note = pair_row_fields(suite, None, "a", {"out": kernel}, against="b", against_outputs={"out": kernel})
    assert note == ""
