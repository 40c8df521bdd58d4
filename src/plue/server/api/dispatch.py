"""A manual run of a repository's workflow at a ref, as `plue workflow run --input` would evaluate it.

The ref is resolved in the repository's mirror, the workflow evaluated in that commit's tree with
a `manual` event, and the inputs checked against the workflow's `Trigger.manual(inputs=...)`.
Every refusal is a `DispatchRefused` with the HTTP status to answer and one sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plue.events import EventError, build_context_data, manual_event
from plue.registry import Registry, WorkflowEntry
from plue.registry.inputs import InputError, manual_input_specs, resolve_inputs
from plue.store.records import NewRun

CACHE_DIR_NAME = "registry-cache"  # under the data dir: shared by every checked-out tree


class DispatchRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def registry_for(tree: Path, data_dir: Path) -> Registry:
    return Registry(tree, cache_dir=data_dir / CACHE_DIR_NAME)


def find_workflow(entries: list[WorkflowEntry], target: str) -> WorkflowEntry:
    """The workflow `target` names: its path, file name, file stem or name (any case)."""
    found = [entry for entry in entries if _names(entry, target)]
    if len(found) == 1:
        return found[0]
    if found:
        paths = ", ".join(entry.path for entry in found)
        raise DispatchRefused(409, f"{target!r} could be any of {paths}: give the path")
    known = ", ".join(entry.path for entry in entries) or "none"
    raise DispatchRefused(404, f"no workflow named {target!r} (workflows: {known})")


def _names(entry: WorkflowEntry, target: str) -> bool:
    base = entry.path.rsplit("/", 1)[-1]
    return target in (entry.path, base, base.removesuffix(".plue.py")) or (entry.name or "").lower() == target.lower()


def input_text(value: Any) -> str:
    """A JSON input value as the text `--input k=v` would give (typed again by `resolve_inputs`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise InputError(f"input values are strings, numbers or booleans, not {type(value).__name__}")


def manual_run(
    registry: Registry,
    target: str,
    *,
    repository: str,
    default_branch: str,
    ref: str,
    sha: str,
    given: Mapping[str, Any],
) -> NewRun:
    """The run to queue for a dispatch of `target` at `ref` (= `sha`), evaluated in the registry's tree."""
    entry = find_workflow(registry.scan(), target)
    if not entry.ok:
        raise DispatchRefused(422, f"workflow {entry.path} cannot run: {'; '.join(entry.problems)}")
    specs = manual_input_specs(entry.triggers)
    if specs is None:
        raise DispatchRefused(422, f"workflow {entry.path} has no manual trigger: add Trigger.manual() to run it")
    try:
        inputs = resolve_inputs(specs, {name: input_text(value) for name, value in given.items()})
        event = manual_event(inputs, ref=ref, sha=sha, repository=repository, default_branch=default_branch)
        ctx = build_context_data(event, inputs=inputs)
    except (InputError, EventError) as exc:
        raise DispatchRefused(422, str(exc)) from None
    plan, problems = registry.evaluate_workflow(entry.path, ctx)
    if plan is None or problems:
        raise DispatchRefused(422, "; ".join(problems) or f"{entry.path} changed while being read; try again")
    return NewRun.from_plan(
        entry.path,
        plan,
        event_name="manual",
        event=ctx["event"],
        inputs=ctx["inputs"],
        repository=repository,
        sha=sha,
        ref=event.ref,
        branch=event.branch,
    )
