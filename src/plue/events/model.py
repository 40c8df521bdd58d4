"""The event model: what started a run (a GitHub webhook, a schedule, a manual run) and the
plain data workflow code sees as ``ctx.event``. Parsing lives in `github` (webhooks, via
`payloads`) and `synthetic` (schedules, manual runs)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from plue.events.errors import EventError, quote, type_name
from plue.events.payloads import plain_inputs

GITHUB_EVENTS = ("push", "pull_request", "issues", "issue_comment")
EVENT_NAMES = (*GITHUB_EVENTS, "schedule", "manual")

LABEL_ACTIONS = ("labeled", "unlabeled")


# --- the model -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PullRequestInfo:
    """The parts of a pull request that workflows and triggers use."""

    number: int
    title: str
    base_ref: str  # branch name, e.g. "main"
    base_sha: str
    head_ref: str  # branch name in the head repository (which may be a fork)
    head_sha: str
    draft: bool = False
    merged: bool = False
    state: str = "open"

    def to_data(self) -> dict[str, Any]:
        """The ``ctx.event.pull_request`` data."""
        return {
            "number": self.number,
            "title": self.title,
            "base": {"ref": self.base_ref, "sha": self.base_sha},
            "head": {"ref": self.head_ref, "sha": self.head_sha},
            "draft": self.draft,
            "merged": self.merged,
            "state": self.state,
        }


@dataclass(frozen=True, kw_only=True)
class IssueInfo:
    """The parts of an issue that workflows and triggers use."""

    number: int
    title: str
    state: str = "open"
    is_pull_request: bool = False  # issue_comment also fires for comments on pull requests

    def to_data(self) -> dict[str, Any]:
        """The ``ctx.event.issue`` data."""
        return {
            "number": self.number,
            "title": self.title,
            "state": self.state,
            "is_pull_request": self.is_pull_request,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that may start workflow runs. Build it with `parse_event`,
    `schedule_event` or `manual_event`.

    `ref` is the ref whose code runs: the pushed ref; ``refs/pull/N/head`` for a pull
    request; the default branch for issues, comments and schedules (as on GitHub).
    `branch`/`tag` are the short names of a ``refs/heads/``/``refs/tags/`` ref; a pull
    request has ``branch=None`` (its head may be a fork's branch of any name: use
    ``pull_request.head_ref``). `sha` is the commit to run, None when GitHub gives none
    (issues, comments, schedules, deletions). `labels` are the labels after the action.
    `changed_files` is None when unknown.
    """

    name: str
    action: str | None = None
    ref: str | None = None
    branch: str | None = None
    tag: str | None = None
    sha: str | None = None
    actor: str | None = None
    repository: str | None = None
    default_branch: str | None = None
    labels: tuple[str, ...] = ()
    changed_files: tuple[str, ...] | None = None
    pull_request: PullRequestInfo | None = None
    issue: IssueInfo | None = None
    comment_body: str | None = None
    deleted: bool = False
    forced: bool = False
    created: bool = False
    label: str | None = None
    schedule: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict, hash=False)
    payload: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in EVENT_NAMES:
            raise EventError(f"event name {quote(self.name, 40)} is not one of: {', '.join(EVENT_NAMES)}")

    def with_changed_files(self, files: Iterable[str] | None) -> Event:
        """A copy with `changed_files` set, e.g. from the pull request files API or a git diff."""
        if files is None:
            return replace(self, changed_files=None)
        if isinstance(files, str):
            raise EventError("changed files must be a list of paths, not a string")
        paths = []
        for path in files:
            if type(path) is not str or not path:
                raise EventError(f"changed files: {quote(path)} is not a path")
            paths.append(path)
        return replace(self, changed_files=tuple(sorted(set(paths))))

    def to_context_data(self, *, share: bool = False) -> dict[str, Any]:
        """The plain JSON data workflow code sees as ``ctx.event``: a fresh copy, or with `share` one that
        shares the payload and inputs with this event (cheaper, for a caller that never changes them)."""
        copy_of = _shared if share else copy.deepcopy
        return {
            "name": self.name,
            "action": self.action,
            "ref": self.ref,
            "branch": self.branch,
            "tag": self.tag,
            "sha": self.sha,
            "actor": self.actor,
            "repository": self.repository,
            "default_branch": self.default_branch,
            "labels": list(self.labels),
            "changed_files": None if self.changed_files is None else list(self.changed_files),
            "pull_request": None if self.pull_request is None else self.pull_request.to_data(),
            "issue": None if self.issue is None else self.issue.to_data(),
            "comment_body": self.comment_body,
            "deleted": self.deleted,
            "forced": self.forced,
            "label": self.label,
            "schedule": self.schedule,
            "inputs": copy_of(self.inputs),
            "payload": copy_of(self.payload),
        }


def _shared(value: Any) -> Any:
    return value


def build_context_data(
    event: Event | None,
    inputs: Mapping[str, Any] | None = None,
    repo: Mapping[str, Any] | None = None,
    *,
    share: bool = False,
) -> dict[str, Any]:
    """The data behind a workflow's ``ctx``: ``{"event", "inputs", "repo"}``.

    `inputs` default to a manual event's inputs; `repo` (keys ``name``,
    ``default_branch``) defaults to the event's repository and default branch.
    With `share`, the event's payload is not copied (see `Event.to_context_data`).
    """
    if event is not None and not isinstance(event, Event):
        raise EventError(f"event must be an Event or None, not {type(event).__name__}")
    if inputs is None:
        inputs = event.inputs if event is not None else {}
    repo_data = {
        "name": event.repository if event is not None else None,
        "default_branch": event.default_branch if event is not None else None,
    }
    if repo is not None:
        repo_data.update(repo_overrides(repo))
    return {
        "event": None if event is None else event.to_context_data(share=share),
        "inputs": plain_inputs(inputs, "inputs"),
        "repo": repo_data,
    }


def repo_overrides(repo: Mapping[str, Any]) -> dict[str, str | None]:
    if not isinstance(repo, Mapping):
        raise EventError(f"repo must be a mapping, not {type(repo).__name__}")
    unknown = sorted(str(key) for key in repo if key not in ("name", "default_branch"))
    if unknown:
        raise EventError(f"repo: unknown key {quote(unknown[0])} (accepted: name, default_branch)")
    values: dict[str, str | None] = {}
    for key, value in repo.items():
        if value is not None and type(value) is not str:
            raise EventError(f"repo: {key} must be a string or None, not {type_name(value)}")
        values[key] = value
    return values
