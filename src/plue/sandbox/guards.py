"""The guards restricted code calls for attribute reads, item reads, writes and ``except``.

The rule is an allow-list: attributes are readable only on plain data (str, int,
list, dict, …), on the ``plue`` facade (Plan/Step/Trigger and their public
fields) and on ctx objects. Everything else — functions, generators, frames,
exceptions (but their ``args``), type objects — has no readable attributes, so
no chain of attribute reads can reach interpreter internals, whatever its names.
Exceptions caught by workflow code lose memory addresses from their messages,
and a MemoryError cannot be caught. Text formatting is guarded in `text`, sets in
`sets`, and the builtins are assembled in `namespace`.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from plue.sandbox.context import ReadOnly
from plue.sandbox.facade import FACADE_CLASSES, FACADE_TYPES, PLAIN_TYPES, PlueFacade, SandboxViolation, kind_of
from plue.sandbox.sets import SET_GROWERS, SET_TYPES, VIEW_TYPES, check_set, set_method
from plue.sandbox.text import TypeAlias, safe_mod, safe_str_format, safe_str_format_map

# Attributes of plain types that would escape the formatting guard; swapped for safe ones.
_UNSAFE_PLAIN_ATTRS = frozenset({"format", "format_map", "mro"})


# --- attribute, item and write guards -------------------------------------

_MISSING = object()


def _plain_attr(obj: object, name: str) -> Any:
    if name in SET_GROWERS and (type(obj) in SET_TYPES or obj in SET_TYPES):
        return set_method(obj, name)
    if name in _UNSAFE_PLAIN_ATTRS:
        if name == "format" and (type(obj) is str):
            return functools.partial(safe_str_format, obj)
        if name == "format_map" and type(obj) is str:
            return functools.partial(safe_str_format_map, obj)
        if name == "format" and obj is str:
            return safe_str_format
        if name == "format_map" and obj is str:
            return safe_str_format_map
        raise SandboxViolation(f"'{name}' is not available in workflow files")
    return getattr(obj, name)


def guarded_getattr(obj: object, name: str, default: Any = _MISSING) -> Any:
    """``getattr`` for restricted code (see the module docstring for the rule)."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or unicodedata.normalize("NFKC", name).startswith("_"):
        raise SandboxViolation(f"'{name[:40]}' is not available: names starting with '_' are private")
    if type(obj) is TypeAlias:
        obj = obj.real
    kind = type(obj)
    allowed: frozenset[str] | None = None
    try:
        if kind in PLAIN_TYPES or (kind is type and obj in PLAIN_TYPES):
            return _plain_attr(obj, name)
        if kind in FACADE_TYPES or (kind is type and obj in FACADE_CLASSES):
            allowed = obj._public_attrs  # type: ignore[attr-defined]
            if name in allowed:
                return getattr(obj, name)
        elif isinstance(obj, BaseException) and name == "args":
            return obj.args
    except AttributeError:
        # Re-raised fresh: the original carries `.obj`, the real object it was looked up on.
        return _missing(obj, name, default, ())
    if allowed is not None:
        # (Fix: this used to be raised inside the try above, caught, and re-raised without the hint.)
        return _missing(obj, name, default, allowed)
    raise SandboxViolation(f"attribute '{name[:40]}' of {kind_of(obj)} is not available in workflow files")


def _missing(obj: object, name: str, default: Any, allowed: Iterable[str]) -> Any:
    if default is not _MISSING:
        return default
    if isinstance(obj, ReadOnly):
        raise AttributeError(obj.describe_missing(name))
    hint = f" (available: {', '.join(sorted(allowed))})" if allowed else ""
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    owner = "plue" if type(obj) is PlueFacade else owner  # the facade's class name means nothing to authors
    raise AttributeError(f"'{owner}' has no attribute '{name[:40]}'{hint}")


def guarded_hasattr(obj: object, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj: Any, key: Any) -> Any:
    kind = type(obj)
    if kind in (str, bytes, list, tuple, dict, range) or isinstance(obj, ReadOnly):
        return obj[key]
    raise SandboxViolation(f"indexing {kind_of(obj)} is not allowed in workflow files")


def guarded_write(obj: Any) -> Any:
    """Only lists and dicts made by workflow code can be changed; the API and ctx are read-only."""
    if type(obj) in (list, dict):
        return obj
    if isinstance(obj, ReadOnly):
        raise SandboxViolation("ctx is read-only")
    raise SandboxViolation(f"{kind_of(obj)} cannot be modified in workflow files")


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": safe_mod, "**=": operator.ipow, "<<=": operator.ilshift, ">>=": operator.irshift,
    "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}  # fmt: skip


def inplace_var(op: str, target: Any, value: Any) -> Any:
    result = _INPLACE[op](target, value)
    if op in ("|=", "&=", "-=", "^=") and (type(target) in VIEW_TYPES or type(value) in VIEW_TYPES):
        check_set(result)  # a dict view gives a new set (see set_operator)
    return result


def aug_item(container: Any, key: Any, op: str, value: Any) -> None:
    guarded_write(container)[key] = inplace_var(op, guarded_getitem(container, key), value)


def apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# --- exceptions caught by workflow code ------------------------------------

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def scrub_caught(exc: object) -> None:
    """Run first in every ``except`` block of workflow code (the policy inserts the call).

    Some messages quote the repr of a value, memory address included: CPython's
    ``[].index(f)`` says "<function f at 0x7f…> is not in list", and plan errors
    quote ``str()`` of a bad argument. Read through ``e.args`` or ``str(e)``, that
    was an address leak and a nondeterministic plan; the address is cut out here,
    before workflow code can see the exception.

    A MemoryError is not caught at all: the memory limit ends the evaluation, like
    the time limits; a plan built from how much could be allocated before it would
    depend on the machine. An OSError loses its file names (host paths).
    """
    if not isinstance(exc, BaseException):
        return
    if isinstance(exc, MemoryError):
        raise exc
    if isinstance(exc, OSError):
        # Only the confinement raises these here; their file names are paths of the host.
        del exc.filename, exc.filename2  # (None would still be shown as "None")
    args = exc.args
    if any(type(arg) is str and "0x" in arg for arg in args):
        exc.args = tuple(_ADDRESS_RE.sub("", arg) if type(arg) is str else arg for arg in args)
