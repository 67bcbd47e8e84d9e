"""Suite registry: one line per suite."""

from __future__ import annotations

from fibench.errors import lookup
from fibench.suites.allreduce import AllReduceSuite
from fibench.suites.base import Suite
from fibench.suites.moe import MoeSuite
from fibench.suites.norm import NormSuite

SUITES: dict[str, Suite] = {s.name: s for s in (NormSuite(), MoeSuite(), AllReduceSuite())}


def get_suite(name: str) -> Suite:
    """Suite by name.

    Raises:
        UsageError: unknown suite (the message lists the known ones).
    """
    return lookup(SUITES, name, "suite")
