"""The ``plue`` command group and the boundary rule: no traceback ever reaches the user.

Exit codes (the same for every command):
- 0: the command did its job (a listing or a match report is a success even when it
  shows broken workflows);
- 1: the workflows checked have problems (lint found some, a plan did not
  evaluate or validate), a run did not succeed, or plue failed unexpectedly;
- 2: the command line cannot be used: a bad option, a missing or wrong path, a
  malformed ``--input``, an event payload that cannot be read or is not a valid event,
  an unknown run, a missing secret;
- 130: interrupted (Ctrl-C during ``plue workflow run`` cancels the run first).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from plue import __version__
from plue.cli.output import clean

DEBUG_ENV = "PLUE_DEBUG"


def fail(message: str) -> None:
    """Print `plue: error: message` on stderr; a message of several lines (a list of problems) keeps them."""
    lines = message.splitlines() or [""]
    click.echo("\n".join(["plue: error: " + clean(lines[0]), *(clean(line) for line in lines[1:])]), err=True)


# name -> (module, attribute): imported on first use, so each command pays only for what it needs.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "workflow": ("plue.cli.workflow_commands", "workflow"),
    "run": ("plue.cli.run_commands", "run_group"),
    "prompt": ("plue.cli.prompt_commands", "prompt"),
    "server": ("plue.cli.server_commands", "server"),
    "token": ("plue.cli.server_commands", "token"),
    "pool": ("plue.cli.pool_commands", "pool"),
    "runner": ("plue.cli.runner_commands", "runner"),
}


def _load_command(name: str) -> click.Command:
    module_name, attribute = LAZY_COMMANDS[name]
    command: click.Command = getattr(importlib.import_module(module_name), attribute)
    if name == "workflow" and isinstance(command, click.Group) and "run" not in command.commands:
        from plue.cli.run_commands import run_workflow

        command.add_command(run_workflow)
    return command


class PlueGroup(click.Group):
    """A click group whose `main` turns every failure into a one-line message and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(_load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._run(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        **extra: Any,
    ) -> int:
        try:
            result = super().main(args, prog_name or "plue", complete_var, standalone_mode=False, **extra)
            return result if isinstance(result, int) else 0
        except NoArgsIsHelpError as exc:
            # `plue` or `plue workflow` alone asks for help, as with gh.
            click.echo(exc.format_message())
            return 0
        except click.UsageError as exc:
            fail(exc.format_message())
            if exc.ctx is not None:
                click.echo(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
            return exc.exit_code
        except click.ClickException as exc:
            fail(exc.format_message())
            return exc.exit_code
        except (click.Abort, KeyboardInterrupt, EOFError):
            fail("interrupted")
            return 130
        except BrokenPipeError:
            # The reader went away (`plue ... | head`): not worth a message.
            _silence_stdout()
            return 1
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                traceback.print_exc()
            else:
                name = type(exc).__name__
                fail(f"internal error: {name}: {exc} (set {DEBUG_ENV}=1 to see the traceback)")
            return 1


def _silence_stdout() -> None:
    # Python flushes stdout at exit; a closed pipe would then print a traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


EXIT_CODES = (
    "Exit codes: 0 done; 1 the workflows have problems, a run failed (or plue failed);"
    " 2 the command line cannot be used; 130 interrupted."
)


@click.group("plue", cls=PlueGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, "--version", "-V", prog_name="plue", message="%(prog)s %(version)s")
def cli() -> None:
    """Plue: workflows written in Python, evaluated in a sandbox, executed as DAGs."""


def main(argv: Sequence[str] | None = None) -> None:
    """The console script ``plue``."""
    cli.main(argv, prog_name="plue")
