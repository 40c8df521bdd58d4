"""``plue workflow run`` and ``plue run list|view|logs|rerun|cancel``: runs, from the terminal.

Runs are kept in the repository's store (``.plue/plue.db``, or $PLUE_DATABASE_URL), or on a
Plue server: with ``--server URL`` (or $PLUE_SERVER) and ``--token`` (or $PLUE_TOKEN) the ``plue
run`` commands use its API (`plue.cli.remote_actions`), and ``plue workflow run NAME --server URL
--repository owner/name`` dispatches a manual run there.
Exit codes: 0 the run succeeded (or the command did its job); 1 the run did not
succeed (or ``run cancel`` found nothing running); 2 a usage problem (unknown run,
bad option); 130 the run was cancelled with Ctrl-C.

The commands are declared here; their work is in `plue.cli.run_actions`, imported
only when one of them runs: it needs the store (SQLAlchemy) and the engine, which
``plue workflow list`` must not pay for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from plue.cli.remote import Remote

RUN_STATUSES = ("queued", "running", "success", "failed", "cancelled", "interrupted")

REPO_OPTION = click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path),
    help="The repository (default: the git work tree of the current directory, else the directory itself).",
)
SECRET_OPTION = click.option(
    "--secret",
    "secret_names",
    metavar="NAME",
    multiple=True,
    help="Give the steps this secret, from the environment or else the repository's .env (repeatable).",
)
MAX_PARALLEL_OPTION = click.option(
    "--max-parallel", type=click.IntRange(min=1), metavar="N", help="Run at most N steps at once."
)
LLM_RECORD_OPTION = click.option(
    "--llm-record",
    "llm_record",
    type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
    metavar="DIR",
    help="Record every LLM exchange of llm steps into DIR (DIR/<step>/NNN.json).",
)
LLM_REPLAY_OPTION = click.option(
    "--llm-replay",
    "llm_replay",
    type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path),
    metavar="DIR",
    help="Answer llm steps from recordings in DIR: no network, no API key.",
)
SERVER_OPTION = click.option(
    "--server",
    metavar="URL",
    envvar="PLUE_SERVER",
    help="Use this Plue server's API instead of the local store (default: $PLUE_SERVER).",
)
TOKEN_OPTION = click.option(
    "--token", metavar="TOKEN", envvar="PLUE_TOKEN", help="The server's API token (default: $PLUE_TOKEN)."
)
NO_FOLLOW_OPTION = click.option(
    "--no-follow", is_flag=True, help="With a server: queue the run and print its id, without following it."
)


def connect(server: str | None, token: str | None, repo: Path | None = None) -> Remote | None:
    """The server to talk to, or None for the local store."""
    if not server:
        return None
    if repo is not None:
        raise click.UsageError("--repo names a local store; it cannot be used with a server (--server, $PLUE_SERVER)")
    from plue.cli.remote import Remote

    return Remote.connect(server, token)


@click.command("run")
@click.argument("target", metavar="FILE_OR_NAME")
@REPO_OPTION
@click.option("--event-name", "event_name", metavar="NAME", help="The event (default: manual).")
@click.option("--event", "event_path", metavar="PAYLOAD.json", help="The event's JSON payload ('-': stdin).")
@click.option("--input", "input_pairs", metavar="NAME=VALUE", multiple=True, help="A manual input (repeatable).")
@SECRET_OPTION
@MAX_PARALLEL_OPTION
@LLM_RECORD_OPTION
@LLM_REPLAY_OPTION
@click.option("--server", metavar="URL", help="Dispatch the run to this Plue server instead of running it here.")
@click.option(
    "--repository", metavar="OWNER/NAME", help="The server's repository (the server is --server, else $PLUE_SERVER)."
)
@click.option("--ref", metavar="REF", help="With a server: the branch or ref to run (default: the default branch).")
@TOKEN_OPTION
@NO_FOLLOW_OPTION
def run_workflow(
    target: str,
    repo: Path | None,
    event_name: str | None,
    event_path: str | None,
    input_pairs: Sequence[str],
    secret_names: Sequence[str],
    max_parallel: int | None,
    llm_record: Path | None,
    llm_replay: Path | None,
    server: str | None,
    repository: str | None,
    ref: str | None,
    token: str | None,
    no_follow: bool,
) -> None:
    """Run a workflow here and now, showing its steps as they go.

    FILE_OR_NAME is a *.plue.py file, or the name or path of a workflow of the repository
    (default: the git work tree of the file or of the current directory). The steps run in
    the repository's directory. Without --event-name the run is a manual one. Exit 0 if the
    run succeeds, 1 if it does not, 130 if Ctrl-C cancelled it.

    With --server (or --repository and $PLUE_SERVER), the server runs the workflow of its
    repository at --ref instead: a manual run with the --input values, followed until it ends
    (unless --no-follow).
    """
    if server or repository:
        from plue.cli import remote_actions
        from plue.cli.invocation import parse_input_pairs

        remote_actions.refuse_local_options(
            repo=repo, event_name=event_name, event=event_path, secret=secret_names, max_parallel=max_parallel
        )
        remote_actions.refuse_local_options(llm_record=llm_record, llm_replay=llm_replay)
        address = server or os.environ.get("PLUE_SERVER")
        if not address:
            raise click.UsageError("--repository needs a server: pass --server URL or set PLUE_SERVER")
        if not repository:
            raise click.UsageError("running on a server needs --repository OWNER/NAME")
        remote = connect(address, token)
        assert remote is not None
        with remote:
            remote_actions.dispatch(remote, repository, target, ref, parse_input_pairs(input_pairs), not no_follow)
        return
    if ref or no_follow:
        raise click.UsageError(f"{'--ref' if ref else '--no-follow'} is for a run on a server (--server URL)")
    from plue.cli import run_actions

    llm = run_actions.llm_options(llm_record, llm_replay)
    run_actions.run_workflow(target, repo, event_name, event_path, input_pairs, secret_names, max_parallel, llm)


@click.group("run")
def run_group() -> None:
    """List, view, follow, rerun and cancel the runs of a repository."""


@run_group.command("list", short_help="List runs, newest first.")
@REPO_OPTION
@click.option("--workflow", "workflow", metavar="W", help="Only runs of this workflow (name or path).")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this state.")
@click.option("--limit", "-L", type=click.IntRange(min=1), default=20, show_default=True, help="At most N runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@SERVER_OPTION
@TOKEN_OPTION
def list_runs(
    repo: Path | None,
    workflow: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    server: str | None,
    token: str | None,
) -> None:
    """List runs, newest first: id, workflow, status, event, start, duration."""
    remote = connect(server, token, repo)
    if remote is not None:
        from plue.cli import remote_actions

        with remote:
            remote_actions.list_runs(remote, workflow, status, limit, as_json)
        return
    from plue.cli import run_actions

    run_actions.list_runs(repo, workflow, status, limit, as_json)


@run_group.command("view", short_help="Show a run's steps, states and outputs.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@SERVER_OPTION
@TOKEN_OPTION
def view_run(run_id: int, repo: Path | None, as_json: bool, server: str | None, token: str | None) -> None:
    """Show a run: its steps in dependency order, their states, attempts, outputs and errors."""
    remote = connect(server, token, repo)
    if remote is not None:
        from plue.cli import remote_actions

        with remote:
            remote_actions.view_run(remote, run_id, as_json)
        return
    from plue.cli import run_actions

    run_actions.view_run(run_id, repo, as_json)


@run_group.command("logs", short_help="Print (or follow) a run's log lines.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@click.option("--step", "step_id", metavar="STEP", help="Only this step's lines.")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N", help="Only this attempt's lines.")
@click.option("--follow", "-f", is_flag=True, help="Wait for new lines until the run ends; exit 0 if it succeeded.")
@SERVER_OPTION
@TOKEN_OPTION
def run_logs(
    run_id: int,
    repo: Path | None,
    step_id: str | None,
    attempt: int | None,
    follow: bool,
    server: str | None,
    token: str | None,
) -> None:
    """Print a run's log lines as `[step] text` (`[step:stderr] text` for stderr, `[step#2]` for attempt 2)."""
    remote = connect(server, token, repo)
    if remote is not None:
        from plue.cli import remote_actions

        with remote:
            remote_actions.run_logs(remote, run_id, step_id, attempt, follow)
        return
    from plue.cli import run_actions

    run_actions.run_logs(run_id, repo, step_id, attempt, follow)


@run_group.command("rerun", short_help="Run a run's plan again.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@click.option("--failed", is_flag=True, help="Run only the steps that did not succeed; reuse the others' outputs.")
@SECRET_OPTION
@MAX_PARALLEL_OPTION
@LLM_RECORD_OPTION
@LLM_REPLAY_OPTION
@SERVER_OPTION
@TOKEN_OPTION
@NO_FOLLOW_OPTION
def rerun(
    run_id: int,
    repo: Path | None,
    failed: bool,
    secret_names: Sequence[str],
    max_parallel: int | None,
    llm_record: Path | None,
    llm_replay: Path | None,
    server: str | None,
    token: str | None,
    no_follow: bool,
) -> None:
    """Run a run's plan again with the same event and inputs, as a new run.

    With --failed, only the steps that did not succeed run again (and the steps after
    them); the others are not run: their stored outputs and exit codes are reused.
    With a server, the server runs it; it is followed until it ends (unless --no-follow).
    """
    remote = connect(server, token, repo)
    if remote is not None:
        from plue.cli import remote_actions

        remote_actions.refuse_local_options(secret=secret_names, max_parallel=max_parallel)
        remote_actions.refuse_local_options(llm_record=llm_record, llm_replay=llm_replay)
        with remote:
            remote_actions.rerun(remote, run_id, failed, not no_follow)
        return
    if no_follow:
        raise click.UsageError("--no-follow is for a run on a server (--server URL)")
    from plue.cli import run_actions

    run_actions.rerun(run_id, repo, failed, secret_names, max_parallel, run_actions.llm_options(llm_record, llm_replay))


@run_group.command("cancel", short_help="Stop a running run.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@SERVER_OPTION
@TOKEN_OPTION
def cancel_run(run_id: int, repo: Path | None, server: str | None, token: str | None) -> None:
    """Ask a running run to stop (its steps are killed); exit 1 if it is not running."""
    remote = connect(server, token, repo)
    if remote is not None:
        from plue.cli import remote_actions

        with remote:
            remote_actions.cancel_run(remote, run_id)
        return
    from plue.cli import run_actions

    run_actions.cancel_run(run_id, repo)
