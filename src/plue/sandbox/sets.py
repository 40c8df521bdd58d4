"""Sets whose iteration order is the same in every evaluator process (see the comment below)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from plue.plan import Step, Trigger
from plue.sandbox.context import ReadOnly
from plue.sandbox.facade import SandboxViolation, kind_of
from plue.sandbox.text import TypeAlias

# --- sets --------------------------------------------------------------------
# A set's iteration order follows its elements' hashes. Strings and numbers hash by
# value (strings with the fixed PYTHONHASHSEED); functions, types, plans, exceptions,
# NaN… hash by memory address, which differs between evaluator processes. A set of
# those iterates in a different order from run to run (and its order leaks
# addresses), so such sets cannot be made: every way of putting elements into a set
# is checked (displays and comprehensions via the policy, set()/frozenset(),
# type(s)(...), the growing methods, and set operators applied to dict views).
# None is let through: it hashes by address on 3.11 too (a constant from 3.12 on),
# but it is a static object whose low address bits the loader fixes, so only huge
# sets or long collision chains could see the difference, and `{None, "x"}` is common.

SET_TYPES = (set, frozenset)
VIEW_TYPES: tuple[type, ...] = (type({}.keys()), type({}.items()))
_STABLE_HASH_TYPES: tuple[type, ...] = (
    str, bytes, int, bool, float, complex, range, type(None), Step, Trigger, ReadOnly,
)  # fmt: skip
# Methods that put new elements into a set (the others only keep or drop elements).
SET_GROWERS = frozenset({"add", "update", "union", "symmetric_difference", "symmetric_difference_update"})


def _require_stable(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is tuple or kind is frozenset:
            stack.extend(item)  # type: ignore[arg-type]
        elif kind not in _STABLE_HASH_TYPES or (kind in (float, complex) and item != item):  # NaN
            what = "NaN" if kind in (float, complex) else kind_of(item)
            raise SandboxViolation(
                f"a set cannot hold {what} in workflow files: the order of such a set changes from run to"
                " run; sets can hold strings, numbers and tuples of them (use a list or a dict)"
            )


def check_set(value: Any) -> Any:
    """Guard for a set display or comprehension (and any new set): stable elements only."""
    if type(value) in SET_TYPES:
        for item in value:
            _require_stable(item)
    return value


def _stable_items(iterable: Any) -> list[Any]:
    items = list(iterable)
    for item in items:
        _require_stable(item)
    return items


def make_set(*args: Any) -> set[Any]:
    return set(*(_stable_items(arg) for arg in args))


def make_frozenset(*args: Any) -> frozenset[Any]:
    return frozenset(*(_stable_items(arg) for arg in args))


def set_method(owner: object, name: str) -> Callable[..., Any]:
    """A set method that puts elements in, checking them first (`owner` is a set or the set type)."""
    method = getattr(owner, name)
    unbound = isinstance(owner, type)

    def call(*args: Any) -> Any:
        head, rest = (args[:1], args[1:]) if unbound else ((), args)
        if name == "add":
            for item in rest:
                _require_stable(item)
        else:
            rest = tuple(_stable_items(arg) for arg in rest)
        return method(*head, *rest)

    call.__name__ = call.__qualname__ = name
    return call


SAFE_SET = TypeAlias(set, make_set)
SAFE_FROZENSET = TypeAlias(frozenset, make_frozenset)

_SET_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "|": operator.or_, "&": operator.and_, "-": operator.sub, "^": operator.xor,
}  # fmt: skip


def set_operator(left: Any, op: str, right: Any) -> Any:
    """``a | b``, ``a & b``, ``a - b``, ``a ^ b`` (the policy routes them here).

    Numbers and sets pass straight through; a dict view on either side makes a
    new set of dict keys or items, which are checked like any other set.
    """
    result = _SET_OPERATORS[op](left, right)
    if type(left) in VIEW_TYPES or type(right) in VIEW_TYPES:
        check_set(result)
    return result
