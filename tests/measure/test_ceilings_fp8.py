"""The fp8 GEMM ceiling: which rows use it, and the SOL % a row gets from it."""

import torch

from fibench.measure.ceilings import Ceilings
from fibench.suites.base import Inputs, Work
from fibench.suites.gemm import gemm_work
from fibench.sweep.runner import _timing_fields
from fibench.measure.timing import Timing
from fibench.measure.stats import summarize
from fibench.measure.coldl2 import ColdL2Plan


def test_fp8_rows_use_the_fp8_ceiling_and_others_the_bf16_one():
    c = Ceilings(copy_tbps=4.0, gemm_tflops=800.0, method="m", fp8_gemm_tflops=1500.0)
    assert c.flops_ceiling("fp8") == 1500.0 and c.flops_ceiling("bf16") == 800.0
    # no fp8 ceiling measured (pre-Ada GPU, or an older run's env.json): the bf16 one
    assert Ceilings(copy_tbps=4.0, gemm_tflops=800.0, method="m").flops_ceiling("fp8") == 800.0


def test_gemm_work_marks_the_fp8_ops():
    assert gemm_work("fp8", 16, 64, 128).flop_dtype == "fp8"
    assert gemm_work("fp8-block", 16, 64, 128).flop_dtype == "fp8"
    assert gemm_work("bf16", 16, 64, 128).flop_dtype == "bf16"


def test_sol_flops_pct_of_an_fp8_row_is_against_the_fp8_ceiling():
    # 2 x 4096 x 4096 x 4096 FLOP in 100 us = 1374.4 TFLOP/s: 91.6% of a 1500 TFLOP/s fp8 ceiling
    # (it would read 171.8% against the 800 TFLOP/s bf16 ceiling)
    flop = 2.0 * 4096 ** 3
    plan = ColdL2Plan(requested="off", method="off", cold=False, copies=1, calls_per_graph=1, restore=False,
                      flush_bytes=0)
    timing = Timing("cuda-graph+events", summarize([100.0] * 10), plan)
    ceilings = Ceilings(copy_tbps=4.0, gemm_tflops=800.0, method="m", fp8_gemm_tflops=1500.0)
    for dtype, pct in (("fp8", 100 * flop / 100e-6 / 1e12 / 1500), ("bf16", 100 * flop / 100e-6 / 1e12 / 800)):
        inputs = Inputs({}, Work(flop=flop, bytes_read=1, bytes_written=1, flop_dtype=dtype))
        fields = _timing_fields(timing, inputs, ceilings)
        assert abs(fields["sol_flops_pct"] - pct) < 1e-9
    assert round(100 * flop / 100e-6 / 1e12 / 1500, 1) == 91.6
