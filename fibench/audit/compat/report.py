"""Pure writers for a :class:`CompatReport` (compat.md for people, compat.json for
tools) and the reader that loads compat.json back. Rendering never mutates the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fibench.audit.compat.catalog import FAMILY_ORDER, PROBES
from fibench.audit.compat.model import Category, CompatReport, ProbeResult, Status
from fibench.report.formatting import env_rows

STATUS_LABEL = {
    Status.WORKS: "✅ works",
    Status.FAILS: "❌ fails",
    Status.NOT_BUILT: "🔧 not built",
    Status.NOT_APPLICABLE: "➖ not applicable",
    Status.SKIPPED: "⏭️ skipped",
}
SEVERITY_LABEL = {"error": "❗ error", "warning": "⚠️ warning", "info": "ℹ️ info"}

WHAT_TO_DO: dict[Category | Status, str] = {
    Category.UNSUPPORTED_CC: "FlashInfer has no build of this kernel for this GPU's architecture. Use a backend "
    "the table shows working for the same family, or a GPU the path is gated to (see the arch-specific paths).",
    Category.UNSUPPORTED_CUDA: "The CUDA toolkit is too old (or too new) for this path. Install a matching toolkit, "
    "point CUDA_HOME at it, and keep torch's CUDA and the driver at least as new (see the CUDA versions).",
    Category.MISSING_PACKAGE: "Install the package named in the reason (pip) or, for nvcc/ninja, put the CUDA "
    "toolkit on PATH / set CUDA_HOME. Versions must match flashinfer's.",
    Category.MISSING_ARTIFACT: "trtllm-gen and cuDNN-fallback kernels are cubins downloaded from NVIDIA at first "
    "use. Allow network access once, install flashinfer-cubin of the same version, or set FLASHINFER_CUBIN_DIR "
    "to a populated cache.",
    Category.COMPILE_FAILURE: "The JIT compile failed; the first compiler error is shown and the log tail is under "
    "Failure details. Check nvcc against the CUDA flags above; if the toolkit is supported, report the error "
    "line upstream.",
    Category.RUNTIME_ERROR: "The module loaded but the call failed. Rerun that probe alone (--only NAME) with "
    "CUDA_LAUNCH_BLOCKING=1 to localise it; the log tail is under Failure details.",
    Category.WRONG_RESULT: "The kernel ran but its output disagrees with the torch reference beyond the stated "
    "tolerance: treat the path as broken on this setup and report it with the numbers shown.",
    Category.TIMEOUT: "No result within the probe's timeout; a cold JIT compile is the usual cause. Rerun with a "
    "larger --timeout or --timeout-for NAME=SECONDS (the SM90 fused MoE needs 20+ minutes on 16 cores).",
    Status.NOT_BUILT: "The JIT module was never compiled on this machine. Rerun with --build (add --timeout-for "
    "for heavy modules), or install flashinfer-jit-cache; compiled modules are cached under ~/.cache/flashinfer.",
    Status.SKIPPED: "Nothing ran: run the audit on the machine (GPU) whose compatibility you want to know.",
}


def _cell(text: Any) -> str:
    """Markdown-table-safe text: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") if text not in (None, "") else "-"


def status_cell(r: ProbeResult) -> str:
    """Status with the failure category, e.g. "❌ fails (compile failure)"."""
    label = STATUS_LABEL[r.status]
    return f"{label} ({r.category.value})" if r.category else label


def _ordered(results: list[ProbeResult]) -> list[ProbeResult]:
    rank = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return sorted(results, key=lambda r: rank.get(r.family, len(rank)))


def _api_of(name: str) -> str:
    return next((p.api for p in PROBES if p.name == name), "-")


def _modules_cell(r: ProbeResult) -> str:
    if not r.modules:
        return "-"
    return ", ".join(f"`{m.name}` ({m.state})" for m in r.modules)


def render_family_summary(report: CompatReport) -> list[str]:
    """One row per feature family: which variants (backends) ended in which status."""
    cols = (Status.WORKS, Status.FAILS, Status.NOT_BUILT, Status.NOT_APPLICABLE, Status.SKIPPED)
    present = [c for c in cols if any(r.status is c for r in report.results)]
    lines = ["## Summary by feature family", "",
             "| Feature | " + " | ".join(STATUS_LABEL[c] for c in present) + " |",
             "|---|" + "---|" * len(present)]
    for family in [f for f in FAMILY_ORDER if any(r.family == f for r in report.results)]:
        cells = []
        for status in present:
            names = [r.name.split(".", 1)[-1] for r in report.results if r.family == family and r.status is status]
            cells.append(", ".join(names) or "-")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return lines + [""]


def command_line(options: dict[str, Any]) -> str:
    """The `fibench audit compat` invocation that produced a report with ``options``."""
    parts = ["fibench audit compat"]
    if isinstance(options.get("timeout_s"), (int, float)):
        parts.append(f"--timeout {options['timeout_s']:g}")
    if options.get("build"):
        parts.append("--build")
    if options.get("only"):
        parts.append(f"--only {options['only']}")
    parts += [f"--timeout-for {k}={v:g}" for k, v in (options.get("timeout_overrides") or {}).items()]
    if options.get("device_index"):
        parts.append(f"--device-index {options['device_index']}")
    return " ".join(parts)


def render_features(report: CompatReport) -> list[str]:
    """The feature table: one row per probe, family order."""
    lines = ["## Features", "",
             "| Feature | Probe | Status | Reason / what was verified | FlashInfer API | JIT modules |",
             "|---|---|---|---|---|---|"]
    for r in _ordered(report.results):
        why = r.reason or r.detail
        if r.status is Status.WORKS and r.elapsed_s:
            why = f"{why} ({r.elapsed_s:.1f} s)"
        lines.append(f"| {_cell(r.family)} | `{r.name}` | {status_cell(r)} | {_cell(why)} | "
                     f"{_cell(_api_of(r.name))} | {_cell(_modules_cell(r))} |")
    return lines + ["", "JIT modules: `aot` prebuilt (flashinfer data/aot or flashinfer-jit-cache), `jit-cache` "
                    "compiled earlier on this machine, `compiled` by this run (--build), `missing` never compiled. "
                    "CuTe DSL, cuDNN and DeepGEMM paths compile in-process and have no module entry.", ""]


def render_cuda(report: CompatReport) -> list[str]:
    """CUDA version matrix and flags."""
    v = report.cuda
    fi_cuda = v.flashinfer_cuda or f"not reported ({v.notes.get('flashinfer_cuda', 'unknown')})"
    src = v.sources.get
    rows = [
        ("Driver (NVML)", f"{v.driver_version or '-'} (supports CUDA {v.driver_cuda or '-'})", src("driver_cuda")),
        ("torch CUDA runtime", v.torch_cuda or "none (CPU-only torch)", src("torch_cuda")),
        ("nvcc used by FlashInfer's JIT", f"{v.nvcc or 'not found'} {v.nvcc_path or ''}".strip(), src("nvcc")),
        ("CUDA FlashInfer's version gates see", fi_cuda, src("flashinfer_cuda")),
        ("CUDA recorded in the FlashInfer wheel", "not reported", src("flashinfer_wheel_cuda")),
        ("flashinfer-jit-cache", v.jit_cache_package or "not installed", src("jit_cache_package")),
        ("flashinfer-cubin", v.cubin_package or "not installed", "importlib.metadata"),
        ("Compute capability", f"SM {v.compute_capability}" if v.compute_capability else "- (no GPU)", "torch"),
    ]
    lines = ["## CUDA versions", "", "| Component | Version | Source |", "|---|---|---|"]
    lines += [f"| {a} | {_cell(b)} | {_cell(c)} |" for a, b, c in rows]
    lines += ["", "### Mismatches and warnings", ""]
    if not report.flags:
        lines.append("No mismatches found.")
    lines += [f"- {SEVERITY_LABEL.get(f.severity, f.severity)} `{f.code}`: {f.message}" for f in report.flags]
    return lines + [""]


def render_arch(report: CompatReport) -> list[str]:
    """Arch-specific paths and whether each applies to this GPU."""
    cc = report.cuda.compute_capability
    title = f"## Arch-specific paths on SM {cc}" if cc else "## Arch-specific paths (no GPU: not evaluated)"
    lines = [title, "", "| Path | Applies | Needs | Decided like |", "|---|---|---|---|"]
    for a in report.arch_paths:
        applies = "-" if a.applies is None else ("yes" if a.applies else "no")
        lines.append(f"| {_cell(a.name)} | {applies} | {_cell(a.requirement)} | {_cell(a.source)} |")
    return lines + [""]


def render_what_to_do(report: CompatReport) -> list[str]:
    """One paragraph per failure category (and not built / skipped) that occurred."""
    keys: list[Category | Status] = []
    for r in _ordered(report.results):
        key = r.category if r.category else r.status
        if key in WHAT_TO_DO and key not in keys:
            keys.append(key)
    if not keys:
        return []
    lines = ["## What to do", ""]
    for key in keys:
        hits = [f"`{r.name}`" for r in report.results if (r.category or r.status) == key]
        names = ", ".join(hits[:6]) + (f" and {len(hits) - 6} more" if len(hits) > 6 else "")
        lines.append(f"- **{key.value}** ({names}): {WHAT_TO_DO[key]}")
    return lines + [""]


def render_failures(report: CompatReport) -> list[str]:
    """Log tails of failed probes, folded."""
    failed = [r for r in _ordered(report.results) if r.status is Status.FAILS]
    if not failed:
        return []
    lines = ["## Failure details", ""]
    build = " --build" if report.options.get("build") else ""
    for r in failed:
        lines += [f"### `{r.name}`: {r.category.value if r.category else ''}", "", f"{_cell(r.reason)}", "",
                  f"Reproduce: `python -m fibench.audit.compat.probe run {r.name}{build}`", ""]
        if r.log_tail:
            lines += ["<details><summary>log tail</summary>", "", "```", r.log_tail, "```", "", "</details>", ""]
    return lines


def render_environment(report: CompatReport) -> list[str]:
    """Machine and FlashInfer install facts."""
    lines = ["## Environment", "", "| Field | Value |", "|---|---|"]
    lines += [f"| {a} | {_cell(b)} |" for a, b in env_rows(report.env)]
    fi = report.flashinfer
    for key in ("git_version", "jit_dir", "jit_cached_modules", "aot_dir", "aot_modules", "cubin_dir",
                "target_archs", "norm_path", "has_cudnn_python", "has_cutlass_dsl", "env", "error"):
        if key in fi and fi[key] not in (None, {}, []):
            lines.append(f"| flashinfer {key} | {_cell(fi[key])} |")
    return lines + [""]


def render_markdown(report: CompatReport) -> str:
    """compat.md as one string."""
    env = report.env
    counts = report.counts()
    gpu = env.get("gpu_name") or "no GPU"
    cc = f" (SM {env['compute_capability']})" if env.get("compute_capability") else ""
    opts = report.options
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    head = [
        f"# FlashInfer compatibility: {gpu}{cc}", "",
        f"FlashInfer {report.cuda.flashinfer_version or 'not installed'} · torch {env.get('torch_version') or '-'} "
        f"(CUDA {report.cuda.torch_cuda or 'none'}) · driver CUDA {report.cuda.driver_cuda or '-'} · "
        f"nvcc {report.cuda.nvcc or '-'} · {report.created_at}", "",
        f"**{summary}** of {len(report.results)} probes. "
        f"Build {'allowed (--build)' if opts.get('build') else 'not allowed: missing JIT modules show as not built'}; "
        f"timeout {opts.get('timeout_s', 0):g} s per probe. Command: `{command_line(opts)}`", "",
        "Each probe runs in its own process on tiny inputs; *works* means the kernel ran and its output "
        "passed the check shown (torch fp32 reference or sampling invariants).", "",
    ]
    if report.pending:
        head += [f"> **Incomplete:** {len(report.pending)} selected probes have not finished (still running, or the "
                 f"audit was stopped): {', '.join(f'`{n}`' for n in report.pending[:8])}"
                 f"{' ...' if len(report.pending) > 8 else ''}.", ""]
    parts = (render_family_summary, render_features, render_cuda, render_arch, render_what_to_do, render_failures, render_environment)
    body = [line for part in parts for line in part(report)]
    return "\n".join(head + body).rstrip() + "\n"


def render_json(report: CompatReport) -> str:
    """compat.json as one string."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def write_report(report: CompatReport, out_dir: Path) -> tuple[Path, Path]:
    """Write compat.md and compat.json into ``out_dir`` (created). Returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "compat.md", out_dir / "compat.json"
    md.write_text(render_markdown(report), encoding="utf-8")
    js.write_text(render_json(report), encoding="utf-8")
    return md, js


def load_report(path: Path) -> CompatReport:
    """Read a compat.json back.

    Raises:
        ValueError: not a compat report; OSError / json errors propagate.
    """
    return CompatReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
