"""Report parts of a multi-GPU run (fibench.distributed): which GPUs the rows came from, their
ceilings, and for a collective suite the bandwidth and agreement of the ranks. Pure: reads
the loaded run folder only.
"""

from __future__ import annotations

from fibench.report.formatting import fmt_num, fmt_us
from fibench.report.tables import md_table
from fibench.sweep.results import Row
from fibench.sweep.sinks import LoadedRun


def gpu_lines(run: LoadedRun) -> list[str]:
    """Method bullets about the devices of a multi-GPU run (none for a single-GPU run)."""
    cfg, env = run.run, run.env
    workers = cfg.get("workers")
    if not workers:
        return []
    note = cfg.get("gpu_note") or f"{len(workers)} devices"
    ceiling = env.get("comm_ceiling")
    if ceiling:
        return [f"- Devices: {note}. Collective run: every row is {cfg.get('world_size', len(workers))} ranks "
                "measured together; latency = the slowest rank's median, spread = slowest - fastest rank.",
                f"- All-reduce ceiling measured on these devices at the start: {fmt_num(ceiling['busbw_gbps'])} GB/s "
                f"busbw ({ceiling['method']}); busbw = algbw x 2(n-1)/n (nccl-tests doc/PERFORMANCE.md)."]
    lines = [f"- Devices: {note}. Sharded sweep: each case ran on one of them (columns `rank`, `gpus`), "
             "each row's SOL against its own GPU's ceilings."]
    per_gpu = [f"rank {w['rank']} ({workers[w['rank']]}): copy {fmt_num(w['ceilings']['copy_tbps'])} TB/s, "
               f"GEMM {fmt_num(w['ceilings']['gemm_tflops'])} TFLOP/s"
               + (f" (fp8 {fmt_num(w['ceilings']['fp8_gemm_tflops'])})" if w["ceilings"].get("fp8_gemm_tflops") else "")
               for w in env.get("workers", []) if w.get("ceilings") and w["rank"] < len(workers)]
    if per_gpu:
        lines.append("- Ceilings per GPU: " + "; ".join(per_gpu) + ".")
    return lines


def collective_section(rows: list[Row]) -> list[str]:
    """The bandwidth and rank-agreement table of a collective run (empty otherwise)."""
    merged = [r for r in rows if r.world_size and r.timed]
    if not merged:
        return []
    out = [f"## Across ranks ({merged[0].world_size} ranks)", "",
           "Slowest rank's median; algbw = buffer bytes / time, busbw = algbw x 2(n-1)/n (GB/s, nccl-tests); "
           "`ranks equal`: every rank's outputs bit-identical.", ""]
    out += md_table(["op", "size", "backend", "median", "spread", "algbw GB/s", "busbw GB/s", "busbw SOL %",
                     "ranks equal"],
                    [[r.op, str(r.size), r.backend, fmt_us(r.median_us), fmt_us(r.rank_spread_us),
                      fmt_num(r.algbw_gbps), fmt_num(r.busbw_gbps), fmt_num(r.busbw_sol_pct),
                      fmt_num(r.ranks_bitwise_equal)] for r in merged])
    return out + [""]
