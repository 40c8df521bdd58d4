"""Checking a tool call's input against the tool's JSON Schema, with messages the model can act on.

The schemas use a small part of JSON Schema (an object of typed properties,
`required`, `additionalProperties: false`, bounds on numbers, strings and
arrays of strings), and this checks exactly that part. A general validator
would do too, but costs a fifth of a second to import and words its messages
for schema authors, not for the model that sent the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def check_input(tool: str, schema: Mapping[str, Any], value: object) -> str | None:
    """The first problem with `value` as input to `tool`, or None if it fits `schema`."""
    if not isinstance(value, dict):
        return f"{tool}: the input must be an object with the fields {_fields(schema)}, not {_kind(value)}"
    properties: Mapping[str, Mapping[str, Any]] = schema["properties"]
    for name in schema.get("required", ()):
        if name not in value:
            return f"{tool}: the field {name!r} is required (the fields are {_fields(schema)})"
    for name, item in value.items():
        if name not in properties:
            return f"{tool}: unknown field {str(name)[:100]!r} (the fields are {_fields(schema)})"
        problem = _check(properties[name], item)
        if problem:
            return f"{tool}: {name!r} {problem}"
    return None


def _check(schema: Mapping[str, Any], value: object) -> str | None:
    kind = schema["type"]
    if kind == "string":
        if not isinstance(value, str):
            return f"must be a string, not {_kind(value)}"
        if len(value) < schema.get("minLength", 0):
            return "must not be empty"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"is too long ({len(value):,} characters; at most {schema['maxLength']:,})"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"must be true or false, not {_kind(value)}"
    if kind in ("integer", "number"):
        return _check_number(schema, value)
    if kind == "array":
        if not isinstance(value, list):
            return f"must be an array, not {_kind(value)}"
        if len(value) < schema.get("minItems", 0):
            return f"must have at least {schema['minItems']} item(s)"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"has too many items ({len(value):,}; at most {schema['maxItems']:,})"
        for index, item in enumerate(value):
            problem = _check(schema["items"], item)
            if problem:
                return f"item {index} {problem}"
        return None
    raise AssertionError(f"schema type {kind!r} is not checked")


def _check_number(schema: Mapping[str, Any], value: object) -> str | None:
    integer = schema["type"] == "integer"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be {'an integer' if integer else 'a number'}, not {_kind(value)}"
    if integer and isinstance(value, float) and not value.is_integer():
        return f"must be a whole number, not {value}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"must be at least {schema['minimum']}, not {value}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"must be more than {schema['exclusiveMinimum']}, not {value}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"must be at most {schema['maximum']:g}, not {value}"
    return None


def _fields(schema: Mapping[str, Any]) -> str:
    required = set(schema.get("required", ()))
    return ", ".join(name if name in required else f"{name}?" for name in schema["properties"])


def _kind(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)
