"""Turning values into text, guarded: only plain data may become text.

The repr of anything else shows a memory address — an information leak and a
source of nondeterministic plans — so `str()`, `repr()`, `format()`, f-string
fields, ``%`` and `str.format` go through here. `str.format` also refuses ``.``
and ``[`` in field names (the ``"{0.__class__}"`` escape).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from plue.plan import PlanError
from plue.sandbox.facade import CONTAINER_TYPES, FACADE_TYPES, PLAIN_TYPES, SandboxViolation, kind_of

_MAX_PLAIN_NODES = 100_000
_MAX_PLAIN_DEPTH = 100


def plain_problem(value: object) -> str | None:
    """Why `value` is not plain data (or a plan/ctx object), or None; checked without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > _MAX_PLAIN_NODES:
            return f"has more than {_MAX_PLAIN_NODES} values"
        if depth > _MAX_PLAIN_DEPTH:
            return f"is nested more than {_MAX_PLAIN_DEPTH} levels deep"
        kind = type(item)
        if kind in CONTAINER_TYPES:
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
        elif kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif kind in PLAIN_TYPES or kind in FACADE_TYPES:
            continue
        elif (isinstance(item, BaseException) and kind.__module__ == "builtins") or kind is PlanError:
            stack.extend((arg, depth + 1) for arg in item.args)  # type: ignore[attr-defined]
        else:
            return f"contains {kind_of(item)}"
    return None


def require_plain(value: object, what: str) -> None:
    problem = plain_problem(value)
    if problem is None:
        return
    if problem.startswith("contains") and type(value) not in (*CONTAINER_TYPES, dict):
        problem = f"of {kind_of(value)}"
    else:
        problem = f"of a value that {problem}"
    raise SandboxViolation(
        f"{what} {problem} is not allowed in workflow files; only plain data"
        " (strings, numbers, lists, dicts, plan objects) can be turned into text"
    )


# --- text ------------------------------------------------------------------


class TypeAlias:
    """A safe stand-in for a builtin type: calling it checks its argument.

    ``isinstance``/``type``/attribute access treat it as the real type, so
    ``isinstance(x, str)`` and ``str.join`` keep working.
    """

    __slots__ = ("make", "real")

    def __init__(self, real: type, make: Callable[..., Any]) -> None:
        self.real = real
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.make(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<class '{self.real.__name__}'>"


def safe_str_call(*args: Any, **kwargs: Any) -> str:
    decoding = len(args) + len(kwargs) > 1 and bool(args) and type(args[0]) is bytes
    if args and not decoding:
        require_plain(args[0], "str()")
    return str(*args, **kwargs)


SAFE_STR = TypeAlias(str, safe_str_call)


def safe_repr(value: object) -> str:
    require_plain(value, "repr()")
    return repr(value)


def safe_ascii(value: object) -> str:
    require_plain(value, "ascii()")
    return ascii(value)


def safe_format(value: object, spec: str = "") -> str:
    require_plain(value, "format()")
    return format(value, spec)


_FORMATTER = string.Formatter()


def _check_format_fields(template: str, depth: int = 0) -> None:
    # Only field *names* are looked up ("{0.x}", "{0[k]}"); a '.' in a format spec is a
    # precision ("{:.2f}"). Specs may hold nested fields ("{0:{1}}"): check those names too.
    # (Fix: the spec used to be refused for any '.', so "{:.2f}".format(x) failed.)
    if depth > 2:
        raise ValueError("Max string recursion exceeded")
    for _, field, spec, _ in _FORMATTER.parse(template):
        if field and ("." in field or "[" in field):
            raise SandboxViolation(
                "format fields with '.' or '[' are not allowed in workflow files;"
                " look the value up first and pass it in"
            )
        if spec and "{" in spec:
            _check_format_fields(spec, depth + 1)


def safe_str_format(template: str, *args: Any, **kwargs: Any) -> str:
    """``str.format`` on plain values only, with no ``.attr`` or ``[key]`` in fields.

    Field lookups would run attribute reads outside the guards (the classic
    ``"{0.__class__}"`` escape).
    """
    if type(template) is not str:
        raise TypeError("format() needs a string template")
    _check_format_fields(template)
    for value in (*args, *kwargs.values()):
        require_plain(value, "format()")
    return template.format(*args, **kwargs)


def safe_str_format_map(template: str, mapping: dict[str, Any]) -> str:
    if type(mapping) is not dict:
        raise TypeError("format_map() needs a dict")
    return safe_str_format(template, **mapping)


def format_value(value: object, conversion: int) -> object:
    """Guard for an f-string field: plain data only, conversions applied safely."""
    if conversion == ord("r"):
        return safe_repr(value)
    if conversion == ord("a"):
        return safe_ascii(value)
    require_plain(value, "an f-string field")
    return str(value) if conversion == ord("s") else value


def safe_mod(left: Any, right: Any) -> Any:
    if type(left) in (str, bytes):
        require_plain(right, "'%' formatting")
    return left % right
