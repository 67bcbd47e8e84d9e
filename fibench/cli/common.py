"""Pieces shared by the Typer commands (CLI layer only; the library never imports this)."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import typer

from fibench.errors import FibenchError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Decorate a Typer command so a :class:`FibenchError` prints ``error: <message>``
    on stderr and exits with the error's code (2 for bad input), with no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FibenchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
