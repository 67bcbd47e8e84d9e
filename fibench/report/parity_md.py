"""Parity sections of the reports: against the reference, the ULP distribution, one table
per ``--parity-against`` pair and the determinism notes (report.md), and parity.md /
parity.csv of ``fibench parity A B``. Pure renderers over rows and results; nothing is
mutated.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from fibench.parity.pairwise import PAIR_PREFIX, comparison_fields, comparison_view
from fibench.parity.runs import RunsParity
from fibench.parity.ulp import BUCKETS, EXPLANATIONS, PERCENTILES, UlpStats, bucket_label
from fibench.report.formatting import fmt_num
from fibench.report.tables import CaseColumns, axis_cell, md_table, varying_keys
from fibench.sweep.results import Row

ULP_HEADER = [f"ULP {bucket_label(b[0])}" for b in BUCKETS] + ["p50", "p99", "p99.9", "max", "max above floor"]
COMPARISON_HEADER = ["verdict", "bitwise frac", *ULP_HEADER, "max abs err", "cosine"]


def _share(count: int, total: int) -> str:
    if not count:
        return "0"
    return f"{100 * count / total:.3g}%"


def ulp_cells(u: UlpStats | None, max_ulp: Any) -> list[str]:
    """Histogram shares (of the elements with a distance), percentiles, max and max above
    the floor; '-' throughout when there is no distribution (a reference row)."""
    if u is None:
        return ["-"] * len(ULP_HEADER)
    total = max(u.compared, 1)
    cells = [_share(n, total) for n in u.histogram]
    cells += [fmt_num(u.percentiles.get(name)) for name, _ in PERCENTILES]
    return cells + [fmt_num(max_ulp), fmt_num(u.max_above_floor)]


def comparison_cells(view: dict[str, Any]) -> list[str]:
    """Cells of :data:`COMPARISON_HEADER` from a :func:`~fibench.parity.pairwise.comparison_view`."""
    return [str(view.get("verdict") or "-"), fmt_num(view.get("bitwise_equal_frac")),
            *ulp_cells(view.get("ulp"), view.get("max_ulp")), fmt_num(view.get("max_abs_err")),
            fmt_num(view.get("cosine"), 6)]


def explanation_lines() -> list[str]:
    """One line per number of the ULP columns."""
    return [f"- **{name}**: {text}" for name, text in EXPLANATIONS] + [""]


def worst_table(title: str, worst: Iterable[dict[str, Any]]) -> list[str]:
    """The worst elements of a failed comparison."""
    return [title, ""] + md_table(
        ["output", "index", "reference", "candidate", "abs err", "ULP"],
        [[w["output"], str(tuple(w["index"])), fmt_num(w["reference"], 6), fmt_num(w["candidate"], 6),
          fmt_num(w["abs_err"]), str(w["ulp"])] for w in worst]) + [""]


def _reference(rows: list[Row]) -> list[str]:
    cols = CaseColumns(rows)
    lines = [[*cols.cells(r), r.backend, r.parity_verdict or "-", fmt_num(r.bitwise_equal_frac),
              fmt_num(r.max_ulp), fmt_num(r.ulp_p99), fmt_num(r.ulp_max_above_floor), fmt_num(r.max_abs_err),
              fmt_num(r.max_rel_err), fmt_num(r.cosine, 6), fmt_num(r.within_tol_frac, 5),
              fmt_num(r.max_err_over_tol), f"{r.nan_count or 0}/{r.inf_count or 0}", fmt_num(r.deterministic),
              fmt_num(r.graph_deterministic)]
             for r in rows if r.parity_verdict]
    out = ["## Parity against the reference", "",
           "`eager = eager`: two eager calls on the same inputs gave bit-identical outputs; `graph = eager`: a "
           "CUDA-graph replay of one call gave the same bits as an eager call (`-`: not checked: CPU run, or the "
           "backend cannot be captured).", ""]
    out += md_table([*cols.header, "backend", "verdict", "bitwise frac", "max ULP", "ULP p99", "max ULP above floor",
                     "max abs err", "max rel err", "cosine", "within tol", "worst err / tol", "NaN/Inf",
                     "eager = eager", "graph = eager"], lines) + [""]
    for r in rows:
        if r.parity_verdict == "fail":
            out += worst_table(f"Worst elements, {r.backend} on {r.case_id} (atol {r.atol}, rtol {r.rtol}):",
                               r.extra.get("worst", []))
    return out


def _ulp_distribution(rows: list[Row]) -> list[str]:
    compared = [r for r in rows if r.ulp_hist_0 is not None]
    if not compared:
        return []
    cols = CaseColumns(compared)
    lines = [[*cols.cells(r), r.backend,
              *ulp_cells(UlpStats.from_fields(r.csv_dict(), max_ulp=r.max_ulp), r.max_ulp),
              fmt_num(r.ulp_nan_mismatch)] for r in compared]
    floors = sorted({r.ulp_floor for r in compared if r.ulp_floor is not None})
    return ["## ULP distribution against the reference", "",
            f"Tolerance floor (atol of the output dtype): {', '.join(fmt_num(f) for f in floors) or '-'}.", ""] + \
        md_table([*cols.header, "backend", *ULP_HEADER, "NaN mismatch"], lines) + [""] + explanation_lines()


def _pairs(rows: list[Row]) -> list[str]:
    paired = [r for r in rows if r.pair_verdict in ("pass", "fail")]
    if not paired:
        return []
    det = {(r.case_id, r.backend): r.deterministic for r in rows}
    cols = CaseColumns(paired)
    by_pair: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in paired:
        by_pair[(r.backend, r.pair_backend)].append(r)
    out = []
    for (backend, against), group in by_pair.items():
        out += [f"## `{backend}` against `{against}`", "",
                f"Same inputs; `{against}`'s outputs play the reference (rounded to the output dtype for bits and "
                "ULP). The verdict uses the dtype tolerance table; it does not change the row's status.", ""]
        lines = [[*cols.cells(r), *comparison_cells(comparison_view(r.csv_dict(), PAIR_PREFIX)),
                  f"{fmt_num(det.get((r.case_id, backend)))} / {fmt_num(det.get((r.case_id, against)))}"]
                 for r in group]
        out += md_table([*cols.header, *COMPARISON_HEADER, "eager = eager (this / against)"], lines) + [""]
    notes = sorted({f"- {r.backend} on {r.case_id}: {r.notes}" for r in rows
                    if r.pair_verdict == "n/a" and r.notes})
    return out + (["Pairs not compared:", "", *notes, ""] if notes else [])


def _determinism(rows: list[Row]) -> list[str]:
    checked = [r for r in rows if r.deterministic is not None]
    if not checked:
        return []
    eager: dict[str, list[str]] = defaultdict(list)
    graph: dict[str, list[str]] = defaultdict(list)
    for r in checked:
        if r.deterministic is False:
            eager[r.backend].append(r.case_id)
        if r.graph_deterministic is False:
            graph[r.backend].append(r.case_id)
    out = ["## Determinism", ""]
    if not eager and not graph:
        graphs = any(r.graph_deterministic is not None for r in checked)
        return out + ["Every backend gave bit-identical outputs on two eager calls"
                      + (" and on a CUDA-graph replay against an eager call." if graphs else "."), ""]
    for backend, cases in eager.items():
        out.append(f"- **`{backend}` is not run-to-run deterministic** on {', '.join(cases)}: two eager calls on "
                   "the same inputs gave different bits (an accumulation whose order varies: atomics, split-K, a "
                   "scatter epilogue). A bitwise comparison of it with anything, itself included, can differ by "
                   "chance: judge it by the ULP distribution and the tolerance verdict, and compare it bitwise only "
                   "where it is deterministic.")
    for backend, cases in graph.items():
        out.append(f"- `{backend}`: a CUDA-graph replay differs bitwise from an eager call on {', '.join(cases)}"
                   + (" (expected: its eager calls differ too)." if backend in eager else
                      ": eager calls agree with each other, so the captured call runs differently (another "
                      "tactic, workspace or launch order)."))
    return out + [""]


def _quantization_error(rows: list[Row]) -> list[str]:
    cols = CaseColumns(rows)
    out: list[str] = []
    quantized = [r for r in rows if r.quant_err_verdict]
    if quantized:
        out += ["Quantization error: each quantized kernel's output against the same model with unquantized "
                "(bf16) weights and activations, by the weight format's tolerance row (fp8 / mxfp4: atol 0.1, "
                "rtol 0.2, hit ratio >= 85%); the parity above isolates the kernel's math from it.", ""]
        out += md_table([*cols.header, "backend", "verdict", "within tol", "max abs err", "mean abs err", "cosine"],
                      [[*cols.cells(r), r.backend, r.quant_err_verdict, fmt_num(r.quant_err_within_tol_frac, 5),
                        fmt_num(r.quant_err_max_abs_err), fmt_num(r.quant_err_mean_abs_err),
                        fmt_num(r.quant_err_cosine, 6)] for r in quantized]) + [""]
    return out


def parity_sections(rows: list[Row]) -> list[str]:
    """The parity part of report.md: against the reference, the quantization error of
    quantized kernels, the ULP distribution (with one line per number), one table per
    ``--parity-against`` pair, determinism notes."""
    return (_reference(rows) + _quantization_error(rows) + _ulp_distribution(rows) + _pairs(rows)
            + _determinism(rows))


ENV_LABELS = (("fibench", "fibench_version"), ("torch", "torch_version"), ("CUDA runtime", "torch_cuda_runtime"),
              ("FlashInfer", "flashinfer_version"), ("TensorRT-LLM", "tensorrt_llm_version"), ("GPU", "gpu_name"),
              ("compute capability", "compute_capability"), ("driver", "driver_version"),
              ("python", "python_version"))


def parity_records(r: RunsParity) -> list[dict[str, Any]]:
    """parity.csv: one record per compared (case, backend of A, backend of B): the case,
    both backends, the requirement and whether it was met, then
    :func:`~fibench.parity.pairwise.comparison_fields` (verdict, metrics, ULP columns)."""
    records = []
    for o in r.outcomes:
        c = o.case
        records.append({"suite": r.a.suite, "case_id": c.case_id, "op": c.op, "size": c.size,
                        **{k: c.params.get(k) for k in c.swept}, "dtype": c.dtype, "backend_a": o.backend_a,
                        "backend_b": o.backend_b, "require": str(r.require), "met": o.met, "why": o.why,
                        "caveat": o.caveat,
                        "elements": o.result.elements, "rule": o.result.rule, "atol": o.result.atol,
                        "rtol": o.result.rtol, **comparison_fields(o.result)})
    return records


def render_runs_parity(r: RunsParity) -> str:
    """parity.md of ``fibench parity A B``."""
    out = [f"# fibench parity: {r.a.suite}", "",
           f"A (compared against): `{r.a.root}`; B: `{r.b.root}`. Requirement `--require {r.require}`: "
           f"**{len(r.outcomes) - len(r.failed)} of {len(r.outcomes)} comparisons meet it.**", "",
           "Inputs of every compared case are identical in A and B (every tensor's sha256 in the two manifests); "
           "every output file was checked against its sha256 when loaded. A's outputs play the reference "
           "(rounded to the output dtype for bits and ULP).", "", "## Where each side ran", ""]
    out += md_table(["", "A", "B"], [[label, str(r.a.env.get(key) or "-"), str(r.b.env.get(key) or "-")]
                                      for label, key in ENV_LABELS] +
                    [["command", f"`{r.a.run.get('command', '-')}`", f"`{r.b.run.get('command', '-')}`"]]) + [""]
    swept = varying_keys([o.case.params for o in r.outcomes])
    swept = [k for k in swept if any(k in o.case.swept for o in r.outcomes)]
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for o in r.outcomes:
        groups[(o.backend_a, o.backend_b)].append(o)
    for (x, y), group in groups.items():
        out += [f"## `{y}` (B) against `{x}` (A)", ""]
        lines = [[o.case.op, str(o.case.size), *(axis_cell(o.case.params.get(k)) for k in swept),
                  *comparison_cells({**comparison_view(comparison_fields(o.result)), "ulp": o.result.ulp}),
                  "yes" if o.met else f"**no**: {o.why}", o.caveat or "-"] for o in group]
        out += md_table(["op", "size", *swept, *COMPARISON_HEADER, f"meets {r.require}", "caveat"], lines) + [""]
    out += ["## What the numbers mean", ""] + explanation_lines()
    for o in r.failed:
        out += worst_table(f"Worst elements, `{o.backend_b}` (B) against `{o.backend_a}` (A) on {o.case.case_id}:",
                           [w.__dict__ for w in o.result.worst])
    if r.not_compared:
        out += ["## Not compared", "", *(f"- {line}" for line in r.not_compared), ""]
    return "\n".join(out).rstrip() + "\n"


def write_runs_parity(r: RunsParity, out_dir: Path) -> tuple[Path, Path]:
    """Write parity.csv and parity.md into ``out_dir`` (created); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "parity.csv", out_dir / "parity.md"
    pd.DataFrame.from_records(parity_records(r)).to_csv(csv_path, index=False)
    md_path.write_text(render_runs_parity(r))
    return csv_path, md_path
