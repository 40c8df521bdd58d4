"""`Plan`: a workflow's name, triggers and steps, and its plain data."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from plue.plan.arguments import (
    PlanError,
    api,
    attempts_count,
    concurrency_spec,
    duration,
    env_vars,
    optional_str,
    require_str,
    runner_labels,
    type_name,
)
from plue.plan.canonical import PLAN_FORMAT_VERSION
from plue.plan.steps import Step
from plue.plan.triggers import Trigger


class Plan:
    """A workflow's plan: its name, its triggers and its steps."""

    __slots__ = ("_data", "_steps", "_triggers")
    _data: dict[str, Any]
    _steps: tuple[Step, ...]
    _triggers: tuple[Trigger, ...]
    _public_attrs = frozenset(
        {"name", "description", "steps", "triggers", "env", "timeout", "concurrency", "runs_on", "max_attempts"}
    )

    @api("Plan")
    def __init__(
        self,
        name: str,
        steps: Sequence[Step] | None = None,
        triggers: Sequence[Trigger] | None = None,
        *,
        description: str | None = None,
        env: Mapping[str, object] | None = None,
        timeout: int | str | None = None,
        concurrency: str | Mapping[str, object] | None = None,
        runs_on: str | Sequence[str] | None = None,
        max_attempts: int = 2,
    ) -> None:
        name = require_str(name, "Plan(): name")
        call = f"Plan({name[:60]!r})"
        step_list = object_list(steps, Step, f"{call}: steps", "Step.bash(...), Step.python(...) or Step.llm(...)")
        trigger_list = object_list(triggers, Trigger, f"{call}: triggers", "Trigger.on_push(...) etc.")
        object.__setattr__(self, "_steps", tuple(step_list))
        object.__setattr__(self, "_triggers", tuple(trigger_list))
        object.__setattr__(
            self,
            "_data",
            {
                "version": PLAN_FORMAT_VERSION,
                "name": name,
                "description": optional_str(description, f"{call}: description"),
                "env": env_vars(env, f"{call}: env"),
                "timeout": duration(timeout, f"{call}: timeout"),
                "concurrency": concurrency_spec(concurrency, f"{call}: concurrency"),
                "runs_on": runner_labels(runs_on, f"{call}: runs_on"),
                "max_attempts": attempts_count(max_attempts, f"{call}: max_attempts"),
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
    def concurrency(self) -> dict[str, Any] | None:
        """`{"group": ..., "cancel_in_progress": ...}`, or None: runs of one group run one at a time."""
        spec = self._data["concurrency"]
        return None if spec is None else dict(spec)

    @property
    def runs_on(self) -> list[str]:
        """The labels a runner needs to run this workflow (empty: any runner)."""
        return list(self._data["runs_on"])

    @property
    def max_attempts(self) -> int:
        """How many times a run is started in all when its runner is lost."""
        return int(self._data["max_attempts"])

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


T = TypeVar("T")


def object_list(value: object, kind: type[T], what: str, hint: str) -> list[T]:
    if value is None:
        return []
    if type(value) in (list, tuple):
        items: list[T] = list(value)  # type: ignore[call-overload]
        for index, item in enumerate(items):
            if type(item) is not kind:
                raise PlanError(f"{what}[{index}] is a {type_name(item)}, expected {hint}")
        return items
    raise PlanError(f"{what} must be a list, not {type_name(value)}")
