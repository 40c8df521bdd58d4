"""The ``plue`` command line (see `plue.cli.app` for the exit codes)."""

from plue.cli.app import cli, main
from plue.cli.workflow_commands import workflow

cli.add_command(workflow)

__all__ = ["cli", "main"]
