"""The result row: one case x backend, with a validator that refuses illegal states.

CSV columns are the field names, units in the names (``_us`` microseconds, ``_s`` seconds,
``_mhz``, ``tflops`` = 1e12 FLOP/s, ``tbps`` = 1e12 bytes/s, ``gbps`` = 1e9 bytes/s (as
nccl-tests reports bus bandwidth), ``_frac`` and ``_pct`` fractions and percentages), with the suite's axes (``hidden``, ``kv_len``, ...) as columns
right after ``size``. Nested data (worst elements, rollup ops, case info) goes to the JSONL
file only.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """Outcome of one row."""

    OK = "ok"
    PARITY_FAIL = "parity_fail"
    UNSUPPORTED = "unsupported"
    OOM = "oom"
    ERROR = "error"


@dataclass
class Row:
    """One backend on one case. See the module docstring for units.

    Raises (on construction):
        ValueError: an illegal combination — an unsupported/oom/error row without a reason,
            an unsupported row with timings, an ok row without a median, a parity_fail row
            whose verdict is not "fail", an ok row whose verdict is "fail", or a median
            outside its own interval.
    """

    suite: str
    case_id: str
    op: str
    size: int
    dtype: str
    model: str
    backend: str
    status: Status
    axes: dict[str, Any] = field(default_factory=dict)  # the suite's axis values: CSV columns
    params: str = "{}"  # JSON of the shape parameters
    is_reference: bool = False
    reason: str = ""
    backend_detail: str = ""
    notes: str = ""
    device: str = ""
    gpu_name: str = ""
    gpus: str = ""  # CUDA device indices that produced the row ("1"; "0,1" for a collective row)
    rank: int | None = None  # worker rank of a sharded run (None: single process or merged collective)
    world_size: int | None = None  # ranks taking part in a collective row
    timer: str = ""  # stable name of the timer actually used (fibench.measure.timers.TIMERS)
    timer_requested: str = ""  # --timer: events | cupti | auto | wall
    cold_l2_requested: str = ""
    cold_l2_method: str = ""
    l2_cold: bool | None = None
    rotation_copies: int | None = None
    calls_per_graph: int | None = None
    cold_l2_note: str = ""
    warmup: int | None = None
    first_call_s: float | None = None
    plan_us: float | None = None  # host time of the backend's plan step (outside the timed call)
    isolation_s: float | None = None  # --isolate: the row's own process beyond its measurement (start, imports, CUDA context, inputs, reference)
    median_us: float | None = None
    mean_us: float | None = None
    std_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    p10_us: float | None = None
    p90_us: float | None = None
    samples: int | None = None
    median_ci_low_us: float | None = None  # 95% interval of the median (order statistics; with rounds, widened to the two-level bootstrap's)
    median_ci_high_us: float | None = None
    noise_pct: float | None = None  # 100 x std / mean (nvbench's "Noise")
    rounds: int | None = None  # timing rounds, each over fresh input copies and a fresh timer (--rounds)
    round_spread_pct: float | None = None  # 100 x (max - min) / median of the round medians (None: one round)
    stop_reason: str = ""  # iters | target-noise | max-time | max-samples
    timing_s: float | None = None  # wall seconds spent sampling
    timer_floor_us: float | None = None  # empty kernel under the same timer and plan (per-call events)
    timer_kernel_sum_us: float | None = None  # median per-call kernel-sum seen by the timer (CUPTI)
    timer_note: str = ""  # what a sample contains (overhead, CUPTI priming window)
    sm_clock_min_mhz: int | None = None
    sm_clock_median_mhz: int | None = None
    sm_clock_max_mhz: int | None = None
    throttled: bool | None = None  # SM clock fell below the threshold share of the maximum
    throttle_retries: int | None = None
    throttle_note: str = ""
    flop: float | None = None
    bytes_read: int | None = None
    bytes_written: int | None = None
    tflops: float | None = None
    tbps: float | None = None
    sol_bw_pct: float | None = None
    sol_flops_pct: float | None = None
    algbw_gbps: float | None = None  # collective: bytes of the buffer / slowest rank's median
    busbw_gbps: float | None = None  # collective: algbw x the bus factor (nccl-tests PERFORMANCE.md)
    busbw_sol_pct: float | None = None  # busbw against the collective ceiling measured at the start
    rank_spread_us: float | None = None  # collective: slowest minus fastest rank's median
    parity_verdict: str = ""  # pass | fail | reference | n/a
    parity_rule: str = ""
    atol: float | None = None
    rtol: float | None = None
    bitwise_equal_frac: float | None = None
    max_ulp: int | None = None
    # ULP distribution against the reference (fibench.parity.ulp): counts per bucket, nearest-rank
    # percentiles, the tolerance floor (atol) and the max over |reference| >= floor
    ulp_hist_0: int | None = None
    ulp_hist_1: int | None = None
    ulp_hist_2_3: int | None = None
    ulp_hist_4_7: int | None = None
    ulp_hist_8_15: int | None = None
    ulp_hist_16_255: int | None = None
    ulp_hist_256_up: int | None = None
    ulp_p50: int | None = None
    ulp_p99: int | None = None
    ulp_p999: int | None = None
    ulp_floor: float | None = None
    ulp_max_above_floor: int | None = None
    ulp_nan_mismatch: int | None = None
    max_abs_err: float | None = None
    mean_abs_err: float | None = None
    max_rel_err: float | None = None
    cosine: float | None = None
    within_tol_frac: float | None = None
    max_err_over_tol: float | None = None
    nan_count: int | None = None
    inf_count: int | None = None
    quant_err_verdict: str = ""  # quantized kernels: output vs the unquantized (bf16) model
    quant_err_within_tol_frac: float | None = None
    quant_err_max_abs_err: float | None = None
    quant_err_mean_abs_err: float | None = None
    quant_err_cosine: float | None = None
    deterministic: bool | None = None
    graph_deterministic: bool | None = None  # a CUDA-graph replay equals an eager call, bitwise
    # --parity-against: the same comparison against that backend's outputs (fibench.parity.pairwise)
    pair_backend: str = ""
    pair_verdict: str = ""  # pass | fail | self | n/a
    pair_bitwise_equal_frac: float | None = None
    pair_max_ulp: int | None = None
    pair_ulp_hist_0: int | None = None
    pair_ulp_hist_1: int | None = None
    pair_ulp_hist_2_3: int | None = None
    pair_ulp_hist_4_7: int | None = None
    pair_ulp_hist_8_15: int | None = None
    pair_ulp_hist_16_255: int | None = None
    pair_ulp_hist_256_up: int | None = None
    pair_ulp_p50: int | None = None
    pair_ulp_p99: int | None = None
    pair_ulp_p999: int | None = None
    pair_ulp_floor: float | None = None
    pair_ulp_max_above_floor: int | None = None
    pair_ulp_nan_mismatch: int | None = None
    pair_max_abs_err: float | None = None
    pair_mean_abs_err: float | None = None
    pair_max_rel_err: float | None = None
    pair_cosine: float | None = None
    pair_within_tol_frac: float | None = None
    pair_max_err_over_tol: float | None = None
    pair_nan_count: int | None = None
    pair_inf_count: int | None = None
    ranks_bitwise_equal: bool | None = None  # collective: every rank's outputs are bit-identical
    kernel_sum_us: float | None = None
    span_us: float | None = None
    kernels_per_call: float | None = None
    streams: int | None = None
    unmapped_us: float | None = None
    kernel_sum_over_median: float | None = None
    rollup_note: str = ""
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # JSONL only

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        if self.status in (Status.UNSUPPORTED, Status.OOM, Status.ERROR) and not self.reason:
            raise ValueError(f"{self.status.value} row needs a reason")
        if self.status == Status.UNSUPPORTED and self.median_us is not None:
            raise ValueError("unsupported row cannot carry timings")
        if self.status == Status.OK and self.median_us is None:
            raise ValueError("ok row needs a median")
        if self.status == Status.PARITY_FAIL and self.parity_verdict != "fail":
            raise ValueError("parity_fail row needs parity_verdict 'fail'")
        if self.status == Status.OK and self.parity_verdict == "fail":
            raise ValueError("row with a failed parity verdict must have status parity_fail")
        lo, hi = self.median_ci_low_us, self.median_ci_high_us
        if lo is not None and hi is not None and self.median_us is not None and not lo <= self.median_us <= hi:
            raise ValueError(f"median {self.median_us} outside its interval [{lo}, {hi}]")

    @property
    def timed(self) -> bool:
        """Whether the row has a usable latency (ok or parity_fail with a median)."""
        return self.median_us is not None and math.isfinite(self.median_us)

    def csv_dict(self) -> dict[str, Any]:
        """Flat dict for the CSV: the fields in order with the axes spliced in after
        ``size`` (no ``extra``; status as its string)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in _NOT_CSV:
                continue
            d[f.name] = getattr(self, f.name)
            if f.name == "size":
                d.update(self.axes)
        d["status"] = self.status.value
        return d

    def json_dict(self) -> dict[str, Any]:
        """Everything, for the JSONL file (axes nested under ``axes``)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Row":
        """Inverse of :meth:`json_dict` / :meth:`csv_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_NOT_CSV = ("extra", "axes")
CSV_COLUMNS: list[str] = [f.name for f in dataclasses.fields(Row) if f.name not in _NOT_CSV]
"""Fixed columns of results.csv (the suite's axes are spliced in after ``size``)."""

RESERVED = frozenset(f.name for f in dataclasses.fields(Row))
"""Names an axis may not take (they are already row fields)."""


def csv_columns(axis_names: list[str] | tuple[str, ...]) -> list[str]:
    """results.csv columns of a run whose suite has these axes."""
    i = CSV_COLUMNS.index("size") + 1
    return CSV_COLUMNS[:i] + list(axis_names) + CSV_COLUMNS[i:]
