"""Collecting problems and phrasing them: `Problem`, `PlanInvalid`, the `Report` the checks add to.

Every check adds to one `Report`, naming the place of each problem (the whole
plan, ``steps[i]`` or ``triggers[i]``); `Report.problems` orders them by place,
keeping the order of the checks within a place. The helpers below render values
and field paths for messages: short, safe on hostile data, never schema internals.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

MAX_MESSAGE: Final = 300
MAX_PROBLEMS: Final = 100  # past this, one summary line: a broken plan needs its first errors fixed
_SUGGEST_BUDGET: Final = 50  # difflib is slow; hostile plans can have a million unknown names


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


_SECTIONS: Final = {"": 0, "steps": 1, "triggers": 2}
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}\Z")


@dataclass
class Report:
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
                where += f" ({id_text(step_id)})"
        return where


def id_text(step_id: str) -> str:
    return step_id if _NAME_RE.match(step_id) else show(step_id)


def show(value: object) -> str:
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


def kind_of(value: object) -> str:
    """What a value is, for "must be X, not <kind>"."""
    if type(value) is str:
        return f"the string {show(value)}"
    if type(value) in (int, float):
        return f"the number {show(value)}"
    if value is None or type(value) is bool:
        return show(value)
    name = type(value).__name__
    return _container(value) or f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _container(value: object) -> str:
    return "a list" if type(value) is list else "an object" if type(value) is dict else ""


def field_text(path: Sequence[str | int]) -> str:
    """A field path for messages: env.TOKEN, inputs.files[0], env['not a name']."""
    text = ""
    for part in path:
        if type(part) is int:
            text += f"[{part}]"
        elif _NAME_RE.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{show(part)}]"
    return text


def quoted(names: Sequence[str]) -> str:
    """'a', 'b' and 'c'."""
    shown = [show(name) for name in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def path_key(path: Sequence[str | int]) -> tuple[tuple[int, int | str], ...]:
    """A sort key for JSON paths, whose parts mix list indexes and object keys (which do not compare)."""
    return tuple((0, part) if type(part) is int else (1, part) for part in path)


# JSON Schema type names as a message says them: "must be a whole number".
TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
