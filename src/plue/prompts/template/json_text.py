"""``JSON.stringify(value, null, space)`` exactly as JavaScript writes it (the `json` helper's output)."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from plue.prompts.template.values import (
    MAX_TEXT,
    UNDEFINED,
    JSFunction,
    TextTooLarge,
    as_number,
    is_number,
    normalize,
    number_to_string,
    own_entries,
)

_LONE_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


class CircularStructure(Exception):
    """The value contains itself: JavaScript throws a TypeError."""


def json_stringify(value: Any, space: Any = UNDEFINED) -> str | None:
    """The JSON text of `value`, or None where JavaScript returns undefined (undefined, a function)."""
    gap = _gap(space)
    writer = _Writer(gap)
    if not writer.write(normalize(value), ""):
        return None
    return "".join(writer.parts)


def _gap(space: Any) -> str:
    if is_number(space):
        number = as_number(space)
        if math.isnan(number):
            return ""
        count = 10 if math.isinf(number) else min(10, int(number))
        return " " * count if count >= 1 else ""
    if isinstance(space, str):
        return space[:10]
    return ""


def quote(text: str) -> str:
    """A JSON string literal: JavaScript escapes control characters and lone surrogates, nothing else."""
    quoted = json.dumps(text, ensure_ascii=False)
    if _LONE_SURROGATE_RE.search(quoted):
        quoted = _LONE_SURROGATE_RE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)
    return quoted


class _Writer:
    def __init__(self, gap: str) -> None:
        self.gap = gap
        self.parts: list[str] = []
        self.size = 0
        self.active: set[int] = set()

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_TEXT:
            raise TextTooLarge
        self.parts.append(text)

    def write(self, value: Any, indent: str) -> bool:
        """Append the JSON of `value`; False (nothing appended) where JavaScript would skip it."""
        if value is UNDEFINED or isinstance(value, JSFunction):
            return False
        if value is None:
            self.emit("null")
        elif isinstance(value, bool):
            self.emit("true" if value else "false")
        elif isinstance(value, int | float):
            number = as_number(value)
            self.emit(number_to_string(number) if math.isfinite(number) else "null")
        elif isinstance(value, str):
            self.emit(quote(value))
        elif isinstance(value, list | tuple | dict):
            if id(value) in self.active:
                raise CircularStructure
            self.active.add(id(value))
            if isinstance(value, dict):
                self.write_object(value, indent)
            else:
                self.write_array(value, indent)
            self.active.discard(id(value))
        else:
            return self.write(normalize(value), indent)
        return True

    def write_array(self, items: list[Any] | tuple[Any, ...], indent: str) -> None:
        if not items:
            self.emit("[]")
            return
        inner = indent + self.gap
        self.emit("[")
        for position, item in enumerate(items):
            if position:
                self.emit(",")
            if self.gap:
                self.emit("\n" + inner)
            if not self.write(normalize(item), inner):
                self.emit("null")
        if self.gap:
            self.emit("\n" + indent)
        self.emit("]")

    def write_object(self, value: dict[Any, Any], indent: str) -> None:
        inner = indent + self.gap
        separator = ": " if self.gap else ":"
        written = 0
        self.emit("{")
        for key, item in own_entries(value):
            if item is UNDEFINED or isinstance(item, JSFunction):
                continue
            if written:
                self.emit(",")
            if self.gap:
                self.emit("\n" + inner)
            self.emit(quote(key) + separator)
            self.write(item, inner)
            written += 1
        if written and self.gap:
            self.emit("\n" + indent)
        self.emit("}")
