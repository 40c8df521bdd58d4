"""The ``plue`` command line (see `plue.cli.app` for the exit codes)."""

from plue.cli.app import cli, main
from plue.cli.prompt_commands import prompt
from plue.cli.run_commands import run_group, run_workflow
from plue.cli.workflow_commands import workflow

workflow.add_command(run_workflow)
cli.add_command(workflow)
cli.add_command(run_group)
cli.add_command(prompt)

__all__ = ["cli", "main"]
