"""The ``flask shutdown`` command group."""

from __future__ import annotations

import click
from flask.cli import AppGroup

shutdown_command = AppGroup("shutdown", help="Create tokens and stop servers.")


@shutdown_command.command("version")
def version_command() -> None:
    """Print the installed Flask-Shutdown version."""
    from importlib.metadata import version

    click.echo(version("Flask-Shutdown"))
