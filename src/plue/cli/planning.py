"""From a command line to a plan: evaluate one workflow file for the event and inputs it gives.

Shared by ``plue workflow plan`` (show the plan) and ``plue workflow run`` (run it), so both
see exactly the same plan for the same file, event and inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from plue.cli.invocation import build_event, parse_input_pairs
from plue.cli.output import Output
from plue.events import Event, EventError, build_context_data
from plue.registry import Registry, WorkflowEntry
from plue.registry.inputs import InputError, manual_input_specs, resolve_inputs


@dataclass(frozen=True)
class Evaluated:
    """A workflow's validated plan for one event and set of inputs."""

    path: str  # repo-relative
    plan: dict[str, Any]
    event: Event | None
    ctx: dict[str, Any]  # the ctx data the workflow saw ({"event": None, ...} when there was no event)


def evaluate_for(
    out: Output,
    registry: Registry,
    rel: str,
    *,
    event_name: str | None,
    event_path: str | None,
    input_pairs: Sequence[str],
) -> Evaluated:
    """Evaluate `rel` with the event and ``--input`` pairs of the command line.

    Problems are printed on stderr and end the command with exit code 1; a bad event
    or input is a usage error (exit code 2).
    """
    given = parse_input_pairs(input_pairs)
    # The workflow with no event declares its schedule and manual inputs.
    event = build_event(event_name, event_path, default_cron=lambda: first_cron(registry.load(rel)))
    bare = registry.load(rel)
    if not bare.ok:
        if event is not None:
            out.error("plue: note: a workflow must also evaluate with no event (ctx.event None)")
        fail_with(out, bare.problems)
    inputs = typed_inputs(bare, given, manual=event is not None and event.name == "manual")
    try:
        ctx = build_context_data(event, inputs=inputs)
    except EventError as exc:
        raise click.BadParameter(str(exc), param_hint="'--input'") from None
    if event is None and inputs is None:
        # ctx=None and an empty ctx are the same: no need to evaluate again.
        result, problems = bare.plan, bare.problems
    else:
        result, problems = registry.evaluate_workflow(rel, ctx)
    if result is None or problems:
        fail_with(out, problems or [f"{rel}: the file changed while being read; run the command again"])
    return Evaluated(rel, result, event, ctx)


def fail_with(out: Output, problems: Sequence[str]) -> NoReturn:
    for problem in problems:
        out.error(problem)
    raise click.exceptions.Exit(1)


def first_cron(entry: WorkflowEntry) -> str | None:
    crons = [str(trigger["cron"]) for trigger in entry.triggers if trigger.get("event") == "schedule"]
    return crons[0] if crons else None


def typed_inputs(entry: WorkflowEntry, given: dict[str, str], *, manual: bool) -> dict[str, object] | None:
    """Typed inputs following the workflow's manual trigger; None leaves the event's own."""
    specs = manual_input_specs(entry.triggers)
    if specs is None or not (given or manual):
        return dict(given) if given else None
    try:
        return resolve_inputs(specs, given)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="'--input'") from None
