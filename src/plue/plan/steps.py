"""`Step`: one node of the plan's DAG (`Step.bash`, `Step.python`, `Step.llm`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from plue.plan.arguments import (
    CONSTRUCT,
    MAX_RETRIES,
    STEP_ID_RE,
    PlanError,
    api,
    dedupe,
    duration,
    env_vars,
    optional_str,
    plain_copy,
    require_str,
    shown,
    str_list,
    type_name,
)

STEP_TYPES = ("bash", "python", "llm")
WHEN_VALUES = ("on_success", "always", "on_failure")


def step_ids(value: object, what: str) -> list[str]:
    if value is None:
        return []
    raw: Any = [value] if type(value) in (str, Step) else value
    if type(raw) not in (list, tuple):
        raise PlanError(f"{what} must be a step id, a Step, or a list of them, not {type_name(value)}")
    ids: list[str] = []
    for item in raw:
        step_id = item.id if type(item) is Step else require_str(item, f"each item of {what}")
        if step_id in ids:
            raise PlanError(f"{what} lists '{step_id}' twice")
        ids.append(step_id)
    return ids


def check_step_id(step_id: object, call: str) -> str:
    step_id = require_str(step_id, f"{call}: the step id")
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
        if token is not CONSTRUCT:
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
        step_id = check_step_id(step_id, call)
        call = f"{call[:-2]}({step_id!r})" if call.endswith("()") else call
        if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
            raise PlanError(f"{call}: retries must be a whole number from 0 to {MAX_RETRIES}")
        if when not in WHEN_VALUES:
            raise PlanError(f"{call}: when must be one of {', '.join(WHEN_VALUES)}, not {shown(when)}")
        return {
            "id": step_id,
            "type": step_type,
            "name": optional_str(name, f"{call}: name"),
            "depends_on": step_ids(depends_on, f"{call}: depends_on"),
            "env": env_vars(env, f"{call}: env"),
            "timeout": duration(timeout, f"{call}: timeout"),
            "retries": retries,
            "retry_backoff": duration(backoff, f"{call}: backoff") or 1,
            "when": when,
        }

    @classmethod
    @api("Step.bash")
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
        data["cmd"] = require_str(cmd, f"Step.bash({data['id']!r}): cmd")
        return cls(data, CONSTRUCT)

    @classmethod
    @api("Step.python")
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
        data["script"] = optional_str(script, f"{call}: script")
        data["file"] = optional_str(file, f"{call}: file")
        return cls(data, CONSTRUCT)

    @classmethod
    @api("Step.llm")
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
            raise PlanError(f"{call}: inputs must be a dict, not {type_name(inputs)}")
        if output_schema is not None and type(output_schema) is not dict:
            raise PlanError(f"{call}: output_schema must be a dict (a JSON Schema), not {type_name(output_schema)}")
        data["prompt"] = optional_str(prompt, f"{call}: prompt")
        data["prompt_file"] = optional_str(prompt_file, f"{call}: prompt_file")
        data["inputs"] = plain_copy(inputs or {}, f"{call}: inputs")
        data["tools"] = None if tools is None else dedupe(str_list(tools, f"{call}: tools"))
        data["model"] = optional_str(model, f"{call}: model")
        data["max_turns"] = max_turns
        data["output_schema"] = plain_copy(output_schema, f"{call}: output_schema")
        return cls(data, CONSTRUCT)
