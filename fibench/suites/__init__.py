"""Suite registry: one line per suite."""

from __future__ import annotations

from fibench.errors import lookup
from fibench.suites.attention import DecodeSuite, MlaSuite, PrefillSuite
from fibench.suites.activation import ActivationSuite
from fibench.suites.allreduce import AllReduceSuite
from fibench.suites.base import Suite
from fibench.suites.gemm import GemmSuite
from fibench.suites.moe import MoeSuite
from fibench.suites.norm import NormSuite
from fibench.suites.rope import RopeSuite
from fibench.suites.sampling import SamplingSuite
from fibench.suites.plugins import load_plugins

SUITES: dict[str, Suite] = {s.name: s for s in (
    NormSuite(), MoeSuite(), DecodeSuite(), PrefillSuite(), MlaSuite(), ActivationSuite(), RopeSuite(), GemmSuite(),
    SamplingSuite(), AllReduceSuite())}


def get_suite(name: str) -> Suite:
    """Suite by name, with the backends of ``FIBENCH_PLUGINS`` registered
    (:mod:`fibench.suites.plugins`).

    Raises:
        UsageError: unknown suite (the message lists the known ones), or a plugin that
            cannot be loaded.
    """
    load_plugins()
    return lookup(SUITES, name, "suite")
