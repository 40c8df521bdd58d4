"""The runtime side of the sandbox: the builtins and guards restricted code calls.

The rule is an allow-list: attributes are readable only on plain data (str, int,
list, dict, …), on the ``plue`` facade (Plan/Step/Trigger and their public
fields) and on ctx objects. Everything else — functions, generators, frames,
exceptions (but their ``args``), type objects — has no readable attributes, so
no chain of attribute reads can reach interpreter internals, whatever its names.
Formatting is guarded too: only plain data may become text, because the repr of
anything else shows a memory address (an information leak and a source of
nondeterministic plans). For the same reason sets may only hold values that hash
by value, exceptions caught by workflow code lose addresses from their messages,
and a caught MemoryError goes on (see the sections below).
"""

from __future__ import annotations

import builtins
import functools
import operator
import re
import string
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from plue.plan import Plan, PlanError, Step, Trigger
from plue.sandbox.context import ReadOnly
from plue.sandbox.policy import AUG_ITEM, CAUGHT, CHECK_SET, FORMAT_VALUE, SAFE_MOD, SET_OPERATOR


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
    if type(value) is PlueFacade:
        return "the plue module"
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
    if name in _SET_GROWERS and (type(obj) in _SET_TYPES or obj in _SET_TYPES):
        return _set_method(obj, name)
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
        if kind in _FACADE_TYPES or (kind is type and obj in _FACADE_CLASSES):
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
    raise SandboxViolation(f"attribute '{name[:40]}' of {_kind(obj)} is not available in workflow files")


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
    result = _INPLACE[op](target, value)
    if op in ("|=", "&=", "-=", "^=") and (type(target) in _VIEW_TYPES or type(value) in _VIEW_TYPES):
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

_SET_TYPES = (set, frozenset)
_VIEW_TYPES: tuple[type, ...] = (type({}.keys()), type({}.items()))
_STABLE_HASH_TYPES: tuple[type, ...] = (
    str, bytes, int, bool, float, complex, range, type(None), Step, Trigger, ReadOnly,
)  # fmt: skip
# Methods that put new elements into a set (the others only keep or drop elements).
_SET_GROWERS = frozenset({"add", "update", "union", "symmetric_difference", "symmetric_difference_update"})


def _require_stable(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is tuple or kind is frozenset:
            stack.extend(item)  # type: ignore[arg-type]
        elif kind not in _STABLE_HASH_TYPES or (kind in (float, complex) and item != item):  # NaN
            what = "NaN" if kind in (float, complex) else _kind(item)
            raise SandboxViolation(
                f"a set cannot hold {what} in workflow files: the order of such a set changes from run to"
                " run; sets can hold strings, numbers and tuples of them (use a list or a dict)"
            )


def check_set(value: Any) -> Any:
    """Guard for a set display or comprehension (and any new set): stable elements only."""
    if type(value) in _SET_TYPES:
        for item in value:
            _require_stable(item)
    return value


def _stable_items(iterable: Any) -> list[Any]:
    items = list(iterable)
    for item in items:
        _require_stable(item)
    return items


def _make_set(*args: Any) -> set[Any]:
    return set(*(_stable_items(arg) for arg in args))


def _make_frozenset(*args: Any) -> frozenset[Any]:
    return frozenset(*(_stable_items(arg) for arg in args))


def _set_method(owner: object, name: str) -> Callable[..., Any]:
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


SAFE_SET = TypeAlias(set, _make_set)
SAFE_FROZENSET = TypeAlias(frozenset, _make_frozenset)

_SET_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "|": operator.or_, "&": operator.and_, "-": operator.sub, "^": operator.xor,
}  # fmt: skip


def set_operator(left: Any, op: str, right: Any) -> Any:
    """``a | b``, ``a & b``, ``a - b``, ``a ^ b`` (the policy routes them here).

    Numbers and sets pass straight through; a dict view on either side makes a
    new set of dict keys or items, which are checked like any other set.
    """
    result = _SET_OPERATORS[op](left, right)
    if type(left) in _VIEW_TYPES or type(right) in _VIEW_TYPES:
        check_set(result)
    return result


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
    if kind in _SET_TYPES:
        return SAFE_SET if kind is set else SAFE_FROZENSET
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

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", **_: Any) -> None:
        for value in objects:
            _require_plain(value, "print()")
        # sep and end become text too; str() of a function there showed its memory address.
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if type(sep) is not str or type(end) is not str:
            raise TypeError("print(): sep and end must be strings")
        text = sep.join(str(value) for value in objects) + end
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


# Messages name the builtin the author called ("getattr() missing 1 required positional
# argument"), not the guard standing in for it.
for _guard, _builtin in (
    (guarded_getattr, "getattr"), (guarded_hasattr, "hasattr"), (safe_isinstance, "isinstance"),
    (safe_issubclass, "issubclass"), (safe_type, "type"), (safe_repr, "repr"), (safe_ascii, "ascii"),
    (safe_format, "format"), (safe_import, "__import__"), (safe_str_format, "format"),
    (safe_str_format_map, "format_map"), (_safe_str_call, "str"), (_make_set, "set"),
    (_make_frozenset, "frozenset"),
):  # fmt: skip
    _guard.__name__ = _guard.__qualname__ = _builtin


def make_globals(print_collector: PrintCollector, ctx: Any) -> dict[str, Any]:
    """The module globals of an evaluation: guarded builtins, the API, and guard hooks."""
    safe_builtins: dict[str, Any] = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe_builtins.update(
        {
            "str": SAFE_STR,
            "set": SAFE_SET,
            "frozenset": SAFE_FROZENSET,
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
        CAUGHT: scrub_caught,
        CHECK_SET: check_set,
        SET_OPERATOR: set_operator,
    }
