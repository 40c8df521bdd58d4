"""The ``plue`` command line (see `plue.cli.app` for the exit codes)."""

from plue.cli.app import cli, main
from plue.cli.pool_commands import pool
from plue.cli.prompt_commands import prompt
from plue.cli.run_commands import run_group, run_workflow
from plue.cli.runner_commands import runner
from plue.cli.server_commands import server, token
from plue.cli.workflow_commands import workflow

workflow.add_command(run_workflow)
cli.add_command(workflow)
cli.add_command(run_group)
cli.add_command(prompt)
cli.add_command(server)
cli.add_command(token)
cli.add_command(pool)
cli.add_command(runner)

__all__ = ["cli", "main"]
