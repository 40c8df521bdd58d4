"""GitHub Actions filter patterns for branches, tags and paths.

The dialect (GitHub's "Filter pattern cheat sheet"):

- ``*`` matches any characters except ``/`` (possibly none);
- ``**`` matches any characters including ``/``; ``**/`` also matches nothing, so
  ``**/README.md`` matches ``README.md``;
- ``?`` and ``+`` are *quantifiers*: zero-or-one and one-or-more of the preceding
  character (or ``[...]`` class) — ``*.jsx?`` matches ``page.js`` and ``page.jsx``;
- ``[...]`` matches one character listed or in a range; only letters and digits, and
  ranges within ``a-z``, ``A-Z`` or ``0-9``;
- ``\\`` escapes the next character, for a literal ``*``, ``?``, ``+``, ``[``, ``!`` or ``\\``;
- ``!`` at the start negates; patterns are evaluated in order and the last one that
  matches decides, so ``['releases/**', '!releases/**-alpha']`` works.

No library implements this dialect (fnmatch, glob, pathspec and wcmatch all read ``?``
as "one character" and know nothing of ``+``), so the translation to a regular
expression is written by hand here.

A list needs at least one positive pattern, as GitHub requires: a list made only of
``!`` patterns could never include anything, so it is rejected with a hint to start it
with ``'**'``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from plue.events.errors import EventError, quote

MAX_PATTERN_LENGTH = 1000


@dataclass(frozen=True)
class Pattern:
    """One compiled filter pattern."""

    text: str  # as written, with its leading '!' if negative
    negative: bool
    regex: re.Pattern[str]

    def matches(self, name: str) -> bool:
        """Whether the pattern (ignoring its negation) matches the whole of `name`."""
        return self.regex.fullmatch(name) is not None


@dataclass(frozen=True)
class Decision:
    """The outcome of a filter for one name: included or not, and the pattern that decided."""

    included: bool
    pattern: str | None  # the last pattern that matched; None when none did


@dataclass(frozen=True)
class PatternFilter:
    """An ordered list of patterns; the last matching pattern decides."""

    patterns: tuple[Pattern, ...]

    @property
    def texts(self) -> list[str]:
        """The patterns as written."""
        return [pattern.text for pattern in self.patterns]

    def decide(self, name: str) -> Decision:
        """Whether `name` passes the filter, and which pattern decided it."""
        decision = Decision(False, None)
        for pattern in self.patterns:
            if pattern.matches(name):
                decision = Decision(not pattern.negative, pattern.text)
        return decision


def compile_filter(patterns: Sequence[str], what: str) -> PatternFilter:
    """Compile a list of patterns; `what` (e.g. "branches") names it in error messages."""
    if isinstance(patterns, str) or not patterns:
        raise EventError(f"{what} must be a non-empty list of patterns")
    compiled = tuple(compile_pattern(text, what) for text in patterns)
    if all(pattern.negative for pattern in compiled):
        shown = quote([pattern.text for pattern in compiled])
        raise EventError(
            f"{what} {shown} has only '!' patterns, which can never match;"
            f" start the list with '**' to mean everything else (e.g. ['**', '!main'])"
        )
    return PatternFilter(compiled)


def compile_pattern(text: str, what: str = "pattern") -> Pattern:
    """Compile one pattern, raising `EventError` with the position of any mistake."""
    if type(text) is not str:
        raise EventError(f"{what}: each pattern must be a string, not {type(text).__name__}")
    return _compile_cached(text, what)


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str, what: str) -> Pattern:
    negative = text.startswith("!")
    body = text[1:] if negative else text
    if not body:
        raise EventError(f"{what}: pattern {quote(text)} is empty")
    if len(body) > MAX_PATTERN_LENGTH:
        raise EventError(f"{what}: pattern {quote(text)} is longer than {MAX_PATTERN_LENGTH}")
    try:
        regex = _translate(body)
    except _PatternMistake as mistake:
        column = mistake.position + (2 if negative else 1)
        raise EventError(f"{what}: pattern {quote(text)}: {mistake.message} at character {column}") from None
    return Pattern(text, negative, re.compile(regex, re.DOTALL))


class _PatternMistake(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _translate(body: str) -> str:
    """Pattern (without '!') -> regex source, matched with `fullmatch`."""
    parts: list[str] = []
    # A quantifier may follow a literal character or a [...] class, not a wildcard or
    # another quantifier (Python would read '*+' or '+?' as something else entirely).
    quantifiable = False
    pos = 0
    while pos < len(body):
        char = body[pos]
        if char == "*":
            pos, piece = _star(body, pos)
            parts.append(piece)
            quantifiable = False
        elif char in "?+":
            if not quantifiable:
                raise _PatternMistake(
                    f"'{char}' repeats the character before it, and there is none to repeat"
                    f" (write \\{char} for a literal '{char}')",
                    pos,
                )
            parts.append(char)
            pos += 1
            quantifiable = False
        elif char == "[":
            pos, piece = _char_class(body, pos)
            parts.append(piece)
            quantifiable = True
        elif char == "\\":
            if pos + 1 >= len(body):
                raise _PatternMistake("'\\' at the end escapes nothing", pos)
            parts.append(re.escape(body[pos + 1]))
            pos += 2
            quantifiable = True
        else:
            parts.append(re.escape(char))
            pos += 1
            quantifiable = True
    return "".join(parts)


def _star(body: str, pos: int) -> tuple[int, str]:
    """`*`, `**` or `**/` at `pos` -> (next position, regex piece)."""
    if body.startswith("**/", pos):
        # Zero or more whole directories: '**/x' matches 'x' and 'a/b/x'.
        return pos + 3, "(?:.*/)?"
    if body.startswith("**", pos):
        return pos + 2, ".*"
    return pos + 1, "[^/]*"


def _char_class(body: str, start: int) -> tuple[int, str]:
    """`[...]` at `start` -> (position after `]`, regex class)."""
    end = body.find("]", start + 1)
    if end == -1:
        raise _PatternMistake("'[' has no closing ']'", start)
    inside = body[start + 1 : end]
    if not inside:
        raise _PatternMistake("'[]' is empty", start)
    members: list[str] = []
    pos = 0
    while pos < len(inside):
        if pos + 2 < len(inside) and inside[pos + 1] == "-":
            low, high = inside[pos], inside[pos + 2]
            if not _valid_range(low, high):
                raise _PatternMistake(
                    f"range '{low}-{high}' must lie within a-z, A-Z or 0-9, low to high",
                    start + 1 + pos,
                )
            members.append(f"{low}-{high}")
            pos += 3
            continue
        char = inside[pos]
        if not (char.isascii() and char.isalnum()):
            raise _PatternMistake(f"'[...]' may only list letters, digits and ranges, not {char!r}", start + 1 + pos)
        members.append(char)
        pos += 1
    return end + 1, "[" + "".join(members) + "]"


def _valid_range(low: str, high: str) -> bool:
    for first, last in (("a", "z"), ("A", "Z"), ("0", "9")):
        if first <= low <= last and first <= high <= last:
            return low <= high
    return False
