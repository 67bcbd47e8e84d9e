"""Typer sub-app for ``fibench audit ...``; each audit registers one command here."""

import typer

from fibench.audit.compat.command import compat_command
from fibench.audit.skips.command import skips_command

audit_app = typer.Typer(
    help="Audits: test-suite skips (skips) and FlashInfer feature compatibility on this GPU (compat).",
    no_args_is_help=True,
)
audit_app.command("skips")(skips_command)
audit_app.command("compat")(compat_command)
