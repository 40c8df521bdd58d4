"""JavaScript semantics over JSON-like Python data: what handlebars.js does to the values it renders.

Python context data stands for the JavaScript values handlebars.js sees after
``JSON.parse``: ``dict`` is an object, ``list`` (and ``tuple``) an array, ``str``,
``int``/``float`` a number, ``bool``, ``None`` is ``null`` and `UNDEFINED` is
``undefined``. Any other Python value is treated as its ``str()``.

This module owns the conversions (``String(v)``, ``Number(s)``, truthiness), the
equality operators, property lookup (own properties only, like handlebars'
prototype-access rules, including ``length`` and code-unit indexes of strings)
and the order of an object's keys (integer-like keys first, as in JavaScript).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Final

MAX_TEXT: Final = 10 * 1024 * 1024  # characters: the cap on the output and on any text built on the way


class TextTooLarge(Exception):
    """Text past `MAX_TEXT` characters; the evaluator turns this into a `TemplateError`."""


class _Undefined:
    """JavaScript's ``undefined``: a missing value, distinct from ``None`` (``null``)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


class JSFunction:
    """A function value at run time (a partial block, a block body); subclasses say how to call it."""

    def call(self, this: Any, args: list[Any]) -> Any:
        """``function.call(this, ...args)``."""
        raise NotImplementedError

    def source_text(self) -> str:
        return "function () { [native code] }"


# Handed to helpers as `this` when the context is null or undefined (handlebars' `container.nullContext`).
NULL_CONTEXT: Final[dict[str, Any]] = {}

JS_WHITESPACE: Final = (  # what JavaScript's \s and String.prototype.trim treat as whitespace
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_MAX_SAFE_INTEGER: Final = 2**53
_MAX_ARRAY_INDEX: Final = 2**32 - 2
_DECIMAL_RE: Final = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\Z")
_RADIX_RE: Final = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")


_PLAIN_TYPES: Final = frozenset({str, int, float, bool, list, dict, type(None)})


def normalize(value: Any) -> Any:
    """The value as the renderer models it: JSON-like data as is, anything else as its ``str()``."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, str | int | float | list | tuple | dict | _Undefined | JSFunction):
        return value
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_array(value: Any) -> bool:
    return isinstance(value, list | tuple)


def is_object(value: Any) -> bool:
    """A JavaScript object (``typeof value === "object"``), arrays included, ``null`` excluded."""
    return isinstance(value, dict | list | tuple)


def as_number(value: int | float) -> float | int:
    """A Python number as the double JavaScript would hold (large integers lose precision as in ``JSON.parse``)."""
    if isinstance(value, int) and not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def number_to_string(value: int | float) -> str:
    """``String(n)``: shortest round-trip digits, JavaScript's choice of plain or exponent notation."""
    number = as_number(value)
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent_text = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent_text) if exponent_text else 0)  # value = 0.digits × 10^point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    exponent_part = f"e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    if count == 1:
        return sign + digits + exponent_part
    return sign + digits[0] + "." + digits[1:] + exponent_part


def to_string(value: Any) -> str:
    """``String(value)`` (what ``"" + value`` gives): arrays joined with commas, objects ``[object Object]``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_to_string(value)
    if isinstance(value, list | tuple):
        return join_array(value, ",")
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, JSFunction):
        return value.source_text()
    return to_string(normalize(value))


def join_array(items: list[Any] | tuple[Any, ...], separator: str) -> str:
    """``Array.prototype.join``: null and undefined members are empty, a member that is its own ancestor too."""
    return _join(items, separator, set(), [0])


def _join(items: list[Any] | tuple[Any, ...], separator: str, active: set[int], size: list[int]) -> str:
    active.add(id(items))
    parts: list[str] = []
    for item in items:
        item = normalize(item)
        if item is None or item is UNDEFINED:
            text = ""
        elif isinstance(item, list | tuple):
            text = "" if id(item) in active else _join(item, ",", active, size)
        else:
            text = to_string(item)
        size[0] += len(text) + len(separator)
        if size[0] > MAX_TEXT:
            raise TextTooLarge
        parts.append(text)
    active.discard(id(items))
    return separator.join(parts)


def js_add(left: Any, right: Any) -> Any:
    """``left + right``: concatenation if either side is (or converts to) a string, else numeric addition."""
    if isinstance(left, str) or isinstance(right, str) or is_object(left) or is_object(right):
        return to_string(left) + to_string(right)
    if isinstance(left, JSFunction) or isinstance(right, JSFunction):
        return to_string(left) + to_string(right)
    return _to_primitive_number(left) + _to_primitive_number(right)


def _to_primitive_number(value: Any) -> int | float:
    if isinstance(value, bool):
        return 1 if value else 0
    if value is None:
        return 0
    if value is UNDEFINED:
        return math.nan
    if isinstance(value, int | float):
        return as_number(value)
    return to_number(to_string(value))


def truthy(value: Any) -> bool:
    """JavaScript's ``!!value``: false, 0, NaN, "", null and undefined are false; every object is true."""
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN != NaN
    if isinstance(value, str):
        return value != ""
    return True


def is_empty(value: Any) -> bool:
    """handlebars' ``Utils.isEmpty``: falsy but not 0, or an empty array."""
    if is_array(value):
        return len(value) == 0
    return not truthy(value) and not (is_number(value) and value == 0)


def _kind(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def strict_equals(left: Any, right: Any) -> bool:
    """``left === right``: numbers by value (``1 === 1.0``), objects by identity, no conversions."""
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind != right_kind:
        return False
    if left_kind == "number":
        return bool(as_number(left) == as_number(right))
    if left_kind == "object":
        return left is right
    if left_kind in ("undefined", "null"):
        return True
    return bool(left == right)


def loose_equals(left: Any, right: Any) -> bool:
    """``left == right`` with JavaScript's conversions (handlebars compares contexts with it)."""
    if left is right:
        return not (isinstance(left, float) and left != left)  # NaN is not equal to itself
    left_type = type(left)
    if left_type is type(right) and left_type in _PLAIN_TYPES:
        return left_type not in (dict, list) and bool(left == right)  # distinct objects are never equal
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind == right_kind:
        return strict_equals(left, right)
    nullish = ("undefined", "null")
    if left_kind in nullish or right_kind in nullish:
        return left_kind in nullish and right_kind in nullish
    if left_kind == "boolean":
        return loose_equals(1 if left else 0, right)
    if right_kind == "boolean":
        return loose_equals(left, 1 if right else 0)
    if left_kind == "number" and right_kind == "string":
        return bool(as_number(left) == to_number(right))
    if left_kind == "string" and right_kind == "number":
        return bool(to_number(left) == as_number(right))
    if left_kind == "object":
        return loose_equals(to_string(left), right)
    return loose_equals(left, to_string(right))


def to_number(text: str) -> float | int:
    """``Number(text)`` for a string: trimmed decimal, ``0x``/``0o``/``0b`` literals, ``Infinity``; else NaN."""
    trimmed = text.strip(JS_WHITESPACE)
    if trimmed == "":
        return 0
    if _RADIX_RE.match(trimmed):
        return int(trimmed, 0)
    if not _DECIMAL_RE.match(trimmed):
        return math.nan
    if trimmed.lstrip("+-") == "Infinity":
        return -math.inf if trimmed.startswith("-") else math.inf
    return float(trimmed)


def array_index(name: str) -> int | None:
    """The index a property name denotes on an array (``"0"``, ``"12"``; not ``"01"`` or ``"-1"``), or None."""
    if not name or not name[0].isdigit() or not name.isascii() or not name.isdigit():
        return None
    if len(name) > 1 and name[0] == "0":
        return None
    index = int(name)
    return index if index <= _MAX_ARRAY_INDEX else None


def utf16_units(text: str) -> int:
    """``text.length``: JavaScript counts UTF-16 code units, two for a character outside the BMP."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_unit(text: str, index: int) -> str | None:
    """``text[index]``: one UTF-16 code unit (half of a surrogate pair, possibly), or None past the end."""
    if text.isascii() or max(text) <= "\uffff":
        return text[index] if index < len(text) else None
    encoded = text.encode("utf-16-le", "surrogatepass")
    if 2 * index + 2 > len(encoded):
        return None
    return encoded[2 * index : 2 * index + 2].decode("utf-16-le", "surrogatepass")


def lookup_property(parent: Any, name: str) -> Any:
    """``parent[name]`` restricted to own properties, as handlebars' ``lookupProperty`` allows by default."""
    if isinstance(parent, dict):
        return normalize(parent.get(name, UNDEFINED))
    if isinstance(parent, list | tuple):
        if name == "length":
            return len(parent)
        index = array_index(name)
        return normalize(parent[index]) if index is not None and index < len(parent) else UNDEFINED
    if isinstance(parent, str):
        if name == "length":
            return utf16_units(parent)
        index = array_index(name)
        unit = utf16_unit(parent, index) if index is not None else None
        return UNDEFINED if unit is None else unit
    return UNDEFINED


def own_entries(value: Any) -> list[tuple[str, Any]]:
    """``Object.keys(value)`` with the values, in JavaScript's order: integer-like keys ascending, then the rest."""
    if isinstance(value, dict):
        indexed: list[tuple[int, str, Any]] = []
        named: list[tuple[str, Any]] = []
        for raw_key, item in value.items():
            key = raw_key if isinstance(raw_key, str) else to_string(normalize(raw_key))
            index = array_index(key)
            if index is None:
                named.append((key, normalize(item)))
            else:
                indexed.append((index, key, normalize(item)))
        if not indexed:
            return named
        indexed.sort(key=lambda entry: entry[0])
        return [(key, item) for _, key, item in indexed] + named
    if isinstance(value, list | tuple):
        return [(str(index), normalize(item)) for index, item in enumerate(value)]
    if isinstance(value, str):
        return list(_string_entries(value))
    return []


def _string_entries(text: str) -> Iterator[tuple[str, str]]:
    if text.isascii() or max(text) <= "\uffff":
        yield from ((str(index), char) for index, char in enumerate(text))
        return
    encoded = text.encode("utf-16-le", "surrogatepass")
    for index in range(len(encoded) // 2):
        yield str(index), encoded[2 * index : 2 * index + 2].decode("utf-16-le", "surrogatepass")


def assign(target: dict[str, Any], source: Any) -> dict[str, Any]:
    """handlebars' ``Utils.extend(target, source)``: copy the source's own enumerable properties."""
    for key, item in own_entries(source):
        target[key] = item
    return target


def create_frame(parent: Any) -> dict[str, Any]:
    """handlebars' ``createFrame``: a new data frame copying its parent's entries, ``_parent`` pointing back."""
    frame = assign({}, parent)
    frame["_parent"] = parent
    return frame
