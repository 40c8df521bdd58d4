"""Structured output: asking for a JSON value that matches a schema, finding it in the reply, checking it.

The model is asked (in the system prompt) to end with only a JSON value valid
against the schema. Its final text is searched for that value: the whole text,
else the last fenced ```json block, else the last balanced ``{…}``/``[…]``. The
value is checked with JSON Schema draft 2020-12; every violation is listed
(path and message) so the model can fix them all in one more turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema

MAX_VIOLATIONS: Final = 30
_FENCED_JSON: Final = re.compile(r"```(?:json|JSON)[ \t]*\r?\n(.*?)```", re.DOTALL)
_MAX_SCAN_ATTEMPTS: Final = 2000  # starts tried when looking for a balanced value: bounded on adversarial text
_NOT_FOUND: Final = object()


class SchemaProblem(Exception):
    """The output schema itself is not a valid JSON Schema."""


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a reply: the value when valid, else every violation."""

    value: Any
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise `SchemaProblem` (one sentence) when `schema` is not a valid draft 2020-12 JSON Schema."""
    try:
        jsonschema.Draft202012Validator.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        where = _path(exc.absolute_path)
        raise SchemaProblem(f"the output schema is not a valid JSON Schema at {where}: {exc.message}") from None


def instruction(schema: Mapping[str, Any]) -> str:
    """What the system prompt adds so the model ends with the structured value."""
    return (
        "When you have finished, end your final reply with only a JSON value that is valid against this JSON "
        "Schema (draft 2020-12), with no text after it. Put it on its own, or in a ```json fenced block.\n"
        f"Schema:\n{json.dumps(schema, indent=2, ensure_ascii=False)}"
    )


def check_reply(text: str, schema: Mapping[str, Any]) -> Checked:
    value = extract_json(text)
    if value is _NOT_FOUND:
        return Checked(None, ("(reply): no JSON value found; end the reply with only the JSON value",))
    validator = jsonschema.Draft202012Validator(dict(schema))
    errors = sorted(validator.iter_errors(value), key=lambda error: [str(part) for part in error.absolute_path])
    violations = [f"{_path(error.absolute_path)}: {error.message}" for error in errors[:MAX_VIOLATIONS]]
    if len(errors) > MAX_VIOLATIONS:
        violations.append(f"... and {len(errors) - MAX_VIOLATIONS} more")
    return Checked(None if violations else value, tuple(violations))


def feedback(violations: Iterable[str]) -> str:
    """The user message that asks the model to fix its structured output."""
    listed = "\n".join(f"- {violation}" for violation in violations)
    return (
        "Your reply did not end with a JSON value valid against the required schema:\n"
        f"{listed}\n"
        "Reply again with only the corrected JSON value."
    )


def extract_json(text: str) -> Any:
    """The JSON value in a reply, or `_NOT_FOUND`: the whole text, a ```json block, or the last {…}/[…]."""
    stripped = text.strip()
    if stripped:
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    for block in reversed(_FENCED_JSON.findall(text)):
        try:
            return json.loads(block)
        except ValueError:
            continue
    return _last_balanced(text)


def _last_balanced(text: str) -> Any:
    """The last top-level JSON object or array in the text (scanning forwards, skipping what a value spans)."""
    decoder = json.JSONDecoder()
    found: Any = _NOT_FOUND
    index, attempts = 0, 0
    while attempts < _MAX_SCAN_ATTEMPTS:
        starts = [position for position in (text.find("{", index), text.find("[", index)) if position >= 0]
        if not starts:
            break
        start = min(starts)
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        found, index = value, end
    return found


def _path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
