"""Which backends ran on real hardware: read from ``fibench/suites/verified.toml`` (one
entry per audit folder), shown by ``fibench list`` and ``fibench list --json``. Data, so an
audit adds its backends in one place and no backend class is edited."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@lru_cache(maxsize=1)
def _audits() -> tuple[dict, ...]:
    text = resources.files("fibench.suites").joinpath("verified.toml").read_text()
    return tuple(tomllib.loads(text).get("audit", ()))


def verification(suite: str, backend: str) -> str:
    """Where ``backend`` of ``suite`` last ran on real hardware and how it fared, e.g.
    "H200 (SM 9.0), FlashInfer 0.6.13, torch 2.11, 2026-11-30: passed (audits/h200-2026-11-30)";
    "" when no audit lists it."""
    for audit in reversed(_audits()):
        for kind in ("passed", "ran"):
            if backend in audit.get(kind, {}).get(suite, ()):
                note = audit.get("notes", {}).get(f"{suite}/{backend}", "")
                outcome = "passed" if kind == "passed" else f"ran; {note or 'see the audit'}"
                return f"{audit['where']}, {audit['date']}: {outcome} ({audit['folder']})"
    return ""
