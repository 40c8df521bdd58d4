"""The one error type of the events package."""

from __future__ import annotations

# Messages quote user data; this keeps every message to a few hundred characters.
MAX_QUOTED = 80


class EventError(ValueError):
    """A payload, an event argument or a trigger is invalid; the message says which and why."""


def quote(value: object, limit: int = MAX_QUOTED) -> str:
    """`repr` of a value, cut to `limit` characters so messages stay short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-3:]


def type_name(value: object) -> str:
    """The JSON-ish name of a value's type, for messages."""
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    for kind, name in names.items():
        if type(value) is kind:
            return name
    return type(value).__name__
