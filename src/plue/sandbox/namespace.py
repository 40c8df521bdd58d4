"""The module globals of an evaluation: guarded builtins, the API, and the guard hooks."""

from __future__ import annotations

import builtins
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from plue.plan import Plan, PlanError, Step, Trigger
from plue.sandbox.facade import FACADE, FACADE_CLASSES, PLAIN_TYPES, PlueFacade, SandboxViolation, kind_of
from plue.sandbox.guards import (
    apply,
    aug_item,
    guarded_getattr,
    guarded_getitem,
    guarded_hasattr,
    guarded_write,
    inplace_var,
    scrub_caught,
)
from plue.sandbox.policy import AUG_ITEM, CAUGHT, CHECK_SET, FORMAT_VALUE, SAFE_MOD, SET_OPERATOR
from plue.sandbox.sets import SAFE_FROZENSET, SAFE_SET, SET_TYPES, check_set, make_frozenset, make_set, set_operator
from plue.sandbox.text import (
    SAFE_STR,
    TypeAlias,
    format_value,
    require_plain,
    safe_ascii,
    safe_format,
    safe_mod,
    safe_repr,
    safe_str_call,
    safe_str_format,
    safe_str_format_map,
)

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
    if kind in SET_TYPES:
        return SAFE_SET if kind is set else SAFE_FROZENSET
    if kind in PLAIN_TYPES or kind in FACADE_CLASSES:
        return kind
    raise SandboxViolation(f"type() of {kind_of(args[0])} is not available in workflow files")


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
            require_plain(value, "print()")
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
    (safe_str_format_map, "format_map"), (safe_str_call, "str"), (make_set, "set"),
    (make_frozenset, "frozenset"),
):  # fmt: skip
    _guard.__name__ = _guard.__qualname__ = _builtin


def make_globals(print_collector: PrintCollector) -> dict[str, Any]:
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
