"""fibench command line (Typer). Thin commands: parse, call the library, map errors.

Library errors (:class:`fibench.errors.FibenchError`) become one line on stderr and
their exit code (2 for bad input); the library itself never imports Typer.
"""

from __future__ import annotations

import json

import typer

from fibench.audit.cli import audit_app
from fibench.cli_common import one_line_errors

app = typer.Typer(
    help="Benchmark FlashInfer kernels under CUDA graphs with cold L2 and audit their parity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(audit_app, name="audit")


@app.command()
@one_line_errors
def env(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Print an environment snapshot: GPU, compute capability, SMs, L2, memory, driver and
    CUDA versions, torch / flashinfer / cupti versions, SM clock."""
    from fibench.console import print_env
    from fibench.env import collect_env

    snap = collect_env()
    if json_out:
        typer.echo(json.dumps(snap.to_dict(), indent=2))
    else:
        print_env(snap)


def main() -> None:
    """Console-script entry point (``fibench`` and ``python -m fibench``)."""
    app()
