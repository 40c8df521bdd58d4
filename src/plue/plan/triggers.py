"""`Trigger`: when a workflow runs (push, pull request, issue, comment, schedule, manual)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from plue.plan.arguments import (
    CONSTRUCT,
    INPUT_NAME_RE,
    PlanError,
    api,
    choice_list,
    optional_str,
    optional_str_list,
    plain_copy,
    require_str,
    shown,
    str_list,
    type_name,
)

PULL_REQUEST_TYPES = (
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "opened",
    "edited",
    "closed",
    "reopened",
    "synchronize",
    "converted_to_draft",
    "ready_for_review",
    "locked",
    "unlocked",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "milestoned",
    "demilestoned",
    "enqueued",
    "dequeued",
)
DEFAULT_PULL_REQUEST_TYPES = ("opened", "synchronize", "reopened")
ISSUE_TYPES = (
    "opened",
    "edited",
    "deleted",
    "transferred",
    "pinned",
    "unpinned",
    "closed",
    "reopened",
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "locked",
    "unlocked",
    "milestoned",
    "demilestoned",
    "typed",
    "untyped",
)
ISSUE_COMMENT_TYPES = ("created", "edited", "deleted")
DEFAULT_ISSUE_COMMENT_TYPES = ("created",)
MANUAL_INPUT_TYPES = ("string", "boolean", "number", "choice")
_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "choice": (str,),
}


def check_cron(cron: object, call: str) -> str:
    # croniter is pure computation (no files), so it is safe inside the sandbox.
    from croniter import croniter

    expression = require_str(cron, f"{call}: cron")
    fields = expression.split()
    if len(fields) != 5:
        raise PlanError(
            f"{call}: cron '{expression[:60]}' must have 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    if not croniter.is_valid(expression):
        raise PlanError(f"{call}: cron '{expression[:60]}' is not a valid cron expression")
    return " ".join(fields)


def manual_inputs(value: object, call: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PlanError(f"{call}: inputs must be a dict of name: spec, not {type_name(value)}")
    specs: dict[str, Any] = {}
    for name, raw in value.items():
        if type(name) is not str or not INPUT_NAME_RE.match(name):
            raise PlanError(f"{call}: {shown(name)} is not a valid input name")
        where = f"{call}: input '{name}'"
        if type(raw) is not dict:
            # Shorthand: a plain default value.
            raw = {"default": raw}
        unknown = set(raw) - {"type", "description", "required", "default", "options"}
        if unknown:
            raise PlanError(
                f"{where}: unknown key '{sorted(unknown)[0]}' (accepted: type, description, required, default, options)"
            )
        default = plain_copy(raw.get("default"), f"{where}: default")
        input_type = raw.get("type")
        if input_type is None:
            input_type = {bool: "boolean", int: "number", float: "number"}.get(type(default), "string")
            if raw.get("options") is not None:
                input_type = "choice"
        if input_type not in MANUAL_INPUT_TYPES:
            raise PlanError(f"{where}: type must be one of {', '.join(MANUAL_INPUT_TYPES)}")
        options = raw.get("options")
        if input_type == "choice":
            options = str_list(options, f"{where}: options") if options is not None else None
            if not options:
                raise PlanError(f"{where}: a choice input needs options=[...]")
            if default is not None and default not in options:
                raise PlanError(f"{where}: default {default!r} is not one of the options")
        elif options is not None:
            raise PlanError(f"{where}: options are only for type 'choice'")
        if default is not None and type(default) not in _DEFAULT_TYPES[input_type]:
            raise PlanError(f"{where}: default must be a {input_type}, not {type_name(default)}")
        required = raw.get("required", False)
        if type(required) is not bool:
            raise PlanError(f"{where}: required must be True or False")
        specs[name] = {
            "type": input_type,
            "description": optional_str(raw.get("description"), f"{where}: description"),
            "required": required,
            "default": default,
            "options": options,
        }
    return specs


class Trigger:
    """When a workflow runs. Build it with the `Trigger.on_*` and `Trigger.manual` constructors."""

    __slots__ = ("_data",)
    _data: dict[str, Any]
    _public_attrs = frozenset(
        {
            "on_push",
            "on_pull_request",
            "on_issue",
            "on_issue_comment",
            "on_schedule",
            "manual",
            "event",
        }
    )

    def __init__(self, data: dict[str, Any], token: object = None) -> None:
        if token is not CONSTRUCT:
            raise PlanError("make triggers with Trigger.on_push(...), Trigger.on_schedule(...), etc.")
        object.__setattr__(self, "_data", data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Trigger objects are read-only")

    def __repr__(self) -> str:
        return f"Trigger({self._data['event']!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Trigger and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data["event"])

    @property
    def event(self) -> str:
        return str(self._data["event"])

    def to_data(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))  # type: ignore[no-any-return]

    @classmethod
    @api("Trigger.on_push")
    def on_push(
        cls,
        branch: str | Sequence[str] | None = None,
        *,
        branches: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        paths: str | Sequence[str] | None = None,
    ) -> Trigger:
        """A push. `branch`/`tags` are names or globs (`*`, `**`, `!` to exclude); `paths` filters changed files.

        As in GitHub Actions: with only `branch`, tag pushes do not match; with only
        `tags`, branch pushes do not match; with neither, every push matches.
        """
        call = "Trigger.on_push()"
        if branch is not None and branches is not None:
            raise PlanError(f"{call}: give branch=... or branches=..., not both")
        return new_trigger(
            {
                "event": "push",
                "branches": optional_str_list(branch if branch is not None else branches, f"{call}: branch"),
                "tags": optional_str_list(tags, f"{call}: tags"),
                "paths": optional_str_list(paths, f"{call}: paths"),
            }
        )

    @classmethod
    @api("Trigger.on_pull_request")
    def on_pull_request(
        cls,
        types: str | Sequence[str] | None = None,
        *,
        branches: str | Sequence[str] | None = None,
        paths: str | Sequence[str] | None = None,
    ) -> Trigger:
        """A pull request activity (default types: opened, synchronize, reopened).

        `branches` filters the base branch; `paths` the changed files.
        """
        call = "Trigger.on_pull_request()"
        return new_trigger(
            {
                "event": "pull_request",
                "types": choice_list(types, f"{call}: types", PULL_REQUEST_TYPES, DEFAULT_PULL_REQUEST_TYPES),
                "branches": optional_str_list(branches, f"{call}: branches"),
                "paths": optional_str_list(paths, f"{call}: paths"),
            }
        )

    @classmethod
    @api("Trigger.on_issue")
    def on_issue(
        cls,
        types: str | Sequence[str] | None = None,
        *,
        labels: str | Sequence[str] | None = None,
    ) -> Trigger:
        """An issue activity (default: every type); `labels` matches issues carrying any of them."""
        call = "Trigger.on_issue()"
        return new_trigger(
            {
                "event": "issues",
                "types": choice_list(types, f"{call}: types", ISSUE_TYPES, None),
                "labels": optional_str_list(labels, f"{call}: labels"),
            }
        )

    @classmethod
    @api("Trigger.on_issue_comment")
    def on_issue_comment(
        cls,
        contains: str | None = None,
        *,
        types: str | Sequence[str] | None = None,
    ) -> Trigger:
        """A comment on an issue or pull request (default type: created), optionally containing some text."""
        call = "Trigger.on_issue_comment()"
        return new_trigger(
            {
                "event": "issue_comment",
                "types": choice_list(types, f"{call}: types", ISSUE_COMMENT_TYPES, DEFAULT_ISSUE_COMMENT_TYPES),
                "contains": optional_str(contains, f"{call}: contains"),
            }
        )

    @classmethod
    @api("Trigger.on_schedule")
    def on_schedule(cls, cron: str, *, tz: str | None = None) -> Trigger:
        """A 5-field cron schedule (minute hour day month weekday), in UTC unless `tz` names a time zone."""
        call = "Trigger.on_schedule()"
        return new_trigger(
            {
                "event": "schedule",
                "cron": check_cron(cron, call),
                "tz": require_str(tz, f"{call}: tz") if tz is not None else "UTC",
            }
        )

    @classmethod
    @api("Trigger.manual")
    def manual(cls, inputs: Mapping[str, object] | None = None) -> Trigger:
        """A run started by hand. `inputs` maps names to a default value or a spec dict
        (type: string/boolean/number/choice, description, required, default, options)."""
        return new_trigger({"event": "manual", "inputs": manual_inputs(inputs, "Trigger.manual()")})


def new_trigger(data: dict[str, Any]) -> Trigger:
    return Trigger(data, CONSTRUCT)
