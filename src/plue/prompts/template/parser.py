"""The parser: handlebars.js's grammar (``handlebars.yy``, 4.7.x) by recursive descent, building its AST.

It accepts exactly the templates handlebars.js accepts and builds the same
nodes, including the grammar actions' quirks (how ``{{else if}}`` chains are
nested and which strip flags they carry, ``validateClose``, ``preparePath``).
Errors say what is wrong in words and point at the tag at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from plue.prompts.template.ast import (
    BlockStatement,
    CommentStatement,
    ContentStatement,
    Expression,
    Hash,
    HashPair,
    Literal,
    MustacheStatement,
    PartialStatement,
    PathExpression,
    Position,
    Program,
    Statement,
    Strip,
    SubExpression,
)
from plue.prompts.template.errors import TemplateError
from plue.prompts.template.lexer import Lexer, Token, is_identifier_char
from plue.prompts.template.values import UNDEFINED, strict_equals, to_string

MAX_NESTING: Final = 64  # blocks, partial blocks and subexpressions inside each other

_STATEMENT_START: Final = frozenset(
    {
        "CONTENT",
        "COMMENT",
        "OPEN",
        "OPEN_UNESCAPED",
        "OPEN_BLOCK",
        "OPEN_INVERSE",
        "OPEN_RAW_BLOCK",
        "OPEN_PARTIAL",
        "OPEN_PARTIAL_BLOCK",
    }
)
_PARAM_START: Final = frozenset({"ID", "DATA", "STRING", "NUMBER", "BOOLEAN", "UNDEFINED", "NULL", "OPEN_SEXPR"})
_BRACKETED_RE: Final = re.compile(r"\[[^\n\r\u2028\u2029]*\]")
_SHOWN: Final = {
    "EOF": "the end of the template",
    "CLOSE": "}}",
    "CLOSE_UNESCAPED": "}}}",
    "CLOSE_RAW_BLOCK": "}}}}",
    "CLOSE_SEXPR": ")",
    "OPEN_SEXPR": "(",
    "EQUALS": "=",
    "SEP": "a path separator",
    "OPEN_BLOCK_PARAMS": "as |",
    "CLOSE_BLOCK_PARAMS": "|",
    "INVERSE": "{{else}}",
    "OPEN_INVERSE_CHAIN": "{{else …}}",
    "OPEN_ENDBLOCK": "a closing {{/…}}",
    "END_RAW_BLOCK": "a closing {{{{/…}}}}",
}


@dataclass
class _Open:
    """The opening tag of a block (``openBlock``, ``openInverse``, ``openInverseChain`` in the grammar)."""

    token: Token
    path: Expression  # a subexpression only for a dynamic partial block, which handlebars.js cannot close
    params: list[Expression]
    hash: Hash | None
    block_params: list[str] | None
    strip: Strip


@dataclass
class _Close:
    path: Expression
    strip: Strip
    token: Token


@dataclass
class _Inverse:
    """``inverseAndProgram`` or ``inverseChain``: what follows {{else}} or {{else if …}}."""

    strip: Strip
    program: Program
    chain: bool
    token: Token


def original_of(path: Expression) -> Any:
    """``path.original``: the path as written, or the literal's JavaScript value (a subexpression has none)."""
    if isinstance(path, PathExpression):
        return path.original
    if isinstance(path, Literal):
        return path.value
    return UNDEFINED


def strip_flags(open_text: str, close_text: str) -> Strip:
    return Strip(open=open_text[2:3] == "~", close=close_text[-3:-2] == "~")


def identifier(text: str) -> str:
    """``yy.id``: an identifier written ``[like this]`` without its brackets."""
    return text[1:-1] if _BRACKETED_RE.fullmatch(text) else text


class Parser:
    """One template's parse: tokens pulled from the lexer one at a time, with one token of lookahead."""

    def __init__(self, source_text: str, source: str) -> None:
        self.source = source
        self.lexer = Lexer(source_text, source)
        self.tokens: list[Token] = [self.lexer.next_token()]
        self.nesting = 0

    # --- tokens ---------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[0]

    def peek_kind(self) -> str:
        if len(self.tokens) < 2:
            self.tokens.append(self.lexer.next_token())
        return self.tokens[1].kind

    def advance(self) -> Token:
        token = self.tokens.pop(0)
        if not self.tokens:
            self.tokens.append(self.lexer.next_token())
        return token

    def expect(self, kind: str, opening: Token | None = None) -> Token:
        if self.token.kind != kind:
            self.unexpected(kind, opening)
        return self.advance()

    def position(self, token: Token) -> Position:
        line, column = self.lexer.line_column(token.offset)
        return Position(line, column)

    def fail(self, message: str, token: Token) -> NoReturn:
        position = self.position(token)
        raise TemplateError(message, position.line, position.column, self.source)

    def unexpected(self, expected: str, opening: Token | None = None) -> NoReturn:
        token = self.token
        text = self.lexer.source_text
        if opening is not None and token.kind in ("EOF", "INVALID") and "}}" not in text[opening.offset :]:
            where = self.position(opening)
            self.fail(
                f"the tag {opening.text}… that starts at line {where.line}, column {where.column} is never closed: "
                "end it with }}",
                opening,
            )
        if token.kind == "INVALID":
            if token.text in "\"'":
                self.fail(f"a string is never closed: add the closing {token.text} before the }}}}", token)
            offset = token.offset
            while offset < len(text) and is_identifier_char(text[offset]):
                offset += 1
            if offset < len(text):
                self.fail(f"unexpected character {text[offset]!r} inside a tag: {_tag_hint()}", Token("", "", offset))
        found = _SHOWN.get(token.kind, repr(token.text))
        self.fail(f"unexpected {found} where {_SHOWN.get(expected, expected)} was expected: {_tag_hint()}", token)

    # --- programs and statements --------------------------------------------------

    def parse(self) -> Program:
        program = self.program()
        token = self.token
        if token.kind == "OPEN_ENDBLOCK":
            name = self.peek_name()
            self.fail(
                f"{{{{/{name}}}}} closes a block that was never opened: remove it or open it with {{{{#{name}}}}}",
                token,
            )
        if token.kind in ("INVERSE", "OPEN_INVERSE_CHAIN"):
            self.fail("{{else}} outside a block: it may only appear between {{#name}} and {{/name}}", token)
        if token.kind == "END_RAW_BLOCK":
            self.fail(f"{{{{{{{{/{token.text}}}}}}}}} closes a raw block that was never opened", token)
        self.expect("EOF")
        return program

    def peek_name(self) -> str:
        self.peek_kind()
        following = self.tokens[1]
        return following.text if following.kind in ("ID", "STRING", "NUMBER", "BOOLEAN") else "…"

    def program(self) -> Program:
        body: list[Statement] = []
        while self.token.kind in _STATEMENT_START:
            body.append(self.statement())
        return Program(body)

    def statement(self) -> Statement:
        token = self.token
        kind = token.kind
        if kind == "CONTENT":
            self.advance()
            return ContentStatement(token.text, token.text, self.position(token))
        if kind == "COMMENT":
            self.advance()
            return CommentStatement(strip_flags(token.text, token.text), self.position(token))
        if kind in ("OPEN", "OPEN_UNESCAPED"):
            return self.mustache()
        if kind == "OPEN_RAW_BLOCK":
            return self.raw_block()
        if kind == "OPEN_PARTIAL":
            return self.partial()
        with self.nested(token):
            if kind == "OPEN_PARTIAL_BLOCK":
                return self.partial_block()
            return self.block(inverted=kind == "OPEN_INVERSE")

    @contextmanager
    def nested(self, token: Token) -> Iterator[None]:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            self.fail(f"blocks and subexpressions are nested more than {MAX_NESTING} deep: flatten the template", token)
        try:
            yield
        finally:
            self.nesting -= 1

    def mustache(self) -> MustacheStatement:
        opening = self.advance()
        path = self.helper_name(opening)
        params, hash_ = self.params_and_hash(opening)
        close = self.expect("CLOSE" if opening.kind == "OPEN" else "CLOSE_UNESCAPED", opening)
        return MustacheStatement(
            path,
            params,
            hash_,
            self.position(opening),
            strip=strip_flags(opening.text, close.text),
            decorator="*" in opening.text,
        )

    def open_tag(self) -> _Open:
        opening = self.advance()
        path = self.helper_name(opening)
        params, hash_ = self.params_and_hash(opening)
        block_params = self.block_params(opening)
        close = self.expect("CLOSE", opening)
        return _Open(opening, path, params, hash_, block_params, strip_flags(opening.text, close.text))

    def block(self, inverted: bool) -> BlockStatement:
        opening = self.open_tag()
        program = self.program()
        inverse: _Inverse | None = None
        if inverted:
            if self.token.kind == "INVERSE":
                inverse = self.inverse_and_program()
        elif self.token.kind in ("INVERSE", "OPEN_INVERSE_CHAIN"):
            inverse = self.inverse_chain()
        close = self.close_block(opening)
        return self.prepare_block(opening, program, inverse, close, inverted)

    def inverse_and_program(self) -> _Inverse:
        token = self.advance()
        return _Inverse(strip_flags(token.text, token.text), self.program(), chain=False, token=token)

    def inverse_chain(self) -> _Inverse:
        if self.token.kind == "INVERSE":
            return self.inverse_and_program()
        opening = self.open_tag()
        program = self.program()
        rest = self.inverse_chain() if self.token.kind in ("INVERSE", "OPEN_INVERSE_CHAIN") else None
        close = _Close(opening.path, rest.strip, rest.token) if rest is not None else None
        chained = self.prepare_block(opening, program, rest, close, inverted=False, validate=False)
        return _Inverse(opening.strip, Program([chained], chained=True), chain=True, token=opening.token)

    def close_block(self, opening: _Open) -> _Close:
        if self.token.kind != "OPEN_ENDBLOCK":
            tag, name = _tag_name(opening), _path_text(opening.path)
            if self.token.kind == "EOF":
                self.fail(f"the block {{{{{tag}}}}} is never closed: end it with {{{{/{name}}}}}", opening.token)
            if self.token.kind in ("INVERSE", "OPEN_INVERSE_CHAIN"):
                where = self.position(opening.token)
                self.fail(
                    f"this {{{{else}}}} cannot follow the block {{{{{tag}}}}} of line {where.line}, column "
                    f"{where.column}: a block has one {{{{else}}}} (only {{{{#…}}}} blocks chain {{{{else if …}}}})",
                    self.token,
                )
            self.unexpected("OPEN_ENDBLOCK", opening.token)
        token = self.advance()
        path = self.helper_name(token)
        close = self.expect("CLOSE", token)
        return _Close(path, strip_flags(token.text, close.text), token)

    def prepare_block(
        self,
        opening: _Open,
        program: Program,
        inverse_part: _Inverse | None,
        close: _Close | None,
        inverted: bool,
        validate: bool = True,
    ) -> BlockStatement:
        if validate and close is not None:
            self.validate_close(opening, close)
        decorator = "*" in opening.token.text and opening.token.kind == "OPEN_BLOCK"
        program.block_params = opening.block_params
        inverse: Program | None = None
        inverse_strip = Strip()
        if inverse_part is not None:
            if decorator:
                self.fail("a decorator block {{#*…}} cannot have an {{else}} section: remove it", inverse_part.token)
            if inverse_part.chain:
                first = inverse_part.program.body[0]
                assert isinstance(first, BlockStatement)
                first.close_strip = close.strip if close is not None else Strip()
            inverse_strip = inverse_part.strip
            inverse = inverse_part.program
        main: Program | None = program
        if inverted:
            main, inverse = inverse, program
        assert not isinstance(opening.path, SubExpression)  # only partial blocks take a subexpression
        return BlockStatement(
            opening.path,
            opening.params,
            opening.hash,
            self.position(opening.token),
            program=main,
            inverse=inverse,
            open_strip=opening.strip,
            inverse_strip=inverse_strip,
            close_strip=close.strip if close is not None else Strip(),
            decorator=decorator,
        )

    def validate_close(self, opening: _Open, close: _Close) -> None:
        opened, closed = original_of(opening.path), original_of(close.path)
        if isinstance(opening.path, SubExpression):
            self.fail(
                "a partial block cannot take its name from a subexpression: write {{#> name}}…{{/name}}", close.token
            )
        if not strict_equals(opened, closed):
            self.fail(
                f"{{{{/{to_string(closed)}}}}} does not match the open block {{{{{_tag_name(opening)}}}}}: "
                f"close it with {{{{/{to_string(opened)}}}}}",
                close.token,
            )

    def raw_block(self) -> BlockStatement:
        opening = self.advance()
        path = self.helper_name(opening)
        params, hash_ = self.params_and_hash(opening)
        self.expect("CLOSE_RAW_BLOCK", opening)
        contents: list[Statement] = []
        while self.token.kind == "CONTENT":
            token = self.advance()
            contents.append(ContentStatement(token.text, token.text, self.position(token)))
        if self.token.kind != "END_RAW_BLOCK":
            self.unexpected("END_RAW_BLOCK", opening)
        end = self.advance()
        opened = original_of(path)
        if not strict_equals(opened, end.text):
            self.fail(
                f"{{{{{{{{/{end.text}}}}}}}}} does not match the raw block {{{{{{{{{to_string(opened)}}}}}}}}}: "
                f"close it with {{{{{{{{/{to_string(opened)}}}}}}}}}",
                end,
            )
        return BlockStatement(path, params, hash_, self.position(opening), program=Program(contents))

    def partial(self) -> PartialStatement:
        opening = self.advance()
        name = self.partial_name(opening)
        params, hash_ = self.params_and_hash(opening)
        close = self.expect("CLOSE", opening)
        return PartialStatement(
            name, params, hash_, self.position(opening), strip=strip_flags(opening.text, close.text)
        )

    def partial_block(self) -> PartialStatement:
        opening = self.advance()
        name = self.partial_name(opening)
        params, hash_ = self.params_and_hash(opening)
        close_open = self.expect("CLOSE", opening)
        open_strip = strip_flags(opening.text, close_open.text)
        program = self.program()
        header = _Open(opening, name, params, hash_, None, open_strip)
        close = self.close_block(header)
        self.validate_close(header, close)
        return PartialStatement(
            name,
            params,
            hash_,
            self.position(opening),
            program=program,
            open_strip=open_strip,
            close_strip=close.strip,
        )

    # --- expressions ---------------------------------------------------------------

    def params_and_hash(self, opening: Token) -> tuple[list[Expression], Hash | None]:
        params: list[Expression] = []
        while self.token.kind in _PARAM_START and not (self.token.kind == "ID" and self.peek_kind() == "EQUALS"):
            params.append(self.param(opening))
        if not (self.token.kind == "ID" and self.peek_kind() == "EQUALS"):
            return params, None
        pairs: list[HashPair] = []
        while self.token.kind == "ID" and self.peek_kind() == "EQUALS":
            key = identifier(self.advance().text)
            self.advance()
            if self.token.kind not in _PARAM_START:
                self.unexpected("a value after =", opening)
            pairs.append(HashPair(key, self.param(opening)))
        return params, Hash(pairs)

    def param(self, opening: Token) -> Expression:
        if self.token.kind == "OPEN_SEXPR":
            return self.sexpr(opening)
        return self.helper_name(opening)

    def partial_name(self, opening: Token) -> Expression:
        if self.token.kind == "OPEN_SEXPR":
            return self.sexpr(opening)
        return self.helper_name(opening)

    def sexpr(self, opening: Token) -> SubExpression:
        start = self.advance()
        with self.nested(start):
            path = self.helper_name(opening)
            params, hash_ = self.params_and_hash(opening)
            self.expect("CLOSE_SEXPR", opening)
        return SubExpression(path, params, hash_, self.position(start))

    def helper_name(self, opening: Token) -> PathExpression | Literal:
        token = self.token
        kind = token.kind
        if kind == "ID":
            return self.path(data=False, start=token)
        if kind == "DATA":
            self.advance()
            if self.token.kind != "ID":
                self.unexpected("a name after @", opening)
            return self.path(data=True, start=token)
        if kind == "STRING":
            self.advance()
            return Literal(token.text, self.position(token))
        if kind == "NUMBER":
            self.advance()
            return Literal(_number(token.text), self.position(token))
        if kind == "BOOLEAN":
            self.advance()
            return Literal(token.text == "true", self.position(token))
        if kind == "UNDEFINED":
            self.advance()
            return Literal(UNDEFINED, self.position(token))
        if kind == "NULL":
            self.advance()
            return Literal(None, self.position(token))
        self.unexpected("a name", opening)

    def path(self, data: bool, start: Token) -> PathExpression:
        segments: list[tuple[str, str, str]] = []  # (part, as written, separator before it)
        first = self.expect("ID")
        segments.append((identifier(first.text), first.text, ""))
        while self.token.kind == "SEP":
            separator = self.advance().text
            if self.token.kind != "ID":
                self.unexpected("a name after the path separator", start)
            segment = self.advance()
            segments.append((identifier(segment.text), segment.text, separator))
        return self.prepare_path(data, segments, start)

    def prepare_path(self, data: bool, segments: list[tuple[str, str, str]], start: Token) -> PathExpression:
        original = "@" if data else ""
        parts: list[str] = []
        depth = 0
        for part, written, separator in segments:
            is_literal = written != part  # [..] and [this] are names, not navigation
            original += separator + part
            if not is_literal and part in ("..", ".", "this"):
                if parts:
                    self.fail(
                        f"invalid path {original}: '..', '.' and 'this' may only start a path "
                        f"(write [{part}] for a key of that name)",
                        start,
                    )
                if part == "..":
                    depth += 1
            else:
                parts.append(part)
        return PathExpression(data, depth, parts, original, self.position(start))

    def block_params(self, opening: Token) -> list[str] | None:
        if self.token.kind != "OPEN_BLOCK_PARAMS":
            return None
        self.advance()
        names: list[str] = []
        while self.token.kind == "ID":
            names.append(self.advance().text)
        if not names:
            self.unexpected("a block parameter name", opening)
        if self.token.kind != "CLOSE_BLOCK_PARAMS":
            self.unexpected("CLOSE_BLOCK_PARAMS", opening)
        token = self.advance()
        if _BRACKETED_RE.fullmatch(",".join(names)):
            # handlebars.js fails here (it treats the list as one bracketed name): so must we
            self.fail("block parameters cannot be written in [brackets]: use plain names in as |…|", token)
        return names


def _number(text: str) -> int | float:
    if "." in text:
        return float(text)
    return int(text)


def _tag_name(opening: _Open) -> str:
    prefix = {"OPEN_BLOCK": "#", "OPEN_INVERSE": "^", "OPEN_PARTIAL_BLOCK": "#> "}.get(opening.token.kind, "")
    if "*" in opening.token.text:
        prefix += "*"
    return prefix + _path_text(opening.path)


def _path_text(path: PathExpression | Literal | Expression) -> str:
    if isinstance(path, SubExpression):
        return "(…)"
    if isinstance(path, PathExpression):
        return path.original
    if isinstance(path.value, str):
        return '"' + path.value + '"'
    return to_string(path.value)


def _tag_hint() -> str:
    return "check the tag's syntax (names, quotes, parentheses and the closing }})"


def parse(source_text: str, source: str) -> Program:
    """The AST of a template, before whitespace control; `TemplateError` if handlebars.js would reject it."""
    return Parser(source_text, source).parse()
