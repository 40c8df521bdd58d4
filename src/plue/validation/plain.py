"""The plain-data gate: only JSON values, exact types, bounded depth and size.

Plan data can come from anywhere (a sandbox result, a stored row, a hostile
hand-made dict), so before anything else looks inside it, `check_plain` makes
sure it is plain JSON data; anything else makes the other checks unsafe to run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final, cast

from plue.validation.report import MAX_PROBLEMS, Report, field_text, kind_of, path_key

MAX_DEPTH: Final = 64  # real plans are < 40 deep (plan.py caps free-form data at 32 levels)
MAX_VALUES: Final = 2_000_000  # the sandbox caps plans at 4 MB, far fewer values than this

_INT64: Final = range(-(2**63), 2**63)  # SQLite, the default store, keeps no wider integers


def check_plain(data: dict[str, Any], report: Report) -> bool:
    """Report values that are not plain JSON data; False if the other checks must not run.

    Beyond the JSON types (exact types, so no subclass can change how a value
    behaves), plan data must be at most 64 levels deep and at most 2 million
    values as JSON. Shared containers are fine, but a container inside itself
    is not, and neither is sharing that would make the JSON huge.
    """
    if _plain_ok(data):
        return True
    bad = _plain_problems(data)  # the careful walk: it may find only harmless sharing
    for path, problem in bad:
        section, index, rest = report.at(path)
        report.add(section, index, f"{field_text(rest) or 'the plan'} {problem}")
    return not bad


def _plain_ok(data: dict[str, Any]) -> bool:
    """The fast yes of `_plain_problems` for trees (no container twice), without keeping paths."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen: set[int] = set()
    budget = MAX_VALUES
    while stack:
        value, depth = stack.pop()
        if depth >= MAX_DEPTH or id(value) in seen:
            return False
        seen.add(id(value))
        if type(value) is dict:
            for key in value:
                if type(key) is not str or (not key.isascii() and _text_problem(key)):
                    return False
            value = value.values()
        budget -= len(value)
        if budget < 0:
            return False
        for item in value:
            kind = type(item)
            if kind is str:
                if not item.isascii() and _text_problem(item):
                    return False
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is not bool and item is not None and _scalar_problem(item):
                return False
    return True


_Path = tuple[str | int, ...]


def _plain_problems(data: object) -> list[tuple[_Path, str]]:
    """Every value that breaks the plain-data rules, with its path, in document order.

    Iterative and post-order: each container is entered once, and leaving it
    records its size and height as JSON, so shared containers are measured,
    not walked again (an exponential "bomb" of shared lists stays cheap).
    """
    bad: list[tuple[_Path, str]] = []
    measured: dict[int, tuple[int, int]] = {}  # id -> (values, height) as JSON
    entered: set[int] = set()  # containers on the current path
    stack: list[tuple[Any, _Path, bool]] = [(data, (), False)]
    work = MAX_VALUES
    while stack and len(bad) < MAX_PROBLEMS and work > 0:
        value, path, leaving = stack.pop()
        work -= 1
        if leaving:
            entered.discard(id(value))
            measured[id(value)] = _measure(value, measured)
        elif type(value) is dict or type(value) is list:
            problem = _container_problem(value, path, measured, entered)
            if problem is not None:
                bad.append((path, problem))
            elif id(value) not in measured:
                entered.add(id(value))
                stack.append((value, path, True))
                stack.extend(_children(value, path, bad))
        elif (problem := _scalar_problem(value)) is not None:
            bad.append((path, problem))
    if work <= 0 or measured.get(id(data), (0, 0))[0] > MAX_VALUES:
        bad.append(((), f"holds more than {MAX_VALUES} values as JSON; it is far too large"))
    return sorted(bad, key=lambda item: path_key(item[0]))


def _container_problem(value: Any, path: _Path, measured: dict[int, tuple[int, int]], entered: set[int]) -> str | None:
    if id(value) in entered:
        return "contains itself; plan data cannot be circular"
    height = measured.get(id(value), (0, 1))[1]
    if len(path) + height > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return None


def _children(value: Any, path: _Path, bad: list[tuple[_Path, str]]) -> Iterator[tuple[Any, _Path, bool]]:
    if type(value) is list:
        yield from ((item, (*path, index), False) for index, item in enumerate(value))
        return
    for key, item in value.items():
        if type(key) is not str:
            bad.append((path, f"has a key that is not a string ({kind_of(key)})"))
        elif (problem := _text_problem(key)) is not None:
            bad.append((path, f"has a key that {problem}"))
        else:
            yield item, (*path, key), False


def _measure(value: Any, measured: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(values, height) of a container as JSON, from its measured children."""
    size, height = len(value), 0
    for item in value.values() if type(value) is dict else value:
        if type(item) is dict or type(item) is list:
            child_size, child_height = measured.get(id(item), (0, 0))
            size, height = size + child_size, max(height, child_height)
    return size, height + 1


def _scalar_problem(value: object) -> str | None:
    kind = type(value)
    if kind is str:
        return _text_problem(cast(str, value))
    if kind is float:
        return None if math.isfinite(cast(float, value)) else f"is {value!r}; JSON has no such number"
    if kind is int:
        return None if value in _INT64 else "is a number too large for plan data (over 64 bits)"
    if value is None or kind is bool:
        return None
    return f"is {kind_of(value)}, not plain JSON data (dict, list, str, int, float, bool, None)"


def _text_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that is not valid Unicode (a lone surrogate)"
    return None
