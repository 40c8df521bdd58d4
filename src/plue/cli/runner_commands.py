"""``plue runner``: run a runner agent; ``plue runner list`` and ``plue runner drain``: the server's runners.

    plue runner --server URL --token TOKEN [--name N] [--labels a,b] [--work-dir DIR] [--capacity N] [--once]
                [--pool NAME]
    plue runner list [--server URL] [--token TOKEN] [--all] [--json]
    plue runner drain RUNNER_ID [--server URL] [--token TOKEN]

The agent (`plue.runners.agent`) logs to stderr. Exit codes: 0 when it stopped cleanly
(SIGTERM or Ctrl-C drains: the current run finishes first; a second signal cancels it),
2 for a command line that cannot be used, 1 when the server cannot be reached or refuses the token.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from plue.cli.output import Output, new_table, plain
from plue.cli.remote import Remote
from plue.plan import PlanError
from plue.plan.arguments import runner_labels

LOG_FORMAT = "%(asctime)s plue-runner %(levelname)s %(message)s"


def _labels(value: str | None) -> tuple[str, ...]:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    try:
        return tuple(runner_labels(items, "--labels"))
    except PlanError as exc:
        raise click.BadParameter(str(exc).removeprefix("--labels: "), param_hint="--labels") from None


@click.group("runner", invoke_without_command=True)
@click.option("--server", metavar="URL", envvar="PLUE_SERVER", help="The Plue server (default: $PLUE_SERVER).")
@click.option("--token", metavar="TOKEN", envvar="PLUE_TOKEN", help="A token of scope runner (default: $PLUE_TOKEN).")
@click.option("--name", metavar="NAME", envvar="PLUE_RUNNER_NAME", help="Shown by the server (default: HOST-PID).")
@click.option(
    "--labels",
    metavar="A,B",
    envvar="PLUE_RUNNER_LABELS",
    help="Labels this runner offers; it takes runs whose runs_on labels it has all of (default: none).",
)
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where workspaces are made, one per run, wiped after it (default: a temporary directory).",
)
@click.option("--capacity", type=click.IntRange(1, 64), default=1, show_default=True, help="Runs executed at once.")
@click.option("--once", is_flag=True, help="Execute one run, then deregister and exit (ephemeral runners).")
@click.option("--pool", metavar="NAME", envvar="PLUE_RUNNER_POOL", help="The pool this runner belongs to.")
@click.option(
    "--register-timeout",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to keep trying to register while the server cannot be reached.",
)
@click.pass_context
def runner(
    ctx: click.Context,
    server: str | None,
    token: str | None,
    name: str | None,
    labels: str | None,
    work_dir: Path | None,
    capacity: int,
    once: bool,
    pool: str | None,
    register_timeout: float,
) -> int:
    """Run a runner agent: register with the server, take its queued runs, execute them here.

    It only makes outgoing HTTP requests. SIGTERM or Ctrl-C drains it (the current run finishes,
    then it deregisters and exits 0); a second one cancels the current run.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    from plue.runners.agent import Agent, AgentOptions, stop_on_signals
    from plue.runners.client import RunnerClient

    if not server:
        raise click.UsageError("a runner needs its server: pass --server URL or set PLUE_SERVER")
    if not server.startswith(("http://", "https://")):
        raise click.BadParameter(f"{server!r} is not an http:// or https:// URL", param_hint="--server")
    if not token:
        raise click.UsageError("a runner needs a token of scope runner: pass --token or set PLUE_TOKEN")
    if pool is not None and not pool.strip():
        raise click.BadParameter("the pool name is empty", param_hint="--pool")
    offered = _labels(labels)
    _log_to_stderr()
    temporary = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="plue-runner-")) if work_dir is None else work_dir
    options = AgentOptions(
        name=name or f"{socket.gethostname()}-{os.getpid()}",
        work_dir=root,
        labels=offered,
        capacity=capacity,
        once=once,
        pool=pool,
        register_timeout=register_timeout,
    )
    client = RunnerClient(server, token)
    try:
        agent = Agent(client, options)
        with stop_on_signals(agent):
            code = agent.run()
    finally:
        client.close()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    if code != 0:
        raise click.ClickException(agent.failure or "the runner failed")
    return code


def _log_to_stderr() -> None:
    logger = logging.getLogger("plue")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


SERVER_OPTION = click.option(
    "--server", metavar="URL", envvar="PLUE_SERVER", help="The server (default: $PLUE_SERVER)."
)
TOKEN_OPTION = click.option(
    "--token", metavar="TOKEN", envvar="PLUE_TOKEN", help="An API token (default: $PLUE_TOKEN)."
)


def _connect(server: str | None) -> str:
    if not server:
        raise click.UsageError("this needs a server: pass --server URL or set PLUE_SERVER")
    return server


@runner.command("list")
@SERVER_OPTION
@TOKEN_OPTION
@click.option("--all", "include_gone", is_flag=True, help="Also runners that are lost or offline.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
def list_runners(server: str | None, token: str | None, include_gone: bool, as_json: bool) -> None:
    """The server's runners: name, labels, status, current runs, last heartbeat (a read token is enough)."""
    with Remote.connect(_connect(server), token) as remote:
        data = remote.get("/api/runners", params={"all": "true"} if include_gone else None)
    runners = data.get("runners", []) if isinstance(data, Mapping) else data
    if not isinstance(runners, list):
        runners = []
    if as_json:
        click.echo(json.dumps(runners, indent=2))
        return
    out = Output()
    if not runners:
        out.line("no runners: start one with plue runner --server URL --token TOKEN")
        return
    from plue.cli.run_render import when

    table = new_table(out, "name", "id", "labels", "status", "runs", "last heartbeat")
    for item in runners:
        if not isinstance(item, Mapping):
            continue
        status = str(item.get("status", "?"))
        table.add_row(
            plain(str(item.get("name", ""))),
            plain(str(item.get("id", ""))[:12]),
            plain(",".join(str(label) for label in item.get("labels") or []) or "-"),
            plain(status, _STATUS_STYLES.get(status, "")),
            plain(_current_runs(item)),
            when(_float(item.get("last_heartbeat")), relative=out.is_terminal),
        )
    out.show(table)


_STATUS_STYLES = {"idle": "green", "busy": "yellow", "draining": "cyan", "lost": "red", "offline": "dim"}


def _current_runs(item: Mapping[str, Any]) -> str:
    runs = item.get("current_runs") or item.get("runs") or []
    if not isinstance(runs, list):
        return "-"
    return ",".join(f"#{run}" for run in runs) or "-"


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@runner.command("drain")
@click.argument("runner_id")
@SERVER_OPTION
@TOKEN_OPTION
def drain_runner(runner_id: str, server: str | None, token: str | None) -> None:
    """Drain RUNNER_ID: it finishes its current run, takes no new one and exits (an admin token)."""
    with Remote.connect(_connect(server), token) as remote:
        remote.post(f"/api/runners/{runner_id}/drain")
    click.echo(f"runner {runner_id} is draining")
