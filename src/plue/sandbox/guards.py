"""The runtime side of the sandbox: the builtins and guards restricted code calls.

The rule is an allow-list: attributes are readable only on plain data (str, int,
list, dict, …), on the ``plue`` facade (Plan/Step/Trigger and their public
fields) and on ctx objects. Everything else — functions, generators, frames,
exceptions (but their ``args``), type objects — has no readable attributes, so
no chain of attribute reads can reach interpreter internals, whatever its names.
Formatting is guarded too: only plain data may become text, because the repr of
anything else shows a memory address (an information leak and a source of
nondeterministic plans).
"""

from __future__ import annotations

import builtins
import functools
import operator
import string
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from plue.plan import Plan, PlanError, Step, Trigger
from plue.sandbox.context import ReadOnly
from plue.sandbox.policy import AUG_ITEM, FORMAT_VALUE, SAFE_MOD


class SandboxViolation(Exception):
    """Workflow code tried something the sandbox does not allow."""


class PlueFacade:
    """What ``import plue`` gives workflow code: the authoring API and nothing else.

    Never the real package: plain attributes of real modules lead to ``os``.
    """

    __slots__ = ()
    Plan = Plan
    Step = Step
    Trigger = Trigger
    PlanError = PlanError
    _public_attrs = frozenset({"Plan", "Step", "Trigger", "PlanError"})

    def __repr__(self) -> str:
        return "<plue>"


FACADE = PlueFacade()

PLAIN_TYPES: tuple[type, ...] = (
    type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, range,
)  # fmt: skip
_CONTAINER_TYPES = (list, tuple, set, frozenset)
_FACADE_TYPES: tuple[type, ...] = (Plan, Step, Trigger, PlueFacade, ReadOnly)
_FACADE_CLASSES = frozenset({Plan, Step, Trigger})
# Attributes of plain types that would escape the formatting guard; swapped for safe ones.
_UNSAFE_PLAIN_ATTRS = frozenset({"format", "format_map", "mro"})
_MAX_PLAIN_NODES = 100_000
_MAX_PLAIN_DEPTH = 100


def _kind(value: object) -> str:
    if callable(value) and not isinstance(value, type):
        return "a function"
    return f"a {type(value).__name__}"


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
        if kind in _CONTAINER_TYPES:
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
        elif kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif kind in PLAIN_TYPES or kind in _FACADE_TYPES:
            continue
        elif (isinstance(item, BaseException) and kind.__module__ == "builtins") or kind is PlanError:
            stack.extend((arg, depth + 1) for arg in item.args)  # type: ignore[attr-defined]
        else:
            return f"contains {_kind(item)}"
    return None


def _require_plain(value: object, what: str) -> None:
    problem = plain_problem(value)
    if problem is None:
        return
    if problem.startswith("contains") and type(value) not in (*_CONTAINER_TYPES, dict):
        problem = f"of {_kind(value)}"
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


def _safe_str_call(*args: Any, **kwargs: Any) -> str:
    decoding = len(args) + len(kwargs) > 1 and bool(args) and type(args[0]) is bytes
    if args and not decoding:
        _require_plain(args[0], "str()")
    return str(*args, **kwargs)


SAFE_STR = TypeAlias(str, _safe_str_call)


def safe_repr(value: object) -> str:
    _require_plain(value, "repr()")
    return repr(value)


def safe_ascii(value: object) -> str:
    _require_plain(value, "ascii()")
    return ascii(value)


def safe_format(value: object, spec: str = "") -> str:
    _require_plain(value, "format()")
    return format(value, spec)


_FORMATTER = string.Formatter()


def safe_str_format(template: str, *args: Any, **kwargs: Any) -> str:
    """``str.format`` on plain values only, with no ``.attr`` or ``[key]`` in fields.

    Field lookups would run attribute reads outside the guards (the classic
    ``"{0.__class__}"`` escape).
    """
    if type(template) is not str:
        raise TypeError("format() needs a string template")
    for _, field, spec, _ in _FORMATTER.parse(template):
        for part in (field, spec):
            if part and ("." in part or "[" in part):
                raise SandboxViolation(
                    "format fields with '.' or '[' are not allowed in workflow files;"
                    " look the value up first and pass it in"
                )
    for value in (*args, *kwargs.values()):
        _require_plain(value, "format()")
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
    _require_plain(value, "an f-string field")
    return str(value) if conversion == ord("s") else value


def safe_mod(left: Any, right: Any) -> Any:
    if type(left) in (str, bytes):
        _require_plain(right, "'%' formatting")
    return left % right


# --- attribute, item and write guards -------------------------------------

_MISSING = object()


def _plain_attr(obj: object, name: str) -> Any:
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
    try:
        if kind in PLAIN_TYPES or (kind is type and obj in PLAIN_TYPES):
            return _plain_attr(obj, name)
        if kind in _FACADE_TYPES or (kind is type and obj in _FACADE_CLASSES):
            allowed = obj._public_attrs  # type: ignore[attr-defined]
            if name not in allowed:
                return _missing(obj, name, default, allowed)
            return getattr(obj, name)
        if isinstance(obj, BaseException) and name == "args":
            return obj.args
    except AttributeError:
        # Re-raised fresh: the original carries `.obj`, the real object it was looked up on.
        return _missing(obj, name, default, ())
    raise SandboxViolation(f"attribute '{name[:40]}' of {_kind(obj)} is not available in workflow files")


def _missing(obj: object, name: str, default: Any, allowed: Iterable[str]) -> Any:
    if default is not _MISSING:
        return default
    if isinstance(obj, ReadOnly):
        raise AttributeError(obj.describe_missing(name))
    hint = f" (available: {', '.join(sorted(allowed))})" if allowed else ""
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
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
    raise SandboxViolation(f"indexing {_kind(obj)} is not allowed in workflow files")


def guarded_write(obj: Any) -> Any:
    """Only lists and dicts made by workflow code can be changed; the API and ctx are read-only."""
    if type(obj) in (list, dict):
        return obj
    if isinstance(obj, ReadOnly):
        raise SandboxViolation("ctx is read-only")
    raise SandboxViolation(f"{_kind(obj)} cannot be modified in workflow files")


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": safe_mod, "**=": operator.ipow, "<<=": operator.ilshift, ">>=": operator.irshift,
    "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}  # fmt: skip


def inplace_var(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def aug_item(container: Any, key: Any, op: str, value: Any) -> None:
    guarded_write(container)[key] = inplace_var(op, guarded_getitem(container, key), value)


def apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# --- builtins ----------------------------------------------------------------


def _real_type(value: object) -> object:
    if type(value) is TypeAlias:
        return value.real
    if type(value) is tuple:
        return tuple(_real_type(item) for item in value)
    return value


def safe_isinstance(value: object, kinds: Any) -> bool:
    return isinstance(value, _real_type(kinds))  # type: ignore[arg-type]


def safe_issubclass(kind: Any, kinds: Any) -> bool:
    return issubclass(_real_type(kind), _real_type(kinds))  # type: ignore[arg-type]


def safe_type(*args: Any) -> Any:
    if len(args) != 1:
        raise SandboxViolation("type() with three arguments (making classes) is not allowed in workflow files")
    kind = type(args[0])
    if kind is str:
        return SAFE_STR
    if kind in PLAIN_TYPES or kind in _FACADE_CLASSES:
        return kind
    raise SandboxViolation(f"type() of {_kind(args[0])} is not available in workflow files")


def safe_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> PlueFacade:
    if name != "plue" or level != 0:
        raise ImportError(f"import of '{str(name)[:60]}' is not allowed; workflow files can only import plue")
    return FACADE


class PrintCollector:
    """``print`` in workflow code: output is kept (bounded) and shown to the author."""

    limit = 64 * 1024

    def __init__(self, _getattr: Any = None) -> None:
        self.parts: list[str] = []
        self.size = 0

    def _call_print(self, *objects: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        for value in objects:
            _require_plain(value, "print()")
        text = str(sep).join(str(value) for value in objects) + str(end)
        if self.size < self.limit:
            self.parts.append(text[: self.limit - self.size])
            self.size += len(text)

    def __call__(self) -> str:
        return "".join(self.parts)


_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bin", "bool", "callable", "chr", "dict", "divmod", "enumerate",
    "filter", "float", "frozenset", "hex", "int", "iter", "len", "list", "map", "max", "min",
    "next", "oct", "ord", "pow", "range", "reversed", "round", "set", "slice", "sorted", "sum",
    "tuple", "zip", "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError",
    "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError",
    "RecursionError", "RuntimeError", "StopIteration", "TypeError", "ValueError",
    "ZeroDivisionError",
)  # fmt: skip


def make_globals(print_collector: PrintCollector, ctx: Any) -> dict[str, Any]:
    """The module globals of an evaluation: guarded builtins, the API, and guard hooks."""
    safe_builtins: dict[str, Any] = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe_builtins.update(
        {
            "str": SAFE_STR,
            "repr": safe_repr,
            "ascii": safe_ascii,
            "format": safe_format,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "isinstance": safe_isinstance,
            "issubclass": safe_issubclass,
            "type": safe_type,
            "__import__": safe_import,
        }
    )
    return {
        "__builtins__": safe_builtins,
        "__name__": "workflow",
        "Plan": Plan,
        "Step": Step,
        "Trigger": Trigger,
        "PlanError": PlanError,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": iter,
        "_write_": guarded_write,
        "_inplacevar_": inplace_var,
        "_apply_": apply,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_print_": lambda _getattr=None: print_collector,
        FORMAT_VALUE: format_value,
        SAFE_MOD: safe_mod,
        AUG_ITEM: aug_item,
    }
