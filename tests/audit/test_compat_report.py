"""compat.md / compat.json rendering from canned probe results (an H100 run with one
row of every status and several failure categories)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fibench.audit.compat.model import Category, CompatReport, ProbeResult, Status
from fibench.audit.compat.report import load_report, render_json, render_markdown, status_cell, write_report

FIXTURE = Path(__file__).parent / "compat_fixtures" / "h100_report.json"


@pytest.fixture
def report() -> CompatReport:
    return load_report(FIXTURE)


def _section(report: CompatReport, start: str, end: str) -> str:
    """The rendered compat.md from heading ``start`` up to heading ``end``."""
    md = render_markdown(report)
    return md[md.index(start):md.index(end)]


def _row(md: str, probe: str) -> str:
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and f"`{probe}`" in ln]
    assert len(rows) == 1, f"expected one table row for {probe}, got {rows}"
    return rows[0]


def test_feature_rows_show_status_category_and_reason(report):
    md = render_markdown(report)
    assert "| ✅ works |" in _row(md, "decode.fa2")
    assert "max abs err 0.0039" in _row(md, "decode.fa2")
    assert "| 🔧 not built |" in _row(md, "decode.fa3")
    assert "rerun with --build" in _row(md, "decode.fa3")
    assert "➖ not applicable" in _row(md, "decode.trtllm-gen")
    assert "needs SM 10.x" in _row(md, "decode.trtllm-gen")
    comm = _row(md, "comm.allreduce_fusion")
    assert "❌ fails (compile failure)" in comm
    assert 'namespace "std" has no member "optional"' in comm
    assert "`trtllm_comm` (compiled)" in comm
    assert "❌ fails (timeout)" in _row(md, "moe.bf16")
    assert "❌ fails (wrong result)" in _row(md, "act.silu_and_mul")
    assert "❌ fails (missing package)" in _row(md, "decode.cudnn")


def test_rows_follow_family_order(report):
    md = render_markdown(report)
    names = ("decode.fa2", "sink.fa3", "norm.rmsnorm", "moe.bf16", "comm.allreduce_fusion")
    order = [md.index(f"`{name}`") for name in names]
    assert order == sorted(order)


def test_family_summary_lists_variants_by_status(report):
    section = _section(report, "## Summary by feature family", "## Features")
    assert "| Feature | ✅ works | ❌ fails | 🔧 not built | ➖ not applicable |" in section
    assert "| paged decode attention | fa2 | cudnn | fa3 | trtllm-gen |" in section
    assert "| fused MoE | - | bf16 | fp8 | - |" in section
    assert "skipped" not in section


def test_summary_counts_and_header(report):
    md = render_markdown(report)
    assert "Command: `fibench audit compat --timeout 300 --build`" in md
    assert md.startswith("# FlashInfer compatibility: NVIDIA H100 80GB HBM3 (SM 9.0)")
    assert "**3 works, 5 fails, 2 not built, 1 not applicable** of 11 probes." in md
    assert report.counts() == {"works": 3, "fails": 5, "not built": 2, "not applicable": 1, "skipped": 0}


def test_cuda_section_flags_and_unreported_wheel_cuda(report):
    section = _section(report, "## CUDA versions", "## Arch-specific paths")
    assert "| torch CUDA runtime | 13.0 |" in section
    assert "| Driver (NVML) | 575.57.08 (supports CUDA 12.9) |" in section
    assert "| CUDA recorded in the FlashInfer wheel | not reported |" in section
    assert "❗ error `torch-newer-than-driver`" in section
    assert "❗ error `nvcc-major-newer-than-driver`" in section


def test_arch_section_marks_fa3_and_trtllm_gen(report):
    section = _section(report, "## Arch-specific paths on SM 9.0", "## What to do")
    assert "| FA3 attention (Hopper wgmma/TMA, sm_90a) | yes |" in section
    assert "| trtllm-gen kernels (prebuilt cubins downloaded at first use) | no |" in section


def test_what_to_do_has_one_entry_per_category_seen(report):
    section = _section(report, "## What to do", "## Failure details")
    entries = [ln for ln in section.splitlines() if ln.startswith("- **")]
    keys = [ln.split("**")[1] for ln in entries]
    assert sorted(keys) == sorted(["not built", "missing package", "runtime error", "wrong result", "timeout",
                                   "compile failure"])
    assert "(`decode.fa3`, `moe.fp8`)" in next(ln for ln in entries if ln.startswith("- **not built**"))
    assert "--timeout-for" in next(ln for ln in entries if ln.startswith("- **timeout**"))


def test_failure_details_include_log_tail(report):
    details = _section(report, "## Failure details", "## Environment")
    assert "### `sink.fa3`: runtime error" in details
    assert "Ninja build failed. Ninja output:" in details
    assert "### `decode.fa2`" not in details
    assert "Reproduce: `python -m fibench.audit.compat.probe run comm.allreduce_fusion --build`" in details


def test_json_round_trip_keeps_every_result(report, tmp_path):
    md_path, json_path = write_report(report, tmp_path / "out")
    assert md_path.read_text(encoding="utf-8") == render_markdown(report)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["schema"] == "fibench.compat/1"
    assert data["counts"]["fails"] == 5
    by_name = {r["name"]: r for r in data["results"]}
    assert by_name["moe.bf16"]["category"] == "timeout"
    assert by_name["decode.fa2"]["category"] is None
    assert by_name["quant.fp4"]["modules"] == [{"name": "fp4_quantization_90", "state": "aot"}]
    again = load_report(json_path)
    assert render_json(again) == render_json(report)


def test_rendering_does_not_mutate(report):
    before = render_json(report)
    render_markdown(report)
    assert render_json(report) == before


def test_pipes_and_newlines_in_reasons_stay_in_their_cell(report):
    report.results.append(ProbeResult("rope.apply_rope_pos_ids", "RoPE", Status.FAILS,
                                      "ValueError: a|b\nsecond line", Category.RUNTIME_ERROR))
    row = _row(render_markdown(report), "rope.apply_rope_pos_ids")
    assert "a\\|b second line" in row
    assert row.count(" | ") == 5


def test_result_refuses_illegal_states():
    with pytest.raises(ValueError, match="needs a category"):
        ProbeResult("x", "f", Status.FAILS, "boom")
    with pytest.raises(ValueError, match="only a failure"):
        ProbeResult("x", "f", Status.WORKS, category=Category.TIMEOUT)
    assert status_cell(ProbeResult("x", "f", "not built")) == "🔧 not built"


def test_loader_rejects_other_json(tmp_path):
    other = tmp_path / "x.json"
    other.write_text('{"schema": "something-else"}')
    with pytest.raises(ValueError, match="not a fibench.compat/1 report"):
        load_report(other)
