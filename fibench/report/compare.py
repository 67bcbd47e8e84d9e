"""``fibench compare BASE NEW``: match two runs' rows and decide, per row, whether NEW is
faster, slower, the same or unsure, with the ratio of medians and its interval.

Rows match on (suite, case_id, backend). The ratio is NEW median / BASE median. Its 95%
interval comes from a percentile bootstrap over both rows' samples (resampled
independently; B. Efron and R. Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13),
method "bootstrap". When either row was timed in two rounds or more (``round_sizes`` in its
JSONL extras), both sides are resampled in two levels, rounds then samples within them
(a side without rounds is one group, which is the plain bootstrap), method
"bootstrap (rounds)". One resampler serves both:
:func:`fibench.measure.stats.hierarchical_medians`. Rounds over fresh allocations that disagree (an H200 read one kernel
at 2.04 and 2.36 us in two passes) widen it instead of making a false "slower". Rows
without stored samples (runs of older fibench) use the
conservative interval [new low / base high, new high / base low] from the two medians'
own intervals, which covers the ratio whenever both cover their medians (>= 90% for two
independent 95% intervals). The row's ``method`` says which.

Verdict with threshold t (``--threshold``, percent): ``slower`` when the whole interval is
above 1 + t, ``faster`` when it is below 1 / (1 + t), ``same`` when it lies inside
[1 / (1 + t), 1 + t], ``unsure`` otherwise (the interval straddles a boundary: more samples
or a quieter machine would decide). Within-run intervals do not see run-to-run variation
(clock, temperature, another process); the threshold is the margin for it, so keep it
above the spread seen between two runs of the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fibench.errors import UsageError
from fibench.measure.stats import hierarchical_medians, percentile_interval, split_rounds
from fibench.sweep.results import Row
from fibench.sweep.sinks import LoadedRun

DEFAULT_THRESHOLD_PCT = 3.0
MAX_BOOTSTRAP_SAMPLES = 2000
"""Samples per side the bootstrap uses at most (a uniform random subset beyond that: the
interval can only widen, and 2000 resamples of 100k samples would take minutes per row)."""
CLOCK_TOLERANCE_PCT = 2.0
"""Median SM clocks of two matched rows further apart than this are flagged."""
ENV_KEYS = (("gpu_name", "GPU"), ("driver_version", "driver"), ("torch_version", "torch"),
            ("torch_cuda_runtime", "CUDA runtime"), ("flashinfer_version", "flashinfer"),
            ("cupti_python_version", "cupti-python"), ("fibench_version", "fibench"),
            ("sm_clock_max_mhz", "max SM clock (MHz)"))
RUN_KEYS = (("graph", "CUDA graph"), ("cold_l2", "cold L2 requested"), ("timer", "timer requested"),
            ("dtype", "dtype"))
VERDICTS = ("faster", "slower", "same", "unsure", "n/a")


@dataclass
class RowComparison:
    """One matched row.

    Attributes:
        base_us / new_us: medians (us); ratio: new / base with ``low``-``high`` its 95%
        interval; method: "bootstrap", "bootstrap (rounds)" or "intervals" (see the module
        docstring);
        verdict: faster | slower | same | unsure | n/a; notes: what differs between the two
        rows' conditions (timer, cold-L2 method, SM clock, status).
    """

    suite: str
    case_id: str
    backend: str
    op: str
    size: int
    base_us: float | None = None
    new_us: float | None = None
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = ""
    verdict: str = "n/a"
    notes: str = ""

    @property
    def label(self) -> str:
        """``case_id backend`` for plots and tables."""
        return f"{self.case_id} {self.backend}"


@dataclass
class Comparison:
    """All matched rows of two runs, the rows only one run has, and run-level warnings."""

    base_dir: str
    new_dir: str
    threshold_pct: float
    rows: list[RowComparison]
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        """Rows with ``verdict``."""
        return sum(r.verdict == verdict for r in self.rows)

    @property
    def exit_code(self) -> int:
        """1 when any row is confidently slower beyond the threshold, else 0."""
        return 1 if self.count("slower") else 0


def verdict(low: float, high: float, threshold_pct: float) -> str:
    """faster | slower | same | unsure for a ratio interval (see the module docstring)."""
    if math.isnan(low) or math.isnan(high):
        return "unsure"
    up = 1 + threshold_pct / 100
    if low > up:
        return "slower"
    if high < 1 / up:
        return "faster"
    if low >= 1 / up and high <= up:
        return "same"
    return "unsure"


def _rounds(row: Row, samples: np.ndarray) -> list[np.ndarray]:
    """The row's samples cut into its timing rounds (one group when it has no usable
    ``round_sizes``)."""
    sizes = row.extra.get("round_sizes") or []
    if len(sizes) >= 2 and sum(sizes) == samples.size and min(sizes) >= 1:
        return split_rounds(samples, sizes)
    return [samples]


def _rounds_bootstrap(base: list[np.ndarray], new: list[np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of new / base pooled median, each side resampled in two
    levels (rounds, then samples within), independently; with one group per side this is
    the plain bootstrap of the ratio of medians."""
    kw = dict(max_samples=MAX_BOOTSTRAP_SAMPLES)
    ratios = hierarchical_medians(new, rng, **kw) / hierarchical_medians(base, rng, **kw)
    return percentile_interval(ratios, 0.95)


def ratio_interval(base: Row, new: Row, rng: np.random.Generator) -> tuple[float, float, float, str]:
    """(ratio, low, high, method) of new / base median for two timed rows."""
    ratio = new.median_us / base.median_us
    b = np.asarray(base.extra.get("samples_us") or [], dtype=np.float64)
    n = np.asarray(new.extra.get("samples_us") or [], dtype=np.float64)
    if b.size >= 2 and n.size >= 2 and np.all(b > 0) and np.all(n > 0):
        rb, rn = _rounds(base, b), _rounds(new, n)
        low, high = _rounds_bootstrap(rb, rn, rng)
        method = "bootstrap (rounds)" if len(rb) >= 2 or len(rn) >= 2 else "bootstrap"
        return ratio, min(low, ratio), max(high, ratio), method
    if None in (base.median_ci_low_us, base.median_ci_high_us, new.median_ci_low_us, new.median_ci_high_us) \
            or not base.median_ci_low_us:
        return ratio, math.nan, math.nan, "none (no samples, no intervals)"
    return ratio, new.median_ci_low_us / base.median_ci_high_us, new.median_ci_high_us / base.median_ci_low_us, \
        "intervals"


def _row_notes(b: Row, n: Row) -> list[str]:
    notes = []
    for attr, label in (("timer", "timer"), ("cold_l2_method", "cold-L2 method"), ("dtype", "dtype"),
                        ("model", "model")):
        if getattr(b, attr) != getattr(n, attr):
            notes.append(f"{label} {getattr(b, attr) or '-'} -> {getattr(n, attr) or '-'}")
    cb, cn = b.sm_clock_median_mhz, n.sm_clock_median_mhz
    if cb and cn and abs(cn - cb) / cb * 100 > CLOCK_TOLERANCE_PCT:
        notes.append(f"SM clock {cb} -> {cn} MHz")
    if b.throttled or n.throttled:
        notes.append("throttled in " + " and ".join(s for s, r in (("base", b), ("new", n)) if r.throttled))
    for side, r in (("base", b), ("new", n)):
        if not r.timed:
            notes.append(f"{side} {r.status.value}: {r.reason or 'no median'}")
    return notes


def run_warnings(base: LoadedRun, new: LoadedRun, rows: list[RowComparison]) -> list[str]:
    """Run-level differences that make a ratio mean something else (GPU, versions, clocks,
    graph mode, cold L2, timer), then how many matched rows differ in conditions."""
    out = []
    for key, label in ENV_KEYS:
        a, b = base.env.get(key), new.env.get(key)
        if a != b:
            out.append(f"{label} differs: {a} (base) vs {b} (new)")
    for key, label in RUN_KEYS:
        a, b = base.run.get(key), new.run.get(key)
        if a is not None and b is not None and a != b:
            out.append(f"{label} differs: {a} (base) vs {b} (new)")
    for what in ("timer", "cold-L2 method", "SM clock", "throttled"):
        hits = sum(what in r.notes for r in rows)
        if hits:
            out.append(f"{hits} matched row(s) differ in {what} (see their notes)")
    return out


def compare_runs(base: LoadedRun, new: LoadedRun, threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                 *, seed: int = 0) -> Comparison:
    """Compare two loaded runs row by row.

    Args:
        threshold_pct: what counts as a change, in percent.
        seed: bootstrap seed (the same inputs give the same intervals).

    Raises:
        UsageError: a threshold that is not positive, or no row in common.
    """
    if not threshold_pct > 0:
        raise UsageError(f"--threshold must be > 0 percent, got {threshold_pct}")
    key = lambda r: (r.suite, r.case_id, r.backend)  # noqa: E731
    base_rows = {key(r): r for r in base.rows}
    new_rows = {key(r): r for r in new.rows}
    common = [k for k in base_rows if k in new_rows]
    if not common:
        raise UsageError(f"{base.out_dir} and {new.out_dir} have no row in common (suite, case, backend)")
    rng = np.random.default_rng(seed)
    rows = []
    for k in common:
        b, n = base_rows[k], new_rows[k]
        rc = RowComparison(*k, op=n.op, size=n.size, base_us=b.median_us, new_us=n.median_us)
        notes = _row_notes(b, n)
        if b.timed and n.timed and b.median_us > 0:
            rc.ratio, rc.low, rc.high, rc.method = ratio_interval(b, n, rng)
            rc.verdict = verdict(rc.low, rc.high, threshold_pct)
        rc.notes = "; ".join(notes)
        rows.append(rc)
    cmp = Comparison(str(base.out_dir), str(new.out_dir), threshold_pct, rows,
                     only_base=[" ".join(k[1:]) for k in base_rows if k not in new_rows],
                     only_new=[" ".join(k[1:]) for k in new_rows if k not in base_rows])
    cmp.warnings = run_warnings(base, new, rows)
    return cmp
