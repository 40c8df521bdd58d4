"""The published plan JSON Schema and the jsonschema path with its readable messages.

``schemas/plan.schema.json`` (draft 2020-12) is the format's contract. Valid plans
are answered by `_FAST_CHECK`, the schema compiled to predicates (see `fastpath`);
only when it says "invalid" is jsonschema imported (once, 0.2 s) to find the
errors, each turned into a sentence about the plan, never about the schema.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, cast

from plue.validation.fastpath import compile_schema, ecma_regex
from plue.validation.report import TYPE_NAMES, Report, field_text, kind_of, path_key, quoted, show

if TYPE_CHECKING:
    from jsonschema import ValidationError

_SCHEMA_TEXT: Final = (resources.files("plue") / "schemas" / "plan.schema.json").read_text("utf-8")
_SCHEMA: Final[dict[str, Any]] = json.loads(_SCHEMA_TEXT)
MAX_STEPS: Final[int] = _SCHEMA["properties"]["steps"]["maxItems"]
MAX_DEPENDS_ON: Final[int] = _SCHEMA["$defs"]["common_step_properties"]["properties"]["depends_on"]["maxItems"]
_FAST_CHECK: Final = compile_schema(_SCHEMA)  # True: valid, no need for jsonschema


def plan_schema() -> dict[str, Any]:
    """A fresh copy of the plan JSON Schema."""
    return cast(dict[str, Any], json.loads(_SCHEMA_TEXT))


@functools.cache
def _schema_validator() -> Any:
    """The jsonschema validator of the plan schema, built on first need (invalid plans only)."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    def ecma_pattern(validator: Any, pattern: str, instance: object, schema: Any) -> Iterator[ValidationError]:
        if type(instance) is str and ecma_regex(pattern).search(instance) is None:
            yield ValidationError(f"{show(instance)} does not match {pattern!r}")

    # Integers are exactly int: jsonschema's default also takes 1.0, which the engine would choke on.
    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: type(value) is int)
    validator_class = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": ecma_pattern}, type_checker=checker
    )
    return validator_class(_SCHEMA)


def check_schema(data: dict[str, Any], report: Report) -> None:
    """Report what the schema refuses (`data` passed `check_plain`)."""
    if _FAST_CHECK(data):
        return
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: path_key(e.absolute_path))
    for error in errors:
        section, index, rest = report.at(list(error.absolute_path))
        report.add(section, index, _describe(error, section, rest))


_SUBJECTS: Final = {"": "the plan", "steps": "the step", "triggers": "the trigger"}
_PATTERN_HINTS: Final = {
    r"\S": "{name} must not be empty or blank",
    "^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$": (
        "{name}: {value} is not a runner label; use letters, digits and '_', '.', ':', '/', '-' (up to 63)"
    ),
    "^[a-z0-9][a-z0-9_-]*$": (
        "step id {value} is invalid; use lowercase letters, digits, '-' and '_', starting with a letter or digit"
    ),
    "^[A-Za-z_][A-Za-z0-9_]*$": (
        "{name}: {value} is not a valid variable name; use letters, digits and '_', not starting with a digit"
    ),
    "^[A-Za-z_][A-Za-z0-9_-]*$": (
        "{name}: {value} is not a valid input name; use letters, digits, '_' and '-', not starting with a digit"
    ),
}


def _shape(section: str, rest: Sequence[str | int]) -> tuple[str | int, ...]:
    return (section, "#", *rest) if section else tuple(rest)


def _tailored(error: ValidationError, section: str, rest: Sequence[str | int]) -> str | None:
    """Messages for the schema rules that carry the plan-level checks."""
    shape, keyword, count = _shape(section, rest), error.validator, _length(error.instance)
    if shape == ("steps",) and keyword == "minItems":
        return "the plan has no steps; add at least one Step"
    if shape == ("steps",) and keyword == "maxItems":
        return f"the plan has {count} steps; at most {MAX_STEPS} are allowed, split the workflow"
    if shape == ("steps", "#", "depends_on") and keyword == "maxItems":
        return f"depends_on lists {count} steps; at most {MAX_DEPENDS_ON} are allowed"
    if shape == ("name",) and keyword == "pattern":
        return "the plan name is empty; give the Plan a name"
    if shape == ("version",) and keyword in ("const", "type"):
        return f"version must be 1 (the plan format this Plue reads), not {kind_of(error.instance)}"
    return None


def _length(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _describe(error: ValidationError, section: str, rest: Sequence[str | int]) -> str:
    """A readable sentence for one jsonschema error (never schema internals)."""
    tailored = _tailored(error, section, rest)
    if tailored is not None:
        return tailored
    name = field_text(rest) or _SUBJECTS[section]
    prefix = f"{field_text(rest)}: " if rest else ""
    keyword = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if keyword == "type":
        wanted = [expected] if type(expected) is str else list(expected)
        return f"{name} must be {' or '.join(TYPE_NAMES[t] for t in wanted)}, not {kind_of(value)}"
    if keyword == "required":
        missing = [key for key in expected if key not in value]
        return f"{prefix}{quoted(missing)} {'is' if len(missing) == 1 else 'are'} required"
    if keyword == "additionalProperties":
        return prefix + _unknown_keys(error, value)
    if keyword in ("enum", "const"):
        return _not_one_of(name, [expected] if keyword == "const" else list(expected), value)
    if keyword == "pattern":
        hint = _PATTERN_HINTS.get(expected, "{name} {value} does not match " + repr(expected))
        return hint.format(name=name, value=show(value))
    if keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        unit = (" second" if expected == 1 else " seconds") if name.endswith(("timeout", "backoff")) else ""
        return f"{name} must be {bound} {expected}{unit}, not {show(value)}"
    if keyword == "minItems":
        return f"{name} must not be an empty list; use null instead"
    if keyword == "maxItems":
        return f"{name} has {_length(value)} items; at most {expected} are allowed"
    if keyword == "uniqueItems":
        return f"{name} lists {_first_repeat(value)} more than once"
    if keyword in ("oneOf", "anyOf"):
        # Our schema describes each combinator in words; otherwise use the most relevant branch.
        schema: Any = error.schema
        if "description" in schema:
            return prefix + str(schema["description"])
        from jsonschema.exceptions import best_match

        best = best_match(error.context or [])
        return _describe(best, section, [*rest, *best.relative_path])
    return f"{prefix}{error.message[:200]}"


def _unknown_keys(error: ValidationError, value: dict[str, Any]) -> str:
    schema: Any = error.schema
    known = list(schema.get("properties", {}))
    extra = sorted(key for key in value if key not in known)
    if len(extra) == 1:
        close = difflib.get_close_matches(extra[0][:100], known, n=1, cutoff=0.6)
        if close:
            return f"unknown key {show(extra[0])}; did you mean {close[0]!r}?"
    keys = "key" if len(extra) == 1 else "keys"
    return f"unknown {keys} {quoted(extra[:5])}; the keys here are: {', '.join(known)}"


def _not_one_of(name: str, allowed: list[Any], value: object) -> str:
    if len(allowed) == 1:
        return f"{name} must be {show(allowed[0])}, not {kind_of(value)}"
    if len(allowed) <= 8:
        return f"{name} must be one of {', '.join(map(show, allowed))}; not {kind_of(value)}"
    close = difflib.get_close_matches(value[:100], allowed, n=1) if type(value) is str else []
    hint = f"; did you mean {close[0]!r}?" if close else f" ({len(allowed)} values are accepted)"
    return f"{name}: {kind_of(value)} is not an accepted value{hint}"


def _first_repeat(items: list[Any]) -> str:
    seen: set[str] = set()
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return show(item)
        seen.add(key)
    return "an item"
