"""``plue workflow list|lint|plan|match``: the workflows of a repository, from the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from plue.cli.invocation import build_event
from plue.cli.output import Output, new_table, plain, plural
from plue.cli.planning import evaluate_for
from plue.cli.render import plan_tree, summarize_triggers
from plue.plan import canonical_json
from plue.registry import Registry, WorkflowEntry

REPO_ARGUMENT = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
FILE_ARGUMENT = click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path)


@click.group()
def workflow() -> None:
    """Inspect and run the workflows (*.plue.py files) of a repository."""


@workflow.command("list")
@click.argument("repo", type=REPO_ARGUMENT, default=".")
def list_workflows(repo: Path) -> None:
    """List the workflows of REPO (default: the current directory) and their triggers."""
    out = Output()
    with Registry(repo) as registry:
        entries = registry.scan()
    if not entries:
        out.line(f"no workflow files (*.plue.py) in {repo}")
        return
    table = new_table(out, "path", "name", "triggers", "status")
    for entry in entries:
        status = plain("ok", "green") if entry.ok else plain("error", "bold red")
        table.add_row(
            plain(entry.path),
            plain(entry.name or "-"),
            plain(summarize_triggers(entry.triggers)),
            status,
        )
    out.show(table)
    broken = [entry for entry in entries if not entry.ok]
    if broken:
        out.line()
        out.line(f"{len(broken)} of {len(entries)} workflows have errors:")
        _print_problems(out, broken)


@workflow.command()
@click.argument("repo", type=REPO_ARGUMENT, default=".")
def lint(repo: Path) -> None:
    """Evaluate and validate every workflow of REPO; exit 1 if any has a problem."""
    out = Output()
    with Registry(repo) as registry:
        entries = registry.scan()
    broken = [entry for entry in entries if not entry.ok]
    _print_problems(out, broken)
    count = sum(len(entry.problems) for entry in broken)
    files = plural(len(entries), "workflow file")
    if broken:
        out.line(f"{plural(count, 'problem')} in {len(broken)} of {files}")
        raise click.exceptions.Exit(1)
    out.line(f"{files} checked, no problems")


@workflow.command()
@click.argument("file", type=FILE_ARGUMENT)
@click.option(
    "--event-name",
    "event_name",
    metavar="NAME",
    help="push, pull_request, issues, issue_comment, schedule or manual.",
)
@click.option("--event", "event_path", metavar="PAYLOAD.json", help="The event's JSON payload ('-': stdin).")
@click.option(
    "--input",
    "input_pairs",
    metavar="NAME=VALUE",
    multiple=True,
    help="A manual input (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan's canonical JSON.")
def plan(
    file: Path,
    event_name: str | None,
    event_path: str | None,
    input_pairs: Sequence[str],
    as_json: bool,
) -> None:
    """Evaluate one workflow FILE with the given event and show its plan.

    Without an event, ctx.event is None. Exit 1 if the workflow does not give a valid plan.
    """
    out = Output()
    # No disk cache: one file costs milliseconds, and FILE may lie anywhere (no .plue/ litter).
    with Registry(_root_for(file), use_cache=False) as registry:
        rel = registry.relative(file.absolute())
        result = evaluate_for(
            out, registry, rel, event_name=event_name, event_path=event_path, input_pairs=input_pairs
        ).plan
    if as_json:
        click.echo(canonical_json(result))
        return
    out.show(plan_tree(result, rel))


@workflow.command()
@click.argument("repo", type=REPO_ARGUMENT)
@click.option(
    "--event-name",
    "event_name",
    metavar="NAME",
    required=True,
    help="The event's name (X-GitHub-Event).",
)
@click.option("--event", "event_path", metavar="PAYLOAD.json", help="The event's JSON payload ('-': stdin).")
def match(repo: Path, event_name: str, event_path: str | None) -> None:
    """Show which workflows of REPO an event triggers, and why the others do not."""
    out = Output()
    event = build_event(event_name, event_path)
    if event is None:  # click makes --event-name required; this keeps the types honest
        raise click.UsageError("--event-name is required")
    with Registry(repo) as registry:
        results = registry.match(event)
    if not results:
        out.line(f"no workflow files (*.plue.py) in {repo}")
        return
    table = new_table(out, "path", "name", "runs", "why")
    for result in results:
        verdict = plain("yes", "bold green") if result.matched else plain("no", "dim")
        table.add_row(plain(result.entry.path), plain(result.entry.name or "-"), verdict, plain(result.reason))
    out.show(table)
    matched = sum(result.matched for result in results)
    out.line(f"{event.name} event: triggers {matched} of {plural(len(results), 'workflow')}")


# --- helpers ------------------------------------------------------------------


def _print_problems(out: Output, entries: Sequence[WorkflowEntry]) -> None:
    for entry in entries:
        for problem in entry.problems:
            out.line(problem)


def _root_for(file: Path) -> Path:
    """The directory messages are relative to: the current one if FILE is under it."""
    cwd = Path.cwd().resolve()
    parent = file.absolute().parent.resolve()
    return cwd if parent.is_relative_to(cwd) else parent
