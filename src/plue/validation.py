"""Plan checks: the published JSON Schema, then the rules a schema cannot express.

`validate_plan` takes plan data from anywhere (a sandbox result, a stored row, a
hostile hand-made dict) and returns every problem it finds, in a stable order:
grouped by place (the whole plan, then each step, then each trigger), and within
a place schema problems first, then the other checks in order. It never raises.

1. Plain data: only dict/list/str/int/float/bool/None, string keys, finite
   numbers, UTF-8-encodable text, at most 64 levels deep. Anything else makes
   the rest unsafe to check, so it is reported alone.
2. JSON Schema (``schemas/plan.schema.json``, draft 2020-12, via jsonschema).
   jsonschema costs milliseconds on a 10-step plan (and 0.2 s to import), so a
   predicate compiled from the same schema at import answers first; only when
   it says "invalid" is jsonschema loaded (once) to produce the errors. The
   predicate is conservative: it may send a valid plan to jsonschema, never let
   an invalid one through.
3. Step ids unique; ``depends_on`` names existing other steps; no cycles.
4. ``{{ steps.ID.... }}`` references are well formed and point upstream.
5. Triggers: cron expressions, time zones, manual input defaults, duplicates.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, cast
from zoneinfo import ZoneInfo

from plue.plan import Plan

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = [
    "MAX_DEPENDS_ON",
    "MAX_STEPS",
    "PlanInvalid",
    "Problem",
    "check_plan",
    "plan_schema",
    "validate_plan",
]

MAX_MESSAGE: Final = 300
MAX_PROBLEMS: Final = 100  # past this, one summary line: a broken plan needs its first errors fixed
MAX_DEPTH: Final = 64  # real plans are < 40 deep (plan.py caps free-form data at 32 levels)
MAX_VALUES: Final = 2_000_000  # the sandbox caps plans at 4 MB, far fewer values than this
_SUGGEST_BUDGET: Final = 50  # difflib is slow; hostile plans can have a million unknown names


# --- public API -----------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan."""

    message: str
    where: str = ""  # "steps[2] (build)", "triggers[0]", or "" for the whole plan

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class PlanInvalid(ValueError):
    """A plan failed validation; ``.problems`` lists every problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __reduce__(self) -> tuple[type[PlanInvalid], tuple[list[Problem]]]:
        # Runners pass exceptions between processes; the default would rebuild from the message.
        return (PlanInvalid, (self.problems,))


def validate_plan(data: object) -> list[Problem]:
    """Every problem of the plan data, or [] when it is valid. Never raises."""
    report = _Report(data)
    try:
        _validate(data, report)
    except Exception as exc:  # the contract is "never raise"; the fuzz tests keep this path unused
        report.add("", 0, f"internal error while validating ({type(exc).__name__}); please report it")
    return report.problems()


def check_plan(data: object) -> dict[str, Any]:
    """Return the plan data unchanged if it is valid, else raise `PlanInvalid`."""
    problems = validate_plan(data)
    if problems:
        raise PlanInvalid(problems)
    return cast(dict[str, Any], data)


def plan_schema() -> dict[str, Any]:
    """A fresh copy of the plan JSON Schema."""
    return cast(dict[str, Any], json.loads(_SCHEMA_TEXT))


def _validate(data: object, report: _Report) -> None:
    if type(data) is not dict:
        hint = "; pass plan.to_data()" if isinstance(data, Plan) else ""
        report.add("", 0, f"the plan must be a JSON object (a dict), not {_kind(data)}{hint}")
        return
    if not _check_plain(data, report):
        return  # not plain data: the other checks could misbehave on it
    _check_schema(data, report)
    steps = _index_steps(data)
    _check_ids(steps, report)
    _check_depends_on(steps, report)
    _check_cycles(steps, report)
    _check_references(data, steps, report)
    _check_triggers(data, report)


# --- collecting problems --------------------------------------------------

_SECTIONS: Final = {"": 0, "steps": 1, "triggers": 2}
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}\Z")


@dataclass
class _Report:
    """The problems found so far, each with its place; `problems()` orders them."""

    data: object
    found: list[tuple[int, int, Problem]] = field(default_factory=list)
    suggestions_left: int = _SUGGEST_BUDGET

    def add(self, section: str, index: int, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        where = self._where(section, index)
        self.found.append((_SECTIONS[section], index, Problem(message, where)))

    def at(self, path: Sequence[str | int]) -> tuple[str, int, list[str | int]]:
        """Split a JSON path into its place (section, index) and the field inside it."""
        if len(path) >= 2 and path[0] in ("steps", "triggers") and type(path[1]) is int:
            return str(path[0]), path[1], list(path[2:])
        return "", 0, list(path)

    def suggest(self, word: str, candidates: Sequence[str]) -> str:
        """ "; did you mean 'x'?" for a close candidate, or "" (within a budget: difflib is slow)."""
        if self.suggestions_left <= 0 or len(word) > 100:
            return ""
        self.suggestions_left -= 1
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        return f"; did you mean {close[0]!r}?" if close else ""

    def problems(self) -> list[Problem]:
        ordered = sorted(self.found, key=lambda item: (item[0], item[1]))  # stable: keeps check order
        unique = list(dict.fromkeys(problem for _, _, problem in ordered))
        if len(unique) > MAX_PROBLEMS:
            hidden = len(unique) - (MAX_PROBLEMS - 1)
            unique = [*unique[: MAX_PROBLEMS - 1], Problem(f"… and {hidden} more problems")]
        return unique

    def _where(self, section: str, index: int) -> str:
        if not section:
            return ""
        where = f"{section}[{index}]"
        if section == "steps" and type(self.data) is dict:
            steps = self.data.get("steps")
            step = steps[index] if type(steps) is list and index < len(steps) else None
            step_id = step.get("id") if type(step) is dict else None
            if type(step_id) is str:
                where += f" ({_id_text(step_id)})"
        return where


def _id_text(step_id: str) -> str:
    return step_id if _NAME_RE.match(step_id) else _show(step_id)


def _show(value: object) -> str:
    """A short, safe rendering of a value for a message."""
    if type(value) is str:
        return repr(value[:60]) + ("…" if len(value) > 60 else "")
    if value is None or type(value) is bool:
        return json.dumps(value)
    if type(value) is int:
        return str(value) if value.bit_length() <= 64 else "a very large number"
    if type(value) is float:
        return repr(value)
    return _container(value) or type(value).__name__


def _kind(value: object) -> str:
    """What a value is, for "must be X, not <kind>"."""
    if type(value) is str:
        return f"the string {_show(value)}"
    if type(value) in (int, float):
        return f"the number {_show(value)}"
    if value is None or type(value) is bool:
        return _show(value)
    name = type(value).__name__
    return _container(value) or f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _container(value: object) -> str:
    return "a list" if type(value) is list else "an object" if type(value) is dict else ""


def _field(path: Sequence[str | int]) -> str:
    """A field path for messages: env.TOKEN, inputs.files[0], env['not a name']."""
    text = ""
    for part in path:
        if type(part) is int:
            text += f"[{part}]"
        elif _NAME_RE.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{_show(part)}]"
    return text


def _quoted(names: Sequence[str]) -> str:
    """'a', 'b' and 'c'."""
    shown = [_show(name) for name in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


# --- 1. plain data ---------------------------------------------------------

_INT64: Final = range(-(2**63), 2**63)  # SQLite, the default store, keeps no wider integers


def _check_plain(data: dict[str, Any], report: _Report) -> bool:
    """Report values that are not plain JSON data; False if the other checks must not run.

    Beyond the JSON types (exact types, so no subclass can change how a value
    behaves), plan data must be at most 64 levels deep and at most 2 million
    values as JSON. Shared containers are fine, but a container inside itself
    is not, and neither is sharing that would make the JSON huge.
    """
    if _plain_ok(data):
        return True
    bad = _plain_problems(data)  # the careful walk: it may find only harmless sharing
    for path, problem in bad:
        section, index, rest = report.at(path)
        report.add(section, index, f"{_field(rest) or 'the plan'} {problem}")
    return not bad


def _plain_ok(data: dict[str, Any]) -> bool:
    """The fast yes of `_plain_problems` for trees (no container twice), without keeping paths."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen: set[int] = set()
    budget = MAX_VALUES
    while stack:
        value, depth = stack.pop()
        if depth >= MAX_DEPTH or id(value) in seen:
            return False
        seen.add(id(value))
        if type(value) is dict:
            for key in value:
                if type(key) is not str or (not key.isascii() and _text_problem(key)):
                    return False
            value = value.values()
        budget -= len(value)
        if budget < 0:
            return False
        for item in value:
            kind = type(item)
            if kind is str:
                if not item.isascii() and _text_problem(item):
                    return False
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is not bool and item is not None and _scalar_problem(item):
                return False
    return True


_Path = tuple[str | int, ...]


def _plain_problems(data: object) -> list[tuple[_Path, str]]:
    """Every value that breaks the plain-data rules, with its path, in document order.

    Iterative and post-order: each container is entered once, and leaving it
    records its size and height as JSON, so shared containers are measured,
    not walked again (an exponential "bomb" of shared lists stays cheap).
    """
    bad: list[tuple[_Path, str]] = []
    measured: dict[int, tuple[int, int]] = {}  # id -> (values, height) as JSON
    entered: set[int] = set()  # containers on the current path
    stack: list[tuple[Any, _Path, bool]] = [(data, (), False)]
    work = MAX_VALUES
    while stack and len(bad) < MAX_PROBLEMS and work > 0:
        value, path, leaving = stack.pop()
        work -= 1
        if leaving:
            entered.discard(id(value))
            measured[id(value)] = _measure(value, measured)
        elif type(value) is dict or type(value) is list:
            problem = _container_problem(value, path, measured, entered)
            if problem is not None:
                bad.append((path, problem))
            elif id(value) not in measured:
                entered.add(id(value))
                stack.append((value, path, True))
                stack.extend(_children(value, path, bad))
        elif (problem := _scalar_problem(value)) is not None:
            bad.append((path, problem))
    if work <= 0 or measured.get(id(data), (0, 0))[0] > MAX_VALUES:
        bad.append(((), f"holds more than {MAX_VALUES} values as JSON; it is far too large"))
    return sorted(bad, key=lambda item: _path_key(item[0]))


def _container_problem(value: Any, path: _Path, measured: dict[int, tuple[int, int]], entered: set[int]) -> str | None:
    if id(value) in entered:
        return "contains itself; plan data cannot be circular"
    height = measured.get(id(value), (0, 1))[1]
    if len(path) + height > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return None


def _children(value: Any, path: _Path, bad: list[tuple[_Path, str]]) -> Iterator[tuple[Any, _Path, bool]]:
    if type(value) is list:
        yield from ((item, (*path, index), False) for index, item in enumerate(value))
        return
    for key, item in value.items():
        if type(key) is not str:
            bad.append((path, f"has a key that is not a string ({_kind(key)})"))
        elif (problem := _text_problem(key)) is not None:
            bad.append((path, f"has a key that {problem}"))
        else:
            yield item, (*path, key), False


def _measure(value: Any, measured: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(values, height) of a container as JSON, from its measured children."""
    size, height = len(value), 0
    for item in value.values() if type(value) is dict else value:
        if type(item) is dict or type(item) is list:
            child_size, child_height = measured.get(id(item), (0, 0))
            size, height = size + child_size, max(height, child_height)
    return size, height + 1


def _scalar_problem(value: object) -> str | None:
    kind = type(value)
    if kind is str:
        return _text_problem(cast(str, value))
    if kind is float:
        return None if math.isfinite(cast(float, value)) else f"is {value!r}; JSON has no such number"
    if kind is int:
        return None if value in _INT64 else "is a number too large for plan data (over 64 bits)"
    if value is None or kind is bool:
        return None
    return f"is {_kind(value)}, not plain JSON data (dict, list, str, int, float, bool, None)"


def _text_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that is not valid Unicode (a lone surrogate)"
    return None


def _path_key(path: Sequence[str | int]) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, part) if type(part) is int else (1, part) for part in path)


# --- 2. the JSON Schema ----------------------------------------------------

_SCHEMA_TEXT: Final = (resources.files("plue") / "schemas" / "plan.schema.json").read_text("utf-8")
_SCHEMA: Final[dict[str, Any]] = json.loads(_SCHEMA_TEXT)
MAX_STEPS: Final[int] = _SCHEMA["properties"]["steps"]["maxItems"]
MAX_DEPENDS_ON: Final[int] = _SCHEMA["$defs"]["common_step_properties"]["properties"]["depends_on"]["maxItems"]


@functools.lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    """Compile a schema pattern with ECMA-262 semantics for a final ``$``.

    In JSON Schema (ECMA-262) ``$`` matches only at the very end; Python's also
    matches before a final newline, which would let "build\\n" pass as a step id.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


@functools.cache
def _schema_validator() -> Any:
    """The jsonschema validator of the plan schema, built on first need (invalid plans only)."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    def ecma_pattern(validator: Any, pattern: str, instance: object, schema: Any) -> Iterator[ValidationError]:
        if type(instance) is str and _regex(pattern).search(instance) is None:
            yield ValidationError(f"{_show(instance)} does not match {pattern!r}")

    # Integers are exactly int: jsonschema's default also takes 1.0, which the engine would choke on.
    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: type(value) is int)
    validator_class = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": ecma_pattern}, type_checker=checker
    )
    return validator_class(_SCHEMA)


def _check_schema(data: dict[str, Any], report: _Report) -> None:
    if _FAST_CHECK(data):
        return
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: _path_key(e.absolute_path))
    for error in errors:
        section, index, rest = report.at(list(error.absolute_path))
        report.add(section, index, _describe(error, section, rest))


_SUBJECTS: Final = {"": "the plan", "steps": "the step", "triggers": "the trigger"}
_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_PATTERN_HINTS: Final = {
    r"\S": "{name} must not be empty or blank",
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
        return f"version must be 1 (the plan format this Plue reads), not {_kind(error.instance)}"
    return None


def _length(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _describe(error: ValidationError, section: str, rest: Sequence[str | int]) -> str:
    """A readable sentence for one jsonschema error (never schema internals)."""
    tailored = _tailored(error, section, rest)
    if tailored is not None:
        return tailored
    name = _field(rest) or _SUBJECTS[section]
    prefix = f"{_field(rest)}: " if rest else ""
    keyword = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if keyword == "type":
        wanted = [expected] if type(expected) is str else list(expected)
        return f"{name} must be {' or '.join(_TYPE_NAMES[t] for t in wanted)}, not {_kind(value)}"
    if keyword == "required":
        missing = [key for key in expected if key not in value]
        return f"{prefix}{_quoted(missing)} {'is' if len(missing) == 1 else 'are'} required"
    if keyword == "additionalProperties":
        return prefix + _unknown_keys(error, value)
    if keyword in ("enum", "const"):
        return _not_one_of(name, [expected] if keyword == "const" else list(expected), value)
    if keyword == "pattern":
        hint = _PATTERN_HINTS.get(expected, "{name} {value} does not match " + repr(expected))
        return hint.format(name=name, value=_show(value))
    if keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        unit = (" second" if expected == 1 else " seconds") if name.endswith(("timeout", "backoff")) else ""
        return f"{name} must be {bound} {expected}{unit}, not {_show(value)}"
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
            return f"unknown key {_show(extra[0])}; did you mean {close[0]!r}?"
    keys = "key" if len(extra) == 1 else "keys"
    return f"unknown {keys} {_quoted(extra[:5])}; the keys here are: {', '.join(known)}"


def _not_one_of(name: str, allowed: list[Any], value: object) -> str:
    if len(allowed) == 1:
        return f"{name} must be {_show(allowed[0])}, not {_kind(value)}"
    if len(allowed) <= 8:
        return f"{name} must be one of {', '.join(map(_show, allowed))}; not {_kind(value)}"
    close = difflib.get_close_matches(value[:100], allowed, n=1) if type(value) is str else []
    hint = f"; did you mean {close[0]!r}?" if close else f" ({len(allowed)} values are accepted)"
    return f"{name}: {_kind(value)} is not an accepted value{hint}"


def _first_repeat(items: list[Any]) -> str:
    seen: set[str] = set()
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return _show(item)
        seen.add(key)
    return "an item"


# --- 2b. the fast path: the schema compiled to plain predicates ------------

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

    Exact types are safe because `_check_plain` ran first. Any other keyword
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
            return _typed_pattern(value, _regex(schema["pattern"]))
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
        regex = _regex(value)
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


_FAST_CHECK: Final = _Compiler(_SCHEMA).compile(_SCHEMA)


# --- 3. step ids, depends_on, cycles --------------------------------------


@dataclass
class _Steps:
    """The plan's steps as far as they are readable, by position."""

    items: list[dict[str, Any] | None]  # None where the step is not an object
    ids: list[str | None]  # None where the id is missing or not a string
    first: dict[str, int]  # id -> the first position that uses it
    edges: list[list[int]] = field(default_factory=list)  # position -> its dependencies
    _components: list[list[int]] | None = None

    def components(self) -> list[list[int]]:
        """Strongly connected components of the dependency graph, dependencies first."""
        if self._components is None:
            # Usual case: every step lists only earlier steps, so plan order is a topological order.
            if all(dep < node for node, deps in enumerate(self.edges) for dep in deps):
                self._components = [[node] for node in range(len(self.edges))]
            else:
                self._components = _components(self.edges)
        return self._components


def _index_steps(data: dict[str, Any]) -> _Steps:
    raw = data.get("steps")
    items = [s if type(s) is dict else None for s in raw] if type(raw) is list else []
    ids = [s.get("id") if s is not None and type(s.get("id")) is str else None for s in items]
    first: dict[str, int] = {}
    for index, step_id in enumerate(ids):
        if step_id is not None:
            first.setdefault(step_id, index)
    return _Steps(items, ids, first, [[] for _ in items])


def _check_ids(steps: _Steps, report: _Report) -> None:
    for index, step_id in enumerate(steps.ids):
        if step_id is not None and steps.first[step_id] != index:
            report.add(
                "steps",
                index,
                f"step id {_show(step_id)} is also used by steps[{steps.first[step_id]}]; step ids must be unique",
            )


def _check_depends_on(steps: _Steps, report: _Report) -> None:
    """Report bad entries and fill `steps.edges` with the good ones."""
    known = list(steps.first)
    for index, step in enumerate(steps.items):
        deps = step.get("depends_on") if step is not None else None
        if type(deps) is not list:
            continue
        for dep in deps:
            if type(dep) is not str:
                continue
            if dep == steps.ids[index]:
                report.add("steps", index, f"depends_on lists the step itself ({_show(dep)}); remove it")
            elif dep not in steps.first:
                hint = report.suggest(dep, known)
                report.add("steps", index, f"depends_on names {_show(dep)}, but no step has that id{hint}")
            else:
                steps.edges[index].append(steps.first[dep])


def _check_cycles(steps: _Steps, report: _Report) -> None:
    for component in steps.components():
        if len(component) < 2:
            continue
        members = set(component)
        start = min(component)  # the cycle's first step in plan order
        cycle = _shortest_cycle(start, steps.edges, members)
        names = [_id_text(steps.ids[i] or f"steps[{i}]") for i in cycle]
        shown = names if len(names) <= 8 else [*names[:4], f"… {len(names) - 7} more …", *names[-3:]]
        others = len(members) - len(cycle)
        more = f"; {others} more steps are caught in the same loop" if others else ""
        report.add(
            "steps",
            start,
            f"dependency cycle: {' -> '.join([*shown, names[0]])} (each step depends on the next);"
            f" remove one of these dependencies{more}",
        )


def _components(edges: list[list[int]]) -> list[list[int]]:
    """Strongly connected components (Tarjan, iterative), dependencies first."""
    order = [-1] * len(edges)
    low = [0] * len(edges)
    on_stack = [False] * len(edges)
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if order[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, next_edge = work[-1]
            if order[node] == -1:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if next_edge < len(edges[node]):
                work[-1] = (node, next_edge + 1)
                target = edges[node][next_edge]
                if order[target] == -1:
                    work.append((target, 0))
                elif on_stack[target]:
                    low[node] = min(low[node], order[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _shortest_cycle(start: int, edges: list[list[int]], members: set[int]) -> list[int]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    came_from: dict[int, int] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in edges[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if target in members and target not in came_from:
                came_from[target] = node
                queue.append(target)
    return [start]  # unreachable for a real component


def _ancestors(edges: list[list[int]], components: list[list[int]]) -> list[int]:
    """Each step's transitive dependencies as a bit set (bit i = steps[i])."""
    masks = [0] * len(edges)
    for component in components:  # dependencies come first
        members = set(component)
        mask = 0
        for node in component:
            for dep in edges[node]:
                mask |= (1 << dep) | (0 if dep in members else masks[dep])
        for node in component:
            masks[node] = mask
    return masks


# --- 4. output references -------------------------------------------------

_TEMPLATE_RE: Final = re.compile(r"\{\{([^{}]*)\}\}")  # no nested braces: linear on any input
_OUTPUT_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_REFERENCE_FORMS: Final = (
    "use steps.ID.outputs.NAME, steps.ID.exit_code, or steps.ID.text / steps.ID.output (llm steps)"
)
_TEMPLATED: Final = {"bash": ("cmd",), "python": ("script",), "llm": ("prompt",)}


def _references(text: str) -> Iterator[str]:
    """The ``steps.…`` expressions of the templates in a string."""
    for match in _TEMPLATE_RE.finditer(text):
        expression = match.group(1).strip()
        if expression.startswith("steps."):
            yield expression


def _parse_reference(expression: str) -> tuple[str, str] | str:
    """(step id, attribute) of a reference, or why it is malformed."""
    parts = expression.split(".")
    shown = "{{ " + expression[:80] + " }}"
    if len(parts) == 4 and parts[2] == "outputs" and _OUTPUT_NAME_RE.match(parts[3]) and parts[1]:
        return parts[1], "outputs"
    if len(parts) == 3 and parts[2] == "outputs" and parts[1]:
        return f"{shown} needs an output name: {{{{ steps.{parts[1][:40]}.outputs.NAME }}}}"
    if len(parts) == 3 and parts[1] and parts[2] in ("exit_code", "text", "output"):
        return parts[1], parts[2]
    return f"{shown} is not a valid step reference; {_REFERENCE_FORMS}"


def _type_text(step_type: object) -> str:
    return step_type if type(step_type) is str and step_type in _TEMPLATED else _show(step_type)


def _templated_strings(step: dict[str, Any]) -> Iterator[tuple[list[str | int], str]]:
    """(path, text) for every string of a step that the engine renders and that has a template."""
    step_type = step.get("type")
    for name in _TEMPLATED.get(step_type, ()) if type(step_type) is str else ():
        text = step.get(name)
        if type(text) is str and "{{" in text:
            yield [name], text
    env = step.get("env")
    if type(env) is dict:
        for key, text in env.items():
            if type(text) is str and "{{" in text:
                yield ["env", key], text
    if step.get("type") == "llm" and type(step.get("inputs")) is dict:
        yield from _nested_strings(step["inputs"], ["inputs"])


def _nested_strings(value: object, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    stack: list[tuple[object, list[str | int]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if type(item) is str:
            if "{{" in item:
                yield where, item
        elif type(item) is dict:
            stack.extend((v, [*where, k]) for k, v in reversed(item.items()))
        elif type(item) is list:
            stack.extend((v, [*where, i]) for i, v in reversed(list(enumerate(item))))


def _check_references(data: dict[str, Any], steps: _Steps, report: _Report) -> None:
    env = data.get("env")
    if type(env) is dict:
        for key, value in env.items():
            for expression in _references(value) if type(value) is str else ():
                report.add(
                    "",
                    0,
                    f"{_field(['env', key])} refers to {expression[:80]}, but the plan's env is"
                    " shared by every step; set it in the env of the steps that use it",
                )
    ancestors: list[int] | None = None  # computed on the first reference
    for index, step in enumerate(steps.items):
        for path, text in _templated_strings(step) if step is not None else ():
            for expression in _references(text):
                if ancestors is None:
                    ancestors = _ancestors(steps.edges, steps.components())
                _check_reference(index, _field(path), expression, steps, ancestors, report)


def _check_reference(
    index: int, where: str, expression: str, steps: _Steps, ancestors: list[int], report: _Report
) -> None:
    parsed = _parse_reference(expression)
    if isinstance(parsed, str):
        report.add("steps", index, f"{where}: {parsed}")
        return
    target_id, attribute = parsed
    shown = expression[:80]
    own = _id_text(steps.ids[index] or f"steps[{index}]")
    target = steps.first.get(target_id)
    if target is None:
        hint = report.suggest(target_id, list(steps.first))
        report.add("steps", index, f"{where} refers to {shown}, but no step has that id{hint}")
        return
    if target == index:
        report.add(
            "steps",
            index,
            f"{where} refers to {shown}, the step's own result; a step can only use results of the steps it depends on",
        )
        return
    target_step = steps.items[target] or {}
    if attribute in ("text", "output") and target_step.get("type") != "llm":
        report.add(
            "steps",
            index,
            f"{where} refers to {shown}, but .{attribute} exists only for llm steps and"
            f" {_show(target_id)} is a {_type_text(target_step.get('type'))} step;"
            f" use steps.{_id_text(target_id)}.outputs.NAME",
        )
    if not ancestors[index] >> target & 1:
        report.add(
            "steps",
            index,
            f"{where} refers to {shown} but {_show(target_id)} is not upstream of {_show(own)}; add it to depends_on",
        )


# --- 5. triggers ------------------------------------------------------------

_INPUT_FITS: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "choice": (str,),
}


def _check_triggers(data: dict[str, Any], report: _Report) -> None:
    triggers = data.get("triggers")
    if type(triggers) is not list:
        return
    by_event: dict[str, list[int]] = {}
    for index, trigger in enumerate(triggers):
        if type(trigger) is not dict:
            continue
        event = trigger.get("event")
        if event == "schedule":
            _check_schedule(index, trigger, report)
        elif event == "manual" and type(trigger.get("inputs")) is dict:
            for name, spec in trigger["inputs"].items():
                if type(spec) is dict:
                    _check_manual_input(index, _field(["inputs", name]), spec, report)
        if type(event) is str:
            by_event.setdefault(event, []).append(index)
    for indexes in by_event.values():
        if len(indexes) > 1:  # only repeated events can hold duplicates; serialising is not free
            _check_duplicate_triggers([(index, triggers[index]) for index in indexes], report)


_SORTED_JSON: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _check_duplicate_triggers(triggers: list[tuple[int, dict[str, Any]]], report: _Report) -> None:
    seen: dict[str, int] = {}
    for index, trigger in triggers:
        key = _SORTED_JSON.encode(trigger)  # JSON, not ==: True == 1 in Python
        if key in seen:
            report.add("triggers", index, f"this trigger is the same as triggers[{seen[key]}]; remove one")
        seen.setdefault(key, index)


def _check_schedule(index: int, trigger: dict[str, Any], report: _Report) -> None:
    cron, tz = trigger.get("cron"), trigger.get("tz")
    if type(cron) is str and cron.strip():
        fields = cron.split()
        if len(fields) != 5:
            report.add(
                "triggers",
                index,
                f"cron {_show(cron)} must have 5 fields (minute hour day month weekday), not {len(fields)}",
            )
        elif not _cron_is_valid(cron):
            report.add("triggers", index, f"cron {_show(cron)} is not a valid cron expression")
    if type(tz) is str and tz.strip() and not _zone_exists(tz):
        hint = report.suggest(tz, sorted(_zone_names())) if len(tz) <= 64 else ""
        report.add("triggers", index, f"tz {_show(tz)} is not a known IANA time zone{hint}")


@functools.lru_cache(maxsize=4096)  # croniter takes ~80 us; the same crons come back every scan
def _cron_is_valid(cron: str) -> bool:
    from croniter import croniter  # only plans with a schedule need it (30 ms to import)

    try:
        return bool(croniter.is_valid(cron))
    except Exception:  # croniter raises assorted errors on odd input
        return False


def _zone_exists(tz: str) -> bool:
    try:
        ZoneInfo(tz)
    except Exception:  # zoneinfo raises KeyError, ValueError, OSError, ...
        return False
    return True


@functools.cache
def _zone_names() -> frozenset[str]:
    # Only on the error path: listing the zone database reads the disk.
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def _check_manual_input(index: int, name: str, spec: dict[str, Any], report: _Report) -> None:
    kind, default, options = spec.get("type"), spec.get("default"), spec.get("options")
    if type(kind) is not str:
        return  # the schema reported it
    if kind == "choice" and options is None:
        report.add("triggers", index, f"{name} is a choice input without options; add options=[...]")
    elif kind != "choice" and options is not None:
        report.add("triggers", index, f"{name} has options, which only a 'choice' input may have")
    if default is None or kind not in _INPUT_FITS:
        return
    if type(default) not in _INPUT_FITS[kind]:
        report.add(
            "triggers",
            index,
            f"{name}: the default {_kind(default)} does not fit type {kind!r};"
            f" give {_TYPE_NAMES.get(kind, 'a string')} or null",
        )
    elif kind == "choice" and type(options) is list and default not in options:
        report.add("triggers", index, f"{name}: the default {_show(default)} is not one of the options")
