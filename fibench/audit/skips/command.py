"""Placeholder for `fibench audit skips`; replaced by the module that implements it."""

from fibench.errors import UsageError


def skips_command() -> None:
    """Not implemented yet."""
    raise UsageError("fibench audit skips is not implemented yet")
