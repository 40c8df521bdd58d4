"""Turn the `Plan` a workflow returned into plain, exactly-typed JSON data, with caps.

Runs in the child. Only exact types pass (no subclasses of str or int, finite
floats only, string keys), and the caps on steps, depth and total size are
enforced while walking, so a plan bomb stops early instead of exhausting memory.
"""

from __future__ import annotations

import math
from typing import Any

from plue.plan import Plan
from plue.sandbox.results import Limits

_MAX_DEPTH = 40


class PlanTooLarge(Exception):
    pass


class NotPlainData(Exception):
    pass


def plan_to_data(plan: Plan, limits: Limits) -> dict[str, Any]:
    if len(plan.steps) > limits.max_steps:
        raise PlanTooLarge(f"the plan has {len(plan.steps)} steps, over the limit of {limits.max_steps}")
    raw = dict(plan._data)
    raw["steps"] = [step._data for step in plan.steps]
    raw["triggers"] = [trigger._data for trigger in plan.triggers]
    return _strict_copy(raw, limits)  # type: ignore[no-any-return]


def _strict_copy(root: Any, limits: Limits) -> Any:
    """An iterative exact-type copy; counts nodes and characters as it goes."""
    budget = {"nodes": 0, "chars": 0}

    def leaf(value: Any) -> Any:
        kind = type(value)
        if value is None or kind is bool or kind is int:
            return value
        if kind is str:
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise NotPlainData("the plan contains text that is not valid Unicode (a lone surrogate)") from None
            budget["chars"] += len(value)
            if budget["chars"] > limits.max_plan_bytes:
                raise PlanTooLarge(f"the plan is larger than {limits.max_plan_bytes} bytes")
            return value
        if kind is float:
            if not math.isfinite(value):
                raise NotPlainData("the plan contains a non-finite number")
            return value
        raise NotPlainData(f"the plan contains a {kind.__name__}, which is not plain data")

    out: list[Any] = [None]
    # Each work item: (source value, destination container, key in destination, depth)
    stack: list[tuple[Any, Any, Any, int]] = [(root, out, 0, 0)]
    while stack:
        value, dest, key, depth = stack.pop()
        budget["nodes"] += 1
        if budget["nodes"] > limits.max_plan_nodes:
            raise PlanTooLarge(f"the plan has more than {limits.max_plan_nodes} values")
        if depth > _MAX_DEPTH:
            raise PlanTooLarge(f"the plan is nested more than {_MAX_DEPTH} levels deep")
        kind = type(value)
        if kind is list:
            copy: Any = [None] * len(value)
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], copy, index, depth + 1))
        elif kind is dict:
            copy = {}
            for item_key in value:
                if type(item_key) is not str:
                    raise NotPlainData("the plan has a dict key that is not a string")
                copy[leaf(item_key)] = None
            for item_key, item in reversed(list(value.items())):
                stack.append((item, copy, item_key, depth + 1))
        else:
            copy = leaf(value)
        dest[key] = copy
    return out[0]
