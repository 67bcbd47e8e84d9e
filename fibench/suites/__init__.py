"""Suite registry: one line per suite."""

from __future__ import annotations

from fibench.errors import lookup
from fibench.suites.base import Suite
from fibench.suites.moe import MoeSuite
from fibench.suites.norm import NormSuite
from fibench.suites.plugins import load_plugins

SUITES: dict[str, Suite] = {s.name: s for s in (NormSuite(), MoeSuite())}


def get_suite(name: str) -> Suite:
    """Suite by name, with the backends of ``FIBENCH_PLUGINS`` registered
    (:mod:`fibench.suites.plugins`).

    Raises:
        UsageError: unknown suite (the message lists the known ones), or a plugin that
            cannot be loaded.
    """
    load_plugins()
    return lookup(SUITES, name, "suite")
