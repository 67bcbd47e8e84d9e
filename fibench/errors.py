"""Errors the library raises; the CLI maps them to one line and an exit code."""


class FibenchError(Exception):
    """Base class for errors fibench reports to the user as one line.

    Attributes:
        exit_code: process exit code the CLI uses for this error.
    """

    exit_code = 1


class UsageError(FibenchError):
    """Bad input from the user: unknown suite/backend/preset, malformed sizes,
    contradictory options, a device that is not there. The CLI exits with code 2."""

    exit_code = 2


class KernelMapError(FibenchError):
    """A kernel-name map is malformed, or one kernel matches two logical ops."""

    exit_code = 2


def lookup(registry: dict, name: str, what: str):
    """``registry[name]``, or a :class:`UsageError` naming the known keys.

    Args:
        what: noun for the message, e.g. "suite" or "model preset".
    """
    try:
        return registry[name]
    except KeyError:
        raise UsageError(f"unknown {what} '{name}'; known: {', '.join(registry)}") from None


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """``TypeName: first line of the message`` (at most ``limit`` characters), or the type
    name alone when the message is empty: every exception becomes a readable one-line reason."""
    text = str(exc).strip()
    first = text.splitlines()[0][:limit] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
