"""The tokenizer: handlebars.js's lexer (``handlebars.l``, 4.7.x), rule for rule.

The lexer is a stack of states (``INITIAL`` for text, ``mu`` inside a tag, ``emu``
after an escaped ``\\{{``, ``com`` inside a long comment, ``raw`` inside a raw
block); in each state the first rule, in order, that matches at the current
position wins. The patterns are the JavaScript ones with JavaScript's meaning
kept: ``\\s`` is JavaScript's whitespace class, ``.`` stops at line terminators
and ``$`` is the end of the input.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from plue.prompts.template.errors import TemplateError

_S: Final = "[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_ID: Final = '[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff!"#%-,./;->@\\[-\\^`{-~]'
_ID_END: Final = f"(?=[=~}}/.)|]|{_S})"  # what may follow an identifier, a literal, or a lone "."
_LITERAL_END: Final = f"(?=[~}})]|{_S})"
_LINE_BREAK_RE: Final = re.compile(r"\r\n?|\n")


_IDENTIFIER_CHAR_RE: Final = re.compile(_ID)


def is_identifier_char(char: str) -> bool:
    return _IDENTIFIER_CHAR_RE.fullmatch(char) is not None


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    offset: int  # where the token's text starts in the template


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    action: Callable[[Lexer, str], str | None]  # returns the token kind, or None to skip


def _begin(state: str, kind: str | None) -> Callable[[Lexer, str], str | None]:
    def action(lexer: Lexer, text: str) -> str | None:
        lexer.states.append(state)
        return kind

    return action


def _pop(kind: str) -> Callable[[Lexer, str], str | None]:
    def action(lexer: Lexer, text: str) -> str | None:
        lexer.states.pop()
        return kind

    return action


def _token(kind: str | None) -> Callable[[Lexer, str], str | None]:
    return lambda lexer, text: kind


def _content_before_tag(lexer: Lexer, text: str) -> str | None:
    # An odd backslash before "{{" escapes the tag (emu), "\\{{" is a backslash and then a tag.
    if text.endswith("\\\\"):
        lexer.text = text[:-1]
        lexer.states.append("mu")
    elif text.endswith("\\"):
        lexer.text = text[:-1]
        lexer.states.append("emu")
    else:
        lexer.states.append("mu")
    return "CONTENT" if lexer.text else None


def _end_raw_block(lexer: Lexer, text: str) -> str | None:
    lexer.states.pop()
    if lexer.states[-1] == "raw":  # the end of a nested raw block is content of the outer one
        return "CONTENT"
    lexer.text = text[5:-4]
    return "END_RAW_BLOCK"


def _close_raw_block(lexer: Lexer, text: str) -> str | None:
    lexer.states.pop()
    lexer.states.append("raw")
    return "CLOSE_RAW_BLOCK"


def _start_long_comment(lexer: Lexer, text: str) -> str | None:
    lexer.rewind = True  # the "com" rule reads the comment again from its opening "{{"
    lexer.states.pop()
    lexer.states.append("com")
    return None


def _string(quote: str) -> Callable[[Lexer, str], str | None]:
    def action(lexer: Lexer, text: str) -> str | None:
        lexer.text = text[1:-1].replace("\\" + quote, quote)
        return "STRING"

    return action


def _data(lexer: Lexer, text: str) -> str | None:
    return "DATA"


def _bracket_id(lexer: Lexer, text: str) -> str | None:
    lexer.text = re.sub(r"\\([\\\]])", r"\1", text)
    return "ID"


def _rule(pattern: str, action: Callable[[Lexer, str], str | None]) -> _Rule:
    return _Rule(re.compile(pattern), action)


_RULES: Final[dict[str, list[_Rule]]] = {
    "INITIAL": [
        _rule(r"[^\x00]*?(?=\{\{)", _content_before_tag),
        _rule(r"[^\x00]+", _token("CONTENT")),
        _rule(r"\Z", _token("EOF")),
    ],
    "emu": [_rule(r"[^\x00]{2,}?(?=\{\{|\\\{\{|\\\\\{\{|\Z)", _pop("CONTENT"))],
    "com": [_rule(r"[\s\S]*?--~?\}\}", _pop("COMMENT"))],
    "raw": [
        _rule(r"\{\{\{\{(?=[^/])", _begin("raw", "CONTENT")),
        _rule(rf"\{{\{{\{{\{{/{_ID}+(?=[=}}/.]|{_S})\}}\}}\}}\}}", _end_raw_block),
        _rule(r"[^\x00]+?(?=\{\{\{\{)", _token("CONTENT")),
    ],
    "mu": [
        _rule(r"\(", _token("OPEN_SEXPR")),
        _rule(r"\)", _token("CLOSE_SEXPR")),
        _rule(r"\{\{\{\{", _token("OPEN_RAW_BLOCK")),
        _rule(r"\}\}\}\}", _close_raw_block),
        _rule(r"\{\{~?>", _token("OPEN_PARTIAL")),
        _rule(r"\{\{~?#>", _token("OPEN_PARTIAL_BLOCK")),
        _rule(r"\{\{~?#\*?", _token("OPEN_BLOCK")),
        _rule(r"\{\{~?/", _token("OPEN_ENDBLOCK")),
        _rule(rf"\{{\{{~?\^{_S}*~?\}}\}}", _pop("INVERSE")),
        _rule(rf"\{{\{{~?{_S}*else{_S}*~?\}}\}}", _pop("INVERSE")),
        _rule(r"\{\{~?\^", _token("OPEN_INVERSE")),
        _rule(rf"\{{\{{~?{_S}*else(?![A-Za-z0-9_])", _token("OPEN_INVERSE_CHAIN")),
        _rule(r"\{\{~?\{", _token("OPEN_UNESCAPED")),
        _rule(r"\{\{~?&", _token("OPEN")),
        _rule(r"\{\{~?!--", _start_long_comment),
        _rule(r"\{\{~?![\s\S]*?\}\}", _pop("COMMENT")),
        _rule(r"\{\{~?\*?", _token("OPEN")),
        _rule(r"=", _token("EQUALS")),
        _rule(r"\.\.", _token("ID")),
        _rule(rf"\.{_ID_END}", _token("ID")),
        _rule(r"[/.]", _token("SEP")),
        _rule(rf"{_S}+", _token(None)),
        _rule(r"\}~?\}\}", _pop("CLOSE_UNESCAPED")),
        _rule(r"~?\}\}", _pop("CLOSE")),
        _rule(r'"(?:\\"|[^"])*"', _string('"')),
        _rule(r"'(?:\\'|[^'])*'", _string("'")),
        _rule(r"@", _data),
        _rule(rf"true{_LITERAL_END}", _token("BOOLEAN")),
        _rule(rf"false{_LITERAL_END}", _token("BOOLEAN")),
        _rule(rf"undefined{_LITERAL_END}", _token("UNDEFINED")),
        _rule(rf"null{_LITERAL_END}", _token("NULL")),
        _rule(rf"-?[0-9]+(?:\.[0-9]+)?{_LITERAL_END}", _token("NUMBER")),
        _rule(rf"as{_S}+\|", _token("OPEN_BLOCK_PARAMS")),
        _rule(r"\|", _token("CLOSE_BLOCK_PARAMS")),
        _rule(rf"{_ID}+{_ID_END}", _token("ID")),
        _rule(r"\[(?:\\\]|[^\]])*\]", _bracket_id),
        _rule(r"[^\n\r\u2028\u2029]", _token("INVALID")),
        _rule(r"\Z", _token("EOF")),
    ],
}


class Lexer:
    """Tokens of one template, produced on demand (the parser stops at the first error)."""

    def __init__(self, source_text: str, source: str) -> None:
        self.source_text = source_text
        self.source = source
        self.position = 0
        self.states = ["INITIAL"]
        self.text = ""  # the current token's text, as rule actions rewrite it
        self.rewind = False
        self._line_starts = [0] + [match.end() for match in _LINE_BREAK_RE.finditer(source_text)]

    def next_token(self) -> Token:
        while True:
            start = self.position
            state = self.states[-1]
            for rule in _RULES[state]:
                match = rule.pattern.match(self.source_text, start)
                if match is not None:
                    break
            else:
                if start >= len(self.source_text):
                    return Token("EOF", "", start)
                raise self.error(start, state)
            self.text = match.group()
            self.rewind = False
            kind = rule.action(self, self.text)
            if not self.rewind:
                self.position = match.end()
            if kind is not None:
                return Token(kind, self.text, start)

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based line and column of an offset (``\\r\\n``, ``\\r`` and ``\\n`` end lines, as in handlebars)."""
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, offset: int, state: str) -> TemplateError:
        line, column = self.line_column(offset)
        if state == "raw":
            message = "a raw block {{{{name}}}} is never closed: end it with {{{{/name}}}}"
        elif state == "com":
            message = "a comment {{!-- is never closed: end it with --}}"
        else:
            message = "the template contains a NUL character, which templates cannot hold: remove it"
        return TemplateError(message, line, column, self.source)
