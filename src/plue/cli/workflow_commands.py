"""``plue workflow list|lint|plan|match``: the workflows of a repository, from the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click
from rich import box
from rich.table import Table

from plue.cli.invocation import build_event, parse_input_pairs
from plue.cli.output import Output, plain
from plue.cli.render import plan_tree, summarize_triggers
from plue.events import EventError, build_context_data
from plue.plan import canonical_json
from plue.registry import Registry, WorkflowEntry
from plue.registry.inputs import InputError, manual_input_specs, resolve_inputs

REPO_ARGUMENT = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
FILE_ARGUMENT = click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path)


@click.group()
def workflow() -> None:
    """Inspect the workflows (*.plue.py files) of a repository."""


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
    table = _table(out, "path", "name", "triggers", "status")
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
    files = _plural(len(entries), "workflow file")
    if broken:
        out.line(f"{_plural(count, 'problem')} in {len(broken)} of {files}")
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
    given = parse_input_pairs(input_pairs)
    # No disk cache: one file costs milliseconds, and FILE may lie anywhere (no .plue/ litter).
    with Registry(_root_for(file), use_cache=False) as registry:
        rel = registry.relative(file.absolute())
        # The workflow with no event declares its schedule and manual inputs.
        event = build_event(event_name, event_path, default_cron=lambda: _first_cron(registry.load(rel)))
        bare = registry.load(rel)
        if not bare.ok:
            if event is not None:
                out.error("plue: note: a workflow must also evaluate with no event (ctx.event None)")
            _fail_with(out, bare.problems)
        inputs = _inputs(bare, given, manual=event is not None and event.name == "manual")
        if event is None and inputs is None:
            # ctx=None and an empty ctx are the same: no need to evaluate again.
            result, problems = bare.plan, bare.problems
        else:
            try:
                ctx = build_context_data(event, inputs=inputs)
            except EventError as exc:
                raise click.BadParameter(str(exc), param_hint="'--input'") from None
            result, problems = registry.evaluate_workflow(rel, ctx)
    if result is None or problems:
        _fail_with(out, problems or [f"{rel}: the file changed while being read; run the command again"])
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
    table = _table(out, "path", "name", "runs", "why")
    for result in results:
        verdict = plain("yes", "bold green") if result.matched else plain("no", "dim")
        table.add_row(plain(result.entry.path), plain(result.entry.name or "-"), verdict, plain(result.reason))
    out.show(table)
    matched = sum(result.matched for result in results)
    out.line(f"{event.name} event: triggers {matched} of {_plural(len(results), 'workflow')}")


# --- helpers ------------------------------------------------------------------


def _table(out: Output, *columns: str) -> Table:
    # Off a terminal: no box drawing, so each row is one plain line.
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print_problems(out: Output, entries: Sequence[WorkflowEntry]) -> None:
    for entry in entries:
        for problem in entry.problems:
            out.line(problem)


def _fail_with(out: Output, problems: Sequence[str]) -> NoReturn:
    for problem in problems:
        out.error(problem)
    raise click.exceptions.Exit(1)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _root_for(file: Path) -> Path:
    """The directory messages are relative to: the current one if FILE is under it."""
    cwd = Path.cwd().resolve()
    parent = file.absolute().parent.resolve()
    return cwd if parent.is_relative_to(cwd) else parent


def _first_cron(entry: WorkflowEntry) -> str | None:
    crons = [str(trigger["cron"]) for trigger in entry.triggers if trigger.get("event") == "schedule"]
    return crons[0] if crons else None


def _inputs(entry: WorkflowEntry, given: dict[str, str], *, manual: bool) -> dict[str, object] | None:
    """Typed inputs following the workflow's manual trigger; None leaves the event's own."""
    specs = manual_input_specs(entry.triggers)
    if specs is None or not (given or manual):
        return dict(given) if given else None
    try:
        return resolve_inputs(specs, given)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="'--input'") from None
