"""``plue workflow run`` and ``plue run list|view|logs|rerun|cancel``: runs, from the terminal.

Runs are kept in the repository's store (``.plue/plue.db``, or $PLUE_DATABASE_URL).
Exit codes: 0 the run succeeded (or the command did its job); 1 the run did not
succeed (or ``run cancel`` found nothing running); 2 a usage problem (unknown run,
bad option); 130 the run was cancelled with Ctrl-C.

The commands are declared here; their work is in `plue.cli.run_actions`, imported
only when one of them runs: it needs the store (SQLAlchemy) and the engine, which
``plue workflow list`` must not pay for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

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
) -> None:
    """Run a workflow here and now, showing its steps as they go.

    FILE_OR_NAME is a *.plue.py file, or the name or path of a workflow of the repository
    (default: the git work tree of the file or of the current directory). The steps run in
    the repository's directory. Without --event-name the run is a manual one. Exit 0 if the
    run succeeds, 1 if it does not, 130 if Ctrl-C cancelled it.
    """
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
def list_runs(repo: Path | None, workflow: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first: id, workflow, status, event, start, duration."""
    from plue.cli import run_actions

    run_actions.list_runs(repo, workflow, status, limit, as_json)


@run_group.command("view", short_help="Show a run's steps, states and outputs.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def view_run(run_id: int, repo: Path | None, as_json: bool) -> None:
    """Show a run: its steps in dependency order, their states, attempts, outputs and errors."""
    from plue.cli import run_actions

    run_actions.view_run(run_id, repo, as_json)


@run_group.command("logs", short_help="Print (or follow) a run's log lines.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
@click.option("--step", "step_id", metavar="STEP", help="Only this step's lines.")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N", help="Only this attempt's lines.")
@click.option("--follow", "-f", is_flag=True, help="Wait for new lines until the run ends; exit 0 if it succeeded.")
def run_logs(run_id: int, repo: Path | None, step_id: str | None, attempt: int | None, follow: bool) -> None:
    """Print a run's log lines as `[step] text` (`[step:stderr] text` for stderr, `[step#2]` for attempt 2)."""
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
def rerun(
    run_id: int,
    repo: Path | None,
    failed: bool,
    secret_names: Sequence[str],
    max_parallel: int | None,
    llm_record: Path | None,
    llm_replay: Path | None,
) -> None:
    """Run a run's plan again with the same event and inputs, as a new run.

    With --failed, only the steps that did not succeed run again (and the steps after
    them); the others are not run: their stored outputs and exit codes are reused.
    """
    from plue.cli import run_actions

    run_actions.rerun(run_id, repo, failed, secret_names, max_parallel, run_actions.llm_options(llm_record, llm_replay))


@run_group.command("cancel", short_help="Stop a running run.")
@click.argument("run_id", type=int, metavar="RUN_ID")
@REPO_OPTION
def cancel_run(run_id: int, repo: Path | None) -> None:
    """Ask a running run to stop (its steps are killed); exit 1 if it is not running."""
    from plue.cli import run_actions

    run_actions.cancel_run(run_id, repo)
