"""Placeholder for `fibench audit compat`; replaced by the module that implements it."""

from fibench.errors import UsageError


def compat_command() -> None:
    """Not implemented yet."""
    raise UsageError("fibench audit compat is not implemented yet")
