"""The authoring API — ``Plan``, ``Step``, ``Trigger`` — and the plan's JSON form.

Workflow files build plans with these classes inside the sandbox, so every
constructor checks its arguments and fails with a `PlanError` that names the
call and says what to do. Objects are immutable: each holds its canonical
plain data (str/int/bool/None/list/dict), which is exactly what goes into the
plan JSON.

The JSON form of a plan is documented by ``docs/plan.schema.json``; its
canonical bytes (sorted keys, compact, UTF-8) give the content hash.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

PLAN_FORMAT_VERSION = 1

STEP_ID_PATTERN = r"[a-z0-9][a-z0-9_-]*"
STEP_ID_RE = re.compile(STEP_ID_PATTERN + r"\Z")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
INPUT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")

STEP_TYPES = ("bash", "python", "llm")
WHEN_VALUES = ("on_success", "always", "on_failure")

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

# Bounds that keep a plan a reasonable size for a human-written workflow.
MAX_RETRIES = 100
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


# Only the checked constructors hold this token: `Step({...})` with a hand-made dict is refused.
_CONSTRUCT = object()


class PlanError(ValueError):
    """A plan was built with wrong arguments; the message says what to fix."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _api(qualname: str) -> Callable[[_F], _F]:
    """Turn argument-binding `TypeError`s into `PlanError`s naming the call.

    Python's own messages mention positional counts and internals; authors need
    the call name, the wrong argument, and the accepted ones.
    """

    def decorate(func: _F) -> _F:
        signature = inspect.signature(func)
        params = [p for p in signature.parameters if p not in ("cls", "self")]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except TypeError as exc:
                # Only a binding error has no frame below this one; others are real errors.
                if exc.__traceback__ is None or exc.__traceback__.tb_next is not None:
                    raise
                text = str(exc)
            missing = re.search(
                r"missing (?:\d+ )?required (?:positional |keyword-only )?"
                r"arguments?: '(\w+)'",
                text,
            )
            unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
            accepted = ", ".join(params)
            if missing:
                raise PlanError(f"{qualname}(): missing required argument '{missing.group(1)}'")
            if unexpected:
                raise PlanError(f"{qualname}(): unknown argument '{unexpected.group(1)}' (accepted: {accepted})")
            if "positional argument" in text:
                raise PlanError(
                    f"{qualname}(): too many positional arguments; pass options by name (accepted: {accepted})"
                )
            raise PlanError(f"{qualname}(): {text.split('() ', 1)[-1]}")

        return wrapper  # type: ignore[return-value]

    return decorate


# --- argument normalisers -------------------------------------------------


def _type_name(value: object) -> str:
    return type(value).__name__


def _require_str(value: object, what: str, *, empty_ok: bool = False) -> str:
    if type(value) is not str:
        raise PlanError(f"{what} must be a string, not {_type_name(value)}")
    if not empty_ok and not value.strip():
        raise PlanError(f"{what} must not be empty")
    return value


def _optional_str(value: object, what: str) -> str | None:
    return None if value is None else _require_str(value, what)


def _str_list(value: object, what: str) -> list[str]:
    """A name, a glob, or a list of them -> list of strings."""
    if type(value) is str:
        return [_require_str(value, what)]
    if type(value) in (list, tuple):
        items = [_require_str(item, f"each item of {what}") for item in value]  # type: ignore[attr-defined]
        if not items:
            raise PlanError(f"{what} must not be an empty list; leave it out to match everything")
        return items
    raise PlanError(f"{what} must be a string or a list of strings, not {_type_name(value)}")


def _optional_str_list(value: object, what: str) -> list[str] | None:
    return None if value is None else _str_list(value, what)


def _choice_list(value: object, what: str, allowed: Sequence[str], default: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None if default is None else list(default)
    items = _str_list(value, what)
    for item in items:
        if item not in allowed:
            raise PlanError(f"{what}: unknown type '{item}' (expected one of: {', '.join(allowed)})")
    return _dedupe(items)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _duration(value: object, what: str) -> int | None:
    """Whole seconds, or a duration such as '90s', '5m', '1h30m' -> seconds."""
    if value is None:
        return None
    if type(value) is int:
        seconds = value
    elif type(value) is str:
        match = DURATION_RE.match(value.strip())
        if not value.strip() or match is None:
            raise PlanError(f"{what}: '{value[:40]}' is not a duration (use seconds, or e.g. '90s', '5m', '1h30m')")
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise PlanError(f"{what} must be whole seconds or a duration like '5m', not {_type_name(value)}")
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise PlanError(f"{what} must be between 1 second and 7 days, got {seconds}s")
    return seconds


def _env(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PlanError(f"{what} must be a dict of NAME: value, not {_type_name(value)}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if type(key) is not str or not ENV_NAME_RE.match(key):
            raise PlanError(f"{what}: '{str(key)[:40]}' is not a valid variable name (letters, digits, _)")
        if type(item) is str:
            env[key] = item
        elif type(item) is bool:
            env[key] = "true" if item else "false"
        elif type(item) is int:
            env[key] = str(item)
        else:
            raise PlanError(f"{what}['{key}'] must be a string, int or bool, not {_type_name(item)}")
    return env


def _plain(value: object, what: str, depth: int = 0) -> Any:
    """Copy JSON-like data exactly (str/int/bool/None/finite float/list/dict)."""
    if depth > 32:
        raise PlanError(f"{what} is nested too deeply (more than 32 levels)")
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise PlanError(f"{what} contains a non-finite number")
        return value
    if kind in (list, tuple):
        return [_plain(item, what, depth + 1) for item in value]  # type: ignore[attr-defined]
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise PlanError(f"{what} has a non-string key ({_type_name(key)}); use string keys")
            out[key] = _plain(item, what, depth + 1)
        return out
    raise PlanError(f"{what} must hold only strings, numbers, booleans, None, lists and dicts, not {kind.__name__}")


def _step_ids(value: object, what: str) -> list[str]:
    if value is None:
        return []
    raw: Any = [value] if type(value) in (str, Step) else value
    if type(raw) not in (list, tuple):
        raise PlanError(f"{what} must be a step id, a Step, or a list of them, not {_type_name(value)}")
    ids: list[str] = []
    for item in raw:
        step_id = item.id if type(item) is Step else _require_str(item, f"each item of {what}")
        if step_id in ids:
            raise PlanError(f"{what} lists '{step_id}' twice")
        ids.append(step_id)
    return ids


def _check_step_id(step_id: object, call: str) -> str:
    step_id = _require_str(step_id, f"{call}: the step id")
    if not STEP_ID_RE.match(step_id):
        raise PlanError(
            f"{call}: step id '{step_id[:60]}' is invalid; use lowercase letters, digits, '-' and '_',"
            " starting with a letter or digit"
        )
    return step_id


# --- Step -----------------------------------------------------------------


class Step:
    """One node of the plan's DAG. Build it with `Step.bash`, `Step.python` or `Step.llm`."""

    __slots__ = ("_data",)
    _data: dict[str, Any]
    _public_attrs = frozenset(
        {
            "bash",
            "python",
            "llm",
            "id",
            "type",
            "depends_on",
            "env",
            "when",
            "timeout",
            "retries",
            "name",
        }
    )

    def __init__(self, data: dict[str, Any], token: object = None) -> None:
        if token is not _CONSTRUCT:
            raise PlanError("make steps with Step.bash(...), Step.python(...) or Step.llm(...)")
        object.__setattr__(self, "_data", data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Step objects are read-only")

    def __repr__(self) -> str:
        return f"Step.{self._data['type']}({self._data['id']!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Step and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data["id"])

    @property
    def id(self) -> str:
        return str(self._data["id"])

    @property
    def type(self) -> str:
        return str(self._data["type"])

    @property
    def name(self) -> str | None:
        return self._data["name"]  # type: ignore[no-any-return]

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(self._data["depends_on"])

    @property
    def env(self) -> dict[str, str]:
        return dict(self._data["env"])

    @property
    def when(self) -> str:
        return str(self._data["when"])

    @property
    def timeout(self) -> int | None:
        return self._data["timeout"]  # type: ignore[no-any-return]

    @property
    def retries(self) -> int:
        return int(self._data["retries"])

    def to_data(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))  # type: ignore[no-any-return]

    @staticmethod
    def _common(
        call: str,
        step_type: str,
        step_id: object,
        depends_on: object,
        env: object,
        timeout: object,
        retries: object,
        backoff: object,
        when: object,
        name: object,
    ) -> dict[str, Any]:
        step_id = _check_step_id(step_id, call)
        call = f"{call[:-2]}({step_id!r})" if call.endswith("()") else call
        if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
            raise PlanError(f"{call}: retries must be a whole number from 0 to {MAX_RETRIES}")
        if when not in WHEN_VALUES:
            raise PlanError(f"{call}: when must be one of {', '.join(WHEN_VALUES)}, not {str(when)[:40]!r}")
        return {
            "id": step_id,
            "type": step_type,
            "name": _optional_str(name, f"{call}: name"),
            "depends_on": _step_ids(depends_on, f"{call}: depends_on"),
            "env": _env(env, f"{call}: env"),
            "timeout": _duration(timeout, f"{call}: timeout"),
            "retries": retries,
            "retry_backoff": _duration(backoff, f"{call}: backoff") or 1,
            "when": when,
        }

    @classmethod
    @_api("Step.bash")
    def bash(
        cls,
        id: str,
        cmd: str,
        *,
        depends_on: object = None,
        env: Mapping[str, object] | None = None,
        timeout: int | str | None = None,
        retries: int = 0,
        backoff: int | str | None = None,
        when: str = "on_success",
        name: str | None = None,
    ) -> Step:
        """A shell step: `cmd` runs with `bash -eo pipefail -c` in the run's workspace."""
        data = Step._common("Step.bash()", "bash", id, depends_on, env, timeout, retries, backoff, when, name)
        data["cmd"] = _require_str(cmd, f"Step.bash({data['id']!r}): cmd")
        return cls(data, _CONSTRUCT)

    @classmethod
    @_api("Step.python")
    def python(
        cls,
        id: str,
        script: str | None = None,
        *,
        file: str | None = None,
        depends_on: object = None,
        env: Mapping[str, object] | None = None,
        timeout: int | str | None = None,
        retries: int = 0,
        backoff: int | str | None = None,
        when: str = "on_success",
        name: str | None = None,
    ) -> Step:
        """A Python step: an inline `script`, or a `file` of the repository, run by the runner's Python."""
        data = Step._common("Step.python()", "python", id, depends_on, env, timeout, retries, backoff, when, name)
        call = f"Step.python({data['id']!r})"
        if (script is None) == (file is None):
            raise PlanError(f"{call}: give exactly one of script=... or file=...")
        data["script"] = _optional_str(script, f"{call}: script")
        data["file"] = _optional_str(file, f"{call}: file")
        return cls(data, _CONSTRUCT)

    @classmethod
    @_api("Step.llm")
    def llm(
        cls,
        id: str,
        prompt: str | None = None,
        *,
        prompt_file: str | None = None,
        inputs: Mapping[str, object] | None = None,
        tools: Sequence[str] | None = None,
        model: str | None = None,
        max_turns: int | None = None,
        output_schema: Mapping[str, object] | None = None,
        depends_on: object = None,
        env: Mapping[str, object] | None = None,
        timeout: int | str | None = None,
        retries: int = 0,
        backoff: int | str | None = None,
        when: str = "on_success",
        name: str | None = None,
    ) -> Step:
        """An LLM agent step: a `prompt` (or a `prompt_file`) run by Claude with tools on the workspace."""
        data = Step._common("Step.llm()", "llm", id, depends_on, env, timeout, retries, backoff, when, name)
        call = f"Step.llm({data['id']!r})"
        if (prompt is None) == (prompt_file is None):
            raise PlanError(f"{call}: give exactly one of prompt=... or prompt_file=...")
        if max_turns is not None and (type(max_turns) is not int or not 1 <= max_turns <= 1000):
            raise PlanError(f"{call}: max_turns must be a whole number from 1 to 1000")
        if inputs is not None and type(inputs) is not dict:
            raise PlanError(f"{call}: inputs must be a dict, not {_type_name(inputs)}")
        if output_schema is not None and type(output_schema) is not dict:
            raise PlanError(f"{call}: output_schema must be a dict (a JSON Schema), not {_type_name(output_schema)}")
        data["prompt"] = _optional_str(prompt, f"{call}: prompt")
        data["prompt_file"] = _optional_str(prompt_file, f"{call}: prompt_file")
        data["inputs"] = _plain(inputs or {}, f"{call}: inputs")
        data["tools"] = None if tools is None else _dedupe(_str_list(tools, f"{call}: tools"))
        data["model"] = _optional_str(model, f"{call}: model")
        data["max_turns"] = max_turns
        data["output_schema"] = _plain(output_schema, f"{call}: output_schema")
        return cls(data, _CONSTRUCT)


# --- Trigger --------------------------------------------------------------


def _check_cron(cron: object, call: str) -> str:
    # croniter is pure computation (no files), so it is safe inside the sandbox.
    from croniter import croniter

    expression = _require_str(cron, f"{call}: cron")
    fields = expression.split()
    if len(fields) != 5:
        raise PlanError(
            f"{call}: cron '{expression[:60]}' must have 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    if not croniter.is_valid(expression):
        raise PlanError(f"{call}: cron '{expression[:60]}' is not a valid cron expression")
    return " ".join(fields)


def _manual_inputs(value: object, call: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PlanError(f"{call}: inputs must be a dict of name: spec, not {_type_name(value)}")
    specs: dict[str, Any] = {}
    for name, raw in value.items():
        if type(name) is not str or not INPUT_NAME_RE.match(name):
            raise PlanError(f"{call}: '{str(name)[:40]}' is not a valid input name")
        where = f"{call}: input '{name}'"
        if type(raw) is not dict:
            # Shorthand: a plain default value.
            raw = {"default": raw}
        unknown = set(raw) - {"type", "description", "required", "default", "options"}
        if unknown:
            raise PlanError(
                f"{where}: unknown key '{sorted(unknown)[0]}' (accepted: type, description, required, default, options)"
            )
        default = _plain(raw.get("default"), f"{where}: default")
        input_type = raw.get("type")
        if input_type is None:
            input_type = {bool: "boolean", int: "number", float: "number"}.get(type(default), "string")
            if raw.get("options") is not None:
                input_type = "choice"
        if input_type not in MANUAL_INPUT_TYPES:
            raise PlanError(f"{where}: type must be one of {', '.join(MANUAL_INPUT_TYPES)}")
        options = raw.get("options")
        if input_type == "choice":
            options = _str_list(options, f"{where}: options") if options is not None else None
            if not options:
                raise PlanError(f"{where}: a choice input needs options=[...]")
            if default is not None and default not in options:
                raise PlanError(f"{where}: default {default!r} is not one of the options")
        elif options is not None:
            raise PlanError(f"{where}: options are only for type 'choice'")
        required = raw.get("required", False)
        if type(required) is not bool:
            raise PlanError(f"{where}: required must be True or False")
        specs[name] = {
            "type": input_type,
            "description": _optional_str(raw.get("description"), f"{where}: description"),
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
        if token is not _CONSTRUCT:
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
    @_api("Trigger.on_push")
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
        return _new_trigger(
            {
                "event": "push",
                "branches": _optional_str_list(branch if branch is not None else branches, f"{call}: branch"),
                "tags": _optional_str_list(tags, f"{call}: tags"),
                "paths": _optional_str_list(paths, f"{call}: paths"),
            }
        )

    @classmethod
    @_api("Trigger.on_pull_request")
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
        return _new_trigger(
            {
                "event": "pull_request",
                "types": _choice_list(types, f"{call}: types", PULL_REQUEST_TYPES, DEFAULT_PULL_REQUEST_TYPES),
                "branches": _optional_str_list(branches, f"{call}: branches"),
                "paths": _optional_str_list(paths, f"{call}: paths"),
            }
        )

    @classmethod
    @_api("Trigger.on_issue")
    def on_issue(
        cls,
        types: str | Sequence[str] | None = None,
        *,
        labels: str | Sequence[str] | None = None,
    ) -> Trigger:
        """An issue activity (default: every type); `labels` matches issues carrying any of them."""
        call = "Trigger.on_issue()"
        return _new_trigger(
            {
                "event": "issues",
                "types": _choice_list(types, f"{call}: types", ISSUE_TYPES, None),
                "labels": _optional_str_list(labels, f"{call}: labels"),
            }
        )

    @classmethod
    @_api("Trigger.on_issue_comment")
    def on_issue_comment(
        cls,
        contains: str | None = None,
        *,
        types: str | Sequence[str] | None = None,
    ) -> Trigger:
        """A comment on an issue or pull request (default type: created), optionally containing some text."""
        call = "Trigger.on_issue_comment()"
        return _new_trigger(
            {
                "event": "issue_comment",
                "types": _choice_list(types, f"{call}: types", ISSUE_COMMENT_TYPES, DEFAULT_ISSUE_COMMENT_TYPES),
                "contains": _optional_str(contains, f"{call}: contains"),
            }
        )

    @classmethod
    @_api("Trigger.on_schedule")
    def on_schedule(cls, cron: str, *, tz: str | None = None) -> Trigger:
        """A 5-field cron schedule (minute hour day month weekday), in UTC unless `tz` names a time zone."""
        call = "Trigger.on_schedule()"
        return _new_trigger(
            {
                "event": "schedule",
                "cron": _check_cron(cron, call),
                "tz": _require_str(tz, f"{call}: tz") if tz is not None else "UTC",
            }
        )

    @classmethod
    @_api("Trigger.manual")
    def manual(cls, inputs: Mapping[str, object] | None = None) -> Trigger:
        """A run started by hand. `inputs` maps names to a default value or a spec dict
        (type: string/boolean/number/choice, description, required, default, options)."""
        return _new_trigger({"event": "manual", "inputs": _manual_inputs(inputs, "Trigger.manual()")})


def _new_trigger(data: dict[str, Any]) -> Trigger:
    return Trigger(data, _CONSTRUCT)


# --- Plan -----------------------------------------------------------------


class Plan:
    """A workflow's plan: its name, its triggers and its steps."""

    __slots__ = ("_data", "_steps", "_triggers")
    _data: dict[str, Any]
    _steps: tuple[Step, ...]
    _triggers: tuple[Trigger, ...]
    _public_attrs = frozenset({"name", "description", "steps", "triggers", "env", "timeout"})

    @_api("Plan")
    def __init__(
        self,
        name: str,
        steps: Sequence[Step] | None = None,
        triggers: Sequence[Trigger] | None = None,
        *,
        description: str | None = None,
        env: Mapping[str, object] | None = None,
        timeout: int | str | None = None,
    ) -> None:
        name = _require_str(name, "Plan(): name")
        call = f"Plan({name[:60]!r})"
        step_list = _object_list(steps, Step, f"{call}: steps", "Step.bash(...), Step.python(...) or Step.llm(...)")
        trigger_list = _object_list(triggers, Trigger, f"{call}: triggers", "Trigger.on_push(...) etc.")
        object.__setattr__(self, "_steps", tuple(step_list))
        object.__setattr__(self, "_triggers", tuple(trigger_list))
        object.__setattr__(
            self,
            "_data",
            {
                "version": PLAN_FORMAT_VERSION,
                "name": name,
                "description": _optional_str(description, f"{call}: description"),
                "env": _env(env, f"{call}: env"),
                "timeout": _duration(timeout, f"{call}: timeout"),
            },
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Plan objects are read-only")

    def __repr__(self) -> str:
        return f"Plan({self._data['name']!r})"

    @property
    def name(self) -> str:
        return str(self._data["name"])

    @property
    def description(self) -> str | None:
        return self._data["description"]  # type: ignore[no-any-return]

    @property
    def env(self) -> dict[str, str]:
        return dict(self._data["env"])

    @property
    def timeout(self) -> int | None:
        return self._data["timeout"]  # type: ignore[no-any-return]

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return self._triggers

    def to_data(self) -> dict[str, Any]:
        """The plan as plain JSON-compatible data (a fresh copy)."""
        data = dict(self._data)
        data["steps"] = [step._data for step in self._steps]
        data["triggers"] = [trigger._data for trigger in self._triggers]
        return json.loads(json.dumps(data))  # type: ignore[no-any-return]


_T = TypeVar("_T")


def _object_list(value: object, kind: type[_T], what: str, hint: str) -> list[_T]:
    if value is None:
        return []
    if type(value) in (list, tuple):
        items: list[_T] = list(value)  # type: ignore[call-overload]
        for index, item in enumerate(items):
            if type(item) is not kind:
                raise PlanError(f"{what}[{index}] is a {_type_name(item)}, expected {hint}")
        return items
    raise PlanError(f"{what} must be a list, not {_type_name(value)}")


# --- JSON form ------------------------------------------------------------


def canonical_json(data: Any) -> bytes:
    """The canonical bytes of plan data: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def content_hash(data: Any) -> str:
    """The sha256 hex digest of the canonical bytes: a plan's identity."""
    return hashlib.sha256(canonical_json(data)).hexdigest()
