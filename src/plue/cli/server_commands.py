"""``plue server`` and ``plue token create|list|revoke``: the server and its API tokens.

Both read the server configuration the same way (``--config FILE``, then the ``PLUE_*``
variables), so ``plue token create`` writes to the database ``plue server`` reads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from plue.cli.output import Output, new_table, plain
from plue.server.config import ConfigError, ServerConfig, load_config
from plue.store import TOKEN_SCOPES, Store, StoreError

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The server's TOML configuration (default: none; PLUE_* variables only).",
)


class ConfigUnusable(click.ClickException):
    """The configuration cannot be used: like a bad option, exit code 2."""

    exit_code = 2


def read_config(path: Path | None) -> ServerConfig:
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        raise ConfigUnusable(str(exc)) from None


@contextmanager
def open_server_store(config: ServerConfig) -> Iterator[Store]:
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(url=config.store_url)
    except OSError as exc:
        raise click.ClickException(f"cannot create the data directory {config.data_dir}: {exc.strerror}") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@click.command("server")
@CONFIG_OPTION
@click.option("--host", default=None, help="The address to listen on (default: the config's, or 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="The port (default: the config's, else 8080)."
)
def server(config_path: Path | None, host: str | None, port: int | None) -> None:
    """Serve webhooks, the API and the run queue, with built-in workers and the scheduler.

    SIGTERM or Ctrl-C stops it gracefully: no new runs are claimed, running ones get time to finish.
    """
    import uvicorn

    from plue.server.app import create_app

    config = read_config(config_path)
    # The address given on the command line is the config's too: the warm pool's runners dial it.
    config = dataclasses.replace(config, host=host or config.host, port=config.port if port is None else port)
    if not config.webhook_secrets:
        click.echo("plue: warning: no webhook secret (PLUE_WEBHOOK_SECRET): every webhook will be refused", err=True)
    try:
        app = create_app(config)
    except OSError as exc:
        raise click.ClickException(f"cannot create the data directory {config.data_dir}: {exc.strerror}") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    log_to_stderr()
    # uvicorn handles SIGINT/SIGTERM itself: it stops accepting, waits for open requests, then runs the
    # lifespan shutdown. Runner claims wait up to `claim_wait_seconds`: end them first, or the stop waits too.
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info"))
    handle_exit = server.handle_exit

    def end_claims_then_exit(sig: int, frame: FrameType | None) -> None:
        from plue.server.queue_signal import queue_signal

        # Looked up now (the service replaces the signal at start); closed from a thread: not in a handler.
        threading.Thread(target=queue_signal(app.state.plue).close, daemon=True).start()
        handle_exit(sig, frame)

    server.handle_exit = end_claims_then_exit  # type: ignore[method-assign]
    server.run()


def log_to_stderr() -> None:
    """The server's own messages (workers, schedules) on stderr next to uvicorn's; uvicorn configures only its own."""
    logger = logging.getLogger("plue")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@click.group("token")
def token() -> None:
    """API tokens: ``Authorization: Bearer TOKEN`` on every /api request."""


@token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(TOKEN_SCOPES),
    default="read",
    show_default=True,
    help="What it may do: read < write < admin, or runner (only what a plue runner agent does).",
)
@CONFIG_OPTION
def create_token(name: str, scope: str, config_path: Path | None) -> None:
    """Make a token NAME; it is printed once and only its hash is kept."""
    with open_server_store(read_config(config_path)) as store:
        value = store.create_token(name, scope)
    click.echo(value)
    click.echo(f"token {name!r} ({scope}) created: it is shown only this once", err=True)


@token.command("list")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tokens(config_path: Path | None, as_json: bool) -> None:
    """The tokens: name, scope, when made and last used (never the tokens themselves)."""
    with open_server_store(read_config(config_path)) as store:
        tokens = store.list_tokens()
    if as_json:
        click.echo(json.dumps([record.to_json() for record in tokens], indent=2))
        return
    out = Output()
    if not tokens:
        out.line("no tokens yet: make one with plue token create NAME --scope read|write|admin")
        return
    from plue.cli.run_render import when

    table = new_table(out, "name", "scope", "created", "last used", "state")
    for record in tokens:
        table.add_row(
            plain(record.name),
            plain(record.scope),
            when(record.created_at, relative=out.is_terminal),
            when(record.last_used_at, relative=out.is_terminal),
            plain("revoked", "red") if record.revoked else plain("active", "green"),
        )
    out.show(table)


@token.command("revoke")
@click.argument("name")
@CONFIG_OPTION
def revoke_token(name: str, config_path: Path | None) -> None:
    """Revoke the token NAME: requests with it are refused from now on."""
    with open_server_store(read_config(config_path)) as store:
        if not store.revoke_token(name):
            raise ConfigUnusable(f"no active token named {name!r}; see plue token list")
    click.echo(f"token {name!r} revoked")
