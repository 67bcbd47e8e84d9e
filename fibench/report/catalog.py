"""What fibench can run: suites (their axes, ops and backends with what each needs) and
model presets, as data (``fibench list --json``) and as Rich tables (``fibench list``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.table import Table

from fibench.presets import PRESETS
from fibench.report.console import console
from fibench.suites import SUITES
from fibench.suites.verified import verification
from fibench.sweep.axes import Axis


def _axis_dict(axis: Axis) -> dict[str, Any]:
    return {"option": axis.option, "type": axis.type.__name__, "help": axis.help, "swept": axis.swept,
            "default": axis.default, "preset": axis.preset, "choices": list(axis.choices), "unit": axis.unit}


def catalog() -> dict[str, Any]:
    """Suites and presets as plain data (JSON-safe)."""
    return {
        "suites": {s.name: {"description": s.description, "sizes": s.size_name, "ops": list(s.ops),
                            "reference": s.default_reference, "default_model": s.default_model,
                            "axes": {a.name: _axis_dict(a) for a in s.axes},
                            "backends": {b.name: {"description": b.description, "needs": b.needs.describe(),
                                                  "verified": verification(s.name, b.name)}
                                         for b in s.backends.values()}}
                   for s in SUITES.values()},
        "presets": {p.name: dataclasses.asdict(p) for p in PRESETS.values()},
    }


def _axis_text(axis: Axis) -> str:
    src = f"preset {axis.preset}" if axis.preset else (f"default {axis.default}" if axis.default is not None else "required")
    return f"{axis.option}{' (swept)' if axis.swept else ''} [{src}]"


def _attention_text(p: Any) -> str:
    """Attention shape of a preset in one cell: "32q/8kv x128", MLA dims, window, sinks."""
    parts = []
    if p.kv_heads:
        parts.append(f"{p.q_heads}q/{p.kv_heads}kv x{p.head_dim}")
    if p.is_mla:
        parts.append(f"MLA {p.q_heads}h C{p.kv_lora_rank}+R{p.qk_rope_head_dim}")
    if p.sliding_window:
        parts.append(f"window {p.sliding_window}")
    if p.attn_sinks:
        parts.append("sinks")
    return ", ".join(parts) or "-"


def print_catalog() -> None:
    """`fibench list`: one table per suite (options line, backends and needs), then presets."""
    for s in SUITES.values():
        table = Table(title=f"suite {s.name}: {s.description} (sizes = {s.size_name}; ops {', '.join(s.ops)})",
                      caption="options: " + (", ".join(_axis_text(a) for a in s.axes) or "-"))
        table.add_column("backend", style="bold")
        table.add_column("what")
        table.add_column("needs")
        table.add_column("verified on hardware")
        for b in s.backends.values():
            ref = " [reference]" if b.name == s.default_reference else ""
            table.add_row(b.name + ref, b.description, b.needs.describe(), verification(s.name, b.name) or "[yellow]not yet[/yellow]")
        console.print(table)
    table = Table(title="model presets")
    for col in ("preset", "hidden", "intermediate", "experts", "top-k", "routing", "attention", "note"):
        table.add_column(col)
    for p in PRESETS.values():
        table.add_row(p.name, str(p.hidden), str(p.intermediate or "-"), str(p.experts or "-"),
                      str(p.top_k or "-"), p.routing if p.is_moe else "-", _attention_text(p), p.note)
    console.print(table)
