"""Pieces shared by the Typer commands (CLI layer only; the library never imports this):
one-line library errors, one-line usage errors, registry-backed command groups."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import typer

from fibench.errors import FibenchError, describe_exception

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Decorate a Typer command so a :class:`FibenchError` prints ``<label>: <message>``
    (``error:``, or ``interrupted:`` for a stopped run) on stderr and exits with the error's
    code (2 for bad input, 130/143 for SIGINT/SIGTERM), with no traceback; an operating-system
    error (disk full, permission denied) prints one line and exits 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FibenchError as exc:
            typer.echo(f"{exc.label}: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # disk full, permission denied, a path that vanished: not a bug
            typer.echo(f"error: {describe_exception(exc)}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


try:  # typer >= 0.2x vendors click; older typer uses the click package
    from typer import _click as _click_mod  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the installed typer
    import click as _click_mod  # type: ignore[no-redef]

from typer.core import TyperGroup


class OneLineGroup(TyperGroup):
    """Root command group whose usage errors (unknown option or command, bad value, missing
    option) print one ``error: ...`` line on stderr and exit 2, like library errors,
    instead of Typer's boxed multi-line message."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:  # noqa: D102
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _click_mod.exceptions.UsageError as exc:
            typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
            raise SystemExit(2) from None
        except typer.Abort:  # typer's own Abort (its vendored click has none)
            typer.echo("error: aborted", err=True)
            raise SystemExit(130) from None
        except _click_mod.exceptions.ClickException as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            raise SystemExit(exc.exit_code) from None
        raise SystemExit(code if isinstance(code, int) else 0)


class RegistryGroup(TyperGroup):
    """A group whose subcommands are registry entries (suites): an unknown name is
    reported as ``unknown <noun> 'x'; known: a, b`` (exit 2)."""

    noun = "suite"

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:  # noqa: D102
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = ", ".join(self.list_commands(ctx))
            raise _click_mod.exceptions.UsageError(f"unknown {self.noun} '{name}'; known: {known}", ctx)
        return super().resolve_command(ctx, args)
