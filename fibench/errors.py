"""Errors the library raises; the CLI maps them to one line and an exit code."""


class FibenchError(Exception):
    """Base class for errors fibench reports to the user as one line.

    Attributes:
        exit_code: process exit code the CLI uses for this error.
        label: word the CLI prints before the message (``error: ...``).
    """

    exit_code = 1
    label = "error"


class UsageError(FibenchError):
    """Bad input from the user: unknown suite/backend/preset, malformed sizes,
    contradictory options, a device that is not there. The CLI exits with code 2."""

    exit_code = 2


class KernelMapError(FibenchError):
    """A kernel-name map is malformed, or one kernel matches two logical ops."""

    exit_code = 2


class Interrupted(FibenchError):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM after keeping its finished rows. The
    CLI prints ``interrupted: <message>`` and exits 128 + the signal number (130, 143), the
    shell convention for a process ended by a signal.

    Attributes:
        signum: the signal that stopped the run.
    """

    label = "interrupted"

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


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
