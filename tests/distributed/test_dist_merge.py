"""Merging the ranks of a collective: hand-made rank rows with known numbers."""

import dataclasses

import pytest
import torch

from fibench.distributed.busbw import bandwidths_gbps
from fibench.distributed.collective import agree_on_plan, outputs_digest
from fibench.distributed.merge import BusModel, RankResult, merge_rank_rows
from fibench.measure.coldl2 import FACTOR, ColdL2Plan
from fibench.suites.allreduce import AllReduceSuite
from fibench.suites.base import Case
from fibench.sweep.results import Row, Status

MIB = 1 << 20


def test_bandwidth_arithmetic_nccl_tests_formula():
    # 128 MiB in 1 ms: algbw = 134217728 B / 1e-3 s = 134.217728 GB/s
    algbw, busbw = bandwidths_gbps(128 * MIB, 1000.0, AllReduceSuite().bus_factor(2))
    assert algbw == pytest.approx(134.217728) and busbw == pytest.approx(134.217728)  # 2(2-1)/2 = 1
    _, busbw8 = bandwidths_gbps(128 * MIB, 1000.0, AllReduceSuite().bus_factor(8))
    assert busbw8 == pytest.approx(134.217728 * 1.75)  # 2(8-1)/8 = 1.75
    assert AllReduceSuite().bus_factor(4) == 1.5
    with pytest.raises(ValueError, match="time > 0"):
        bandwidths_gbps(1, 0.0, 1.0)


def test_collective_bytes_is_one_ranks_buffer():
    case = Case("allreduce", "allreduce", 16, "bf16", {"hidden": 8192})
    assert AllReduceSuite().collective_bytes(case) == 16 * 8192 * 2
    assert AllReduceSuite().collective_bytes(dataclasses.replace(case, dtype="fp32")) == 16 * 8192 * 4


def rank_row(rank, median, *, status=Status.OK, verdict="pass", reason="", err_over_tol=0.5, bitwise=1.0,
             backend="nccl", **kw):
    fields = dict(suite="allreduce", case_id="allreduce/16", op="allreduce", size=16, dtype="bf16",
                  model="llama-3-70b", backend=backend, status=status, reason=reason, device=f"cuda:{rank}",
                  gpus=str(rank), median_us=median, mean_us=median, samples=50,
                  p90_us=None if median is None else median + 1,
                  parity_verdict=verdict, max_err_over_tol=err_over_tol, bitwise_equal_frac=bitwise,
                  max_ulp=0 if bitwise == 1.0 else 3, deterministic=True, sm_clock_min_mhz=1900 + rank,
                  sm_clock_max_mhz=1980 - rank, first_call_s=0.1 * (rank + 1), notes=f"note {rank}",
                  is_reference=backend == "torch")
    fields.update(kw)
    return Row(**fields).json_dict()


BUS = BusModel(nbytes=16 * 8192 * 2, factor=1.0, ceiling_busbw_gbps=200.0)


def test_slowest_rank_spread_bandwidth_and_agreement():
    results = [RankResult(rank_row(0, 10.0), [{"op": "a"}], [], "d"),
               RankResult(rank_row(1, 12.5, p90_us=99.0), [{"op": "b"}], [], "d")]
    row, rollup, _ = merge_rank_rows(results, BUS)
    assert row.status == Status.OK and row.median_us == 12.5 and row.p90_us == 99.0  # rank 1's statistics
    assert row.rank_spread_us == pytest.approx(2.5)
    assert row.algbw_gbps == pytest.approx(262144 / 12.5e-6 / 1e9)  # 20.97152 GB/s
    assert row.busbw_gbps == pytest.approx(20.97152) and row.busbw_sol_pct == pytest.approx(100 * 20.97152 / 200)
    assert row.ranks_bitwise_equal is True and row.world_size == 2 and row.rank is None
    assert row.gpus == "0,1" and row.device == "cuda:0,cuda:1"
    assert row.sm_clock_min_mhz == 1900 and row.sm_clock_max_mhz == 1980 and row.first_call_s == pytest.approx(0.2)
    assert row.notes == "note 0; note 1" and rollup == [{"op": "b"}]
    assert [r["median_us"] for r in row.extra["ranks"]] == [10.0, 12.5]


def test_ranks_that_differ_bit_for_bit_fail_parity():
    results = [RankResult(rank_row(0, 10.0), digest="aa"), RankResult(rank_row(1, 10.0), digest="bb")]
    row, _, _ = merge_rank_rows(results, BUS)
    assert row.status == Status.PARITY_FAIL and row.parity_verdict == "fail" and row.ranks_bitwise_equal is False
    assert "ranks' outputs differ bit for bit" in row.notes


def test_reference_rows_get_no_bandwidth_and_keep_their_verdict():
    results = [RankResult(rank_row(r, 50.0, backend="torch", verdict="reference"), digest="x") for r in (0, 1)]
    row, _, _ = merge_rank_rows(results, BUS)
    assert row.status == Status.OK and row.parity_verdict == "reference" and row.busbw_gbps is None


def test_worst_rank_parity_and_worst_status_win():
    results = [RankResult(rank_row(0, 10.0), digest="d"),
               RankResult(rank_row(1, 11.0, status=Status.PARITY_FAIL, verdict="fail", err_over_tol=3.0,
                                   bitwise=0.9), digest="d")]
    row, _, _ = merge_rank_rows(results, BUS)
    assert row.status == Status.PARITY_FAIL and row.max_err_over_tol == 3.0 and row.bitwise_equal_frac == 0.9
    failed = [RankResult(rank_row(0, 10.0)),
              RankResult(rank_row(1, None, status=Status.ERROR, reason="RuntimeError: NCCL timeout"))]
    row, _, _ = merge_rank_rows(failed, BUS)
    assert row.status == Status.ERROR and row.reason == "RuntimeError: NCCL timeout" and row.median_us == 10.0
    assert row.ranks_bitwise_equal is None


def test_a_rank_that_cannot_run_makes_an_error_not_a_silent_row():
    results = [RankResult(rank_row(0, None, status=Status.UNSUPPORTED, reason="no P2P", verdict="")),
               RankResult(rank_row(1, 10.0))]
    row, _, _ = merge_rank_rows(results, BUS)
    assert row.status == Status.ERROR and row.reason == "ranks disagree on support: no P2P"


def plan(copies, calls, *, mutates=False, note=""):
    return ColdL2Plan("rotate", "rotate", True, copies, calls, mutates, 0, note)


def test_ranks_agree_on_one_cold_l2_plan():
    same = plan(12, 12)
    assert agree_on_plan([same, same], l2_bytes=60 * MIB) == same
    chosen = agree_on_plan([plan(12, 12), plan(1, 10, note="fits")], l2_bytes=60 * MIB)
    assert chosen.copies == 1 and "all use rank 1's plan" in chosen.note and chosen.note.startswith("fits")
    big = agree_on_plan([plan(9000, 9000, mutates=True)] * 2, l2_bytes=60 * MIB, max_calls=1024)
    assert big.per_call and big.method == "flush" and big.copies == 1 and big.restore
    assert big.flush_bytes == FACTOR * 60 * MIB and "9000 calls > 1024 per graph" in big.note


def test_output_digest_sees_every_bit():
    a = {"out": torch.tensor([0.0, 1.5], dtype=torch.bfloat16), "residual": torch.ones(3)}
    b = {"residual": torch.ones(3), "out": torch.tensor([0.0, 1.5], dtype=torch.bfloat16)}
    assert outputs_digest(a) == outputs_digest(b)
    assert outputs_digest(a) != outputs_digest({**a, "out": torch.tensor([-0.0, 1.5], dtype=torch.bfloat16)})
    assert outputs_digest(a) != outputs_digest({**a, "out": a["out"].float()})
