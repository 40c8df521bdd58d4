"""The ``plue`` command line (see `plue.cli.app` for the exit codes).

Subcommands are imported when used (`plue.cli.app.LAZY_COMMANDS`): `plue runner` need not
import the store, nor `plue workflow` the server.
"""

from plue.cli.app import cli, main

__all__ = ["cli", "main"]
