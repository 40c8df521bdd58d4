"""The fast path: a JSON Schema compiled to plain Python predicates.

Why hand-written: jsonschema takes ~5 ms per plan (and 0.2 s to import), and
every scan validates every evaluated plan; fastjsonschema, the usual compiler,
does not support draft 2020-12 (when tried, it accepted an invalid plan). The
predicate `compile_schema` builds is conservative: True only for data the schema
accepts, while False means "let jsonschema decide" (it then produces the errors).
It handles exactly the keywords plan.schema.json uses and refuses any other at
import, so a schema edit cannot silently weaken it; the tests fuzz it against
jsonschema.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

_Check = Callable[[Any], bool]
_MISSING: Final = object()
_ANNOTATIONS: Final = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description"})
_OBJECT_KEYWORDS: Final = frozenset({"type", "required", "properties", "additionalProperties", "propertyNames"})
_PYTHON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def compile_schema(schema: dict[str, Any]) -> _Check:
    """A predicate over plain data: True only if `schema` accepts the value (see the module docstring)."""
    return _Compiler(schema).compile(schema)


@functools.lru_cache(maxsize=64)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile a schema pattern with ECMA-262 semantics for a final ``$``.

    In JSON Schema (ECMA-262) ``$`` matches only at the very end; Python's also
    matches before a final newline, which would let "build\\n" pass as a step id.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _always(value: object) -> bool:
    return True


def _all(checks: Sequence[_Check]) -> _Check:
    """One predicate for several; small arities unrolled (this is the hot path)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    if len(checks) == 4:
        first, second, third, fourth = checks
        return lambda v: first(v) and second(v) and third(v) and fourth(v)
    return lambda v: all(one(v) for one in checks)


class _Compiler:
    """Turns the keywords plan.schema.json uses into predicates over plain data.

    Exact types are safe because `check_plain` ran first. Any other keyword
    fails at import, so a schema edit cannot silently weaken the fast path;
    anything awkward (e.g. uniqueItems over non-strings) answers False, which
    only means "let jsonschema decide". Objects, strings and discriminated
    unions get fused predicates: this is what makes the fast path fast.
    """

    def __init__(self, root: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.done: dict[str, _Check] = {}

    def compile(self, schema: object) -> _Check:
        if schema is True:
            return _always
        if type(schema) is not dict:
            raise ValueError(f"fast path: unsupported schema {schema!r}")
        if schema.get("type") == "object" or not _OBJECT_KEYWORDS.isdisjoint(set(schema) - {"type"}):
            if schema.get("type", "object") != "object":
                raise ValueError(f"fast path: object keywords with type {schema['type']!r}")
            return self._object(schema, typed="type" in schema)
        checks = [self._keyword(key, value, schema) for key, value in schema.items()]
        return _all([check for check in checks if check is not None])

    def ref(self, ref: str) -> _Check:
        name = ref.removeprefix("#/$defs/")
        if name not in self.done:
            self.done[name] = self.compile(self.defs[name])
        return self.done[name]

    def _keyword(self, key: str, value: Any, schema: dict[str, Any]) -> _Check | None:
        if key in _ANNOTATIONS or key in ("then", "else"):
            return None
        if key == "$ref":
            return self.ref(value)
        if key == "type" and "pattern" in schema:
            return _typed_pattern(value, ecma_regex(schema["pattern"]))
        if key == "pattern" and "type" in schema:
            return None  # fused with "type" above
        if key in ("minimum", "maximum", "minItems", "maxItems"):
            return _bounds(key, schema)
        if key == "items":
            return _items_all(self.compile(value))
        if key == "allOf":
            return self._dispatch(value) or _all([self.compile(sub) for sub in value])
        if key == "oneOf":
            return _exactly_one([self.compile(sub) for sub in value])
        if key == "if":
            then, else_ = schema.get("then", True), schema.get("else", True)
            return _if_then(self.compile(value), self.compile(then), self.compile(else_))
        return _simple_keyword(key, value)

    def _object(self, schema: dict[str, Any], *, typed: bool) -> _Check:
        """One predicate for an object schema's object keywords plus the rest."""
        declared = frozenset(schema.get("properties", {}))  # before folding: additionalProperties
        schema = self._fold_property_refs(schema)
        additional = schema.get("additionalProperties", True)
        fused = _object_check(
            typed,
            frozenset(schema.get("required", ())),
            declared,
            tuple((key, self.compile(sub)) for key, sub in schema.get("properties", {}).items() if sub is not True),
            additional if type(additional) is bool else self.compile(additional),
            self.compile(schema["propertyNames"]) if "propertyNames" in schema else None,
        )
        rest = [self._keyword(key, value, schema) for key, value in schema.items() if key not in _OBJECT_KEYWORDS]
        return _all([fused, *[check for check in rest if check is not None]])

    def _fold_property_refs(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Merge a $ref to a properties-only definition into the schema's own properties."""
        target = self.defs.get(str(schema.get("$ref", "")).removeprefix("#/$defs/"))
        if type(target) is not dict or set(target) - _ANNOTATIONS != {"properties"}:
            return schema
        properties = dict(schema.get("properties", {}))
        for key, sub in target["properties"].items():
            mine = properties.get(key, True)
            properties[key] = sub if mine is True else {"allOf": [mine, sub]}
        folded = {k: v for k, v in schema.items() if k != "$ref"}
        folded["properties"] = properties
        return folded

    def _dispatch(self, items: list[Any]) -> _Check | None:
        """allOf of `if {tag: const} then ...` branches -> one dict lookup on the tag."""
        table: dict[str, _Check] = {}
        tags: set[str] = set()
        for item in items:
            condition = item.get("if", {}) if type(item) is dict else {}
            properties = condition.get("properties", {})
            if set(item) != {"if", "then"} or len(properties) != 1:
                return None
            ((tag, sub),) = properties.items()
            const = sub.get("const") if type(sub) is dict else None
            expected = {"type": "object", "properties": {tag: {"const": const}}, "required": [tag]}
            if type(const) is not str or condition != expected:
                return None
            tags.add(tag)
            table[const] = self.compile(item["then"])
        if len(tags) != 1:
            return None
        (tag,) = tags

        def check(value: object) -> bool:
            if type(value) is not dict:
                return True  # no branch applies
            branch = table.get(value[tag]) if type(value.get(tag)) is str else None
            return branch is None or branch(value)

        return check


def _object_check(
    typed: bool,
    required: frozenset[str],
    declared: frozenset[str],
    properties: tuple[tuple[str, _Check], ...],
    additional: _Check | bool,
    names: _Check | None,
) -> _Check:
    """type object, required, properties, additionalProperties, propertyNames in one closure."""
    closed = additional is False
    extra = None if type(additional) is bool else additional

    def check(value: object) -> bool:
        if type(value) is not dict:
            return not typed
        keys = value.keys()
        if not keys >= required or (closed and not keys <= declared):
            return False
        for key, one in properties:
            item = value.get(key, _MISSING)
            if item is not _MISSING and not one(item):
                return False
        if extra is not None:
            for key, item in value.items():
                if key not in declared and not extra(item):
                    return False
        if names is not None:
            for key in value:
                if not names(key):
                    return False
        return True

    return check


def _typed_pattern(kind: str | list[str], regex: re.Pattern[str]) -> _Check:
    kinds = [kind] if type(kind) is str else kind
    if kinds == ["string"]:
        return lambda v: type(v) is str and regex.search(v) is not None
    if sorted(kinds) == ["null", "string"]:
        return lambda v: v is None or (type(v) is str and regex.search(v) is not None)
    raise ValueError(f"fast path: unsupported type {kind!r} with a pattern")


def _simple_keyword(key: str, value: Any) -> _Check:
    if key == "type":
        names = [value] if type(value) is str else value
        allowed = frozenset(t for name in names for t in _PYTHON_TYPES[name])
        return lambda v: type(v) in allowed
    if key in ("const", "enum") and all(type(x) in (str, int) for x in _as_list(key, value)):
        options = {(type(x), x) for x in _as_list(key, value)}
        return lambda v: type(v) in (str, int) and (type(v), v) in options
    if key == "pattern":
        regex = ecma_regex(value)
        return lambda v: type(v) is not str or regex.search(v) is not None
    if key == "uniqueItems" and value is True:
        return lambda v: type(v) is not list or (all(type(x) is str for x in v) and len(set(v)) == len(v))
    raise ValueError(f"fast path: unsupported schema keyword {key!r}")


def _bounds(key: str, schema: dict[str, Any]) -> _Check | None:
    """minimum+maximum, minItems+maxItems: one check per pair (the first keyword makes it)."""
    low_key, high_key = ("minimum", "maximum") if key in ("minimum", "maximum") else ("minItems", "maxItems")
    if key == high_key and low_key in schema:
        return None
    low, high = schema.get(low_key, -math.inf), schema.get(high_key, math.inf)
    if low_key == "minimum":
        return lambda v: type(v) not in (int, float) or low <= v <= high
    return lambda v: type(v) is not list or low <= len(v) <= high


def _as_list(key: str, value: Any) -> list[Any]:
    return [value] if key == "const" else list(value)


def _items_all(one: _Check) -> _Check:
    return lambda v: type(v) is not list or all(one(x) for x in v)


def _exactly_one(checks: list[_Check]) -> _Check:
    return lambda v: sum(1 for one in checks if one(v)) == 1


def _if_then(condition: _Check, then: _Check, else_: _Check) -> _Check:
    return lambda v: then(v) if condition(v) else else_(v)
