"""Manual inputs given as text (``--input k=v``, a form field) made into typed values,
following the input specs of a workflow's manual trigger (see `Trigger.manual`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class InputError(ValueError):
    """A manual input is unknown, missing or of the wrong type; the message says which."""


def manual_input_specs(triggers: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """The input specs of the workflow's manual trigger(s), or None when it has none."""
    specs: dict[str, dict[str, Any]] | None = None
    for trigger in triggers:
        if trigger.get("event") == "manual":
            specs = {**(specs or {}), **(trigger.get("inputs") or {})}
    return specs


def resolve_inputs(specs: Mapping[str, Mapping[str, Any]], given: Mapping[str, str]) -> dict[str, Any]:
    """Typed inputs: each given value converted to its spec's type, defaults filled in."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        accepted = ", ".join(sorted(specs)) or "none"
        raise InputError(f"unknown input '{unknown[0]}' (this workflow's inputs: {accepted})")
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name in given:
            values[name] = _convert(name, spec, given[name])
        elif spec.get("required") and spec.get("default") is None:
            raise InputError(f"input '{name}' is required")
        else:
            values[name] = spec.get("default")
    return values


def _convert(name: str, spec: Mapping[str, Any], text: str) -> Any:
    kind = spec.get("type", "string")
    if kind == "boolean":
        word = text.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise InputError(f"input '{name}' is a boolean: give true or false, not {text[:40]!r}")
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            raise InputError(f"input '{name}' is a number, not {text[:40]!r}")
        return number
    if kind == "choice":
        options = [str(option) for option in spec.get("options") or []]
        if text not in options:
            raise InputError(f"input '{name}' must be one of {', '.join(options)}, not {text[:40]!r}")
    return text
