"""fibench command line (Typer). Thin commands: parse, call the library, map errors.

Library errors (:class:`fibench.errors.FibenchError`) become one line on stderr and
their exit code (2 for bad input); the library itself never imports Typer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fibench.audit.cli import audit_app
from fibench.cli.common import OneLineGroup, one_line_errors
from fibench.cli.parity import parity
from fibench.cli.compare import compare


class RootGroup(OneLineGroup):
    """The root group; ``run`` (one command per suite: it imports every suite, and torch)
    is built only when it is asked for, so ``fibench audit ...`` starts without torch."""

    def list_commands(self, ctx: Any) -> list[str]:  # noqa: D102
        return [n for n in super().list_commands(ctx) if n != "run"] + ["run"]  # last, as add_typer put it

    def get_command(self, ctx: Any, name: str) -> Any:  # noqa: D102
        if name == "run" and name not in self.commands:
            from fibench.cli.run import run_app

            group = typer.main.get_group(run_app)
            group.name = name
            self.add_command(group)
        return super().get_command(ctx, name)


app = typer.Typer(
    cls=RootGroup,
    help="Benchmark FlashInfer kernels under CUDA graphs with cold L2 and audit their parity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(audit_app, name="audit")
app.command("parity")(parity)
app.command("compare")(compare)


@app.command()
@one_line_errors
def env(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Print an environment snapshot: GPU, compute capability, SMs, L2, memory, driver and
    CUDA versions, torch / flashinfer / cupti versions, SM clock."""
    from fibench.report.console import print_env
    from fibench.env import collect_env

    snap = collect_env()
    if json_out:
        typer.echo(json.dumps(snap.to_dict(), indent=2))
    else:
        print_env(snap)


@app.command("list")
@one_line_errors
def list_(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List suites (their options and backends, with what each needs) and the model presets."""
    from fibench.report.catalog import catalog, print_catalog

    if json_out:
        typer.echo(json.dumps(catalog(), indent=2))
    else:
        print_catalog()


@app.command()
@one_line_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `fibench run`.")],
    reroll: Annotated[bool, typer.Option("--reroll", help="First re-apply the current kernel maps to the recorded kernels.csv (timings and parity unchanged).")] = False,
) -> None:
    """Re-render report.md of a finished (or interrupted) run from its files. Cut or corrupt
    lines are named; results.jsonl / results.csv are rebuilt from every readable row when
    they disagree (the old file is kept as .broken)."""
    from fibench.report.markdown import write_report
    from fibench.sweep.repair import repair_run
    from fibench.sweep.sinks import load_run

    problems = load_run(run_dir).problems  # refuses a folder that is not a run, in one line
    problems += [line for line in repair_run(run_dir)[1] if line not in problems]
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
    if reroll:
        from fibench.trace.reroll import reroll as reroll_run

        typer.echo(f"re-rolled {reroll_run(run_dir)} rows with the current kernel maps")
    typer.echo(str(write_report(run_dir, notes=problems)))


def main() -> None:
    """Console-script entry point (``fibench`` and ``python -m fibench``)."""
    app()
