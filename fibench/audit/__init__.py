"""Audits: what a test suite skips and why (``skips``), what works on this GPU (``compat``)."""
