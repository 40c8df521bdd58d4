"""The compile pass: parse, control whitespace, then decide how each tag is called (handlebars' ``Compiler``).

handlebars.js decides at compile time, from the shape of a tag alone, whether
``{{name …}}`` is a helper call, a value, or "ambiguous" (a helper if one has that
name, else a value), and which block parameter a name refers to. Those decisions
are made here once and stored on the nodes, so rendering only follows them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from plue.prompts.template.ast import (
    BlockStatement,
    Call,
    CallKind,
    Expression,
    Hash,
    Literal,
    MustacheStatement,
    PartialStatement,
    PathExpression,
    Program,
    SubExpression,
)
from plue.prompts.template.errors import TemplateError
from plue.prompts.template.parser import parse
from plue.prompts.template.values import to_string
from plue.prompts.template.whitespace import control_whitespace

KNOWN_HELPERS: Final = frozenset(
    {"helperMissing", "blockHelperMissing", "each", "if", "unless", "with", "log", "lookup"}
)
_SCOPED_RE: Final = re.compile(r"^\.|this\b", re.ASCII)  # JavaScript's \b: ASCII word characters


@lru_cache(maxsize=256)
def compile_program(text: str, source: str) -> Program:
    """The annotated AST of a template (cached: rendering never changes it); `TemplateError` if invalid."""
    program = control_whitespace(parse(text, source))
    _Compiler(source).program(program)
    return program


def is_scoped(path: PathExpression) -> bool:
    """``this.x``, ``./x``, ``.``: a path that names the context explicitly, so never a helper."""
    return _SCOPED_RE.search(path.original) is not None


def is_simple_id(path: PathExpression) -> bool:
    return len(path.parts) == 1 and not is_scoped(path) and not path.depth


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.block_params: list[list[str] | None] = []  # innermost program first

    def program(self, program: Program) -> None:
        self.block_params.insert(0, program.block_params)
        for statement in program.body:
            if isinstance(statement, MustacheStatement):
                if statement.decorator:
                    program.decorators.append(statement)
                    self.arguments(statement.params, statement.hash)
                else:
                    self.call(statement)
            elif isinstance(statement, BlockStatement):
                self.block(statement, program)
            elif isinstance(statement, PartialStatement):
                self.partial(statement)
        self.block_params.pop(0)

    def block(self, block: BlockStatement, parent: Program) -> None:
        if block.decorator:
            parent.decorators.append(block)
            if block.program is not None:
                self.program(block.program)
            self.arguments(block.params, block.hash)
            return
        _literal_to_path(block)
        if block.program is not None:
            self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        self.call(block)

    def partial(self, partial: PartialStatement) -> None:
        if len(partial.params) > 1:
            raise TemplateError(
                f"a partial takes at most one context argument, not {len(partial.params)}: "
                "pass the others as key=value",
                partial.loc.line,
                partial.loc.column,
                self.source,
            )
        if partial.program is not None:
            self.program(partial.program)
        if isinstance(partial.name, SubExpression):
            self.call(partial.name)
        self.arguments(partial.params, partial.hash)

    def call(self, node: Call) -> None:
        _literal_to_path(node)
        path = node.path
        assert isinstance(path, PathExpression)
        node.kind = self.classify(node, path)
        node.simple_id = is_simple_id(path)
        if node.kind == "helper" and path.parts and path.parts[0] in KNOWN_HELPERS:
            node.known_helper = path.parts[0]
        self.path(path)
        self.arguments(node.params, node.hash)

    def classify(self, node: Call, path: PathExpression) -> CallKind:
        simple = is_simple_id(path)
        block_param = simple and self.block_param_index(path.parts[0]) is not None
        helper = not block_param and (isinstance(node, SubExpression) or bool(node.params) or node.hash is not None)
        eligible = not block_param and (helper or simple)
        if eligible and not helper and path.parts[0] in KNOWN_HELPERS:
            helper = True
        if helper:
            return "helper"
        return "ambiguous" if eligible else "simple"

    def arguments(self, params: list[Expression], hash_: Hash | None) -> None:
        for param in params:
            self.expression(param)
        if hash_ is not None:
            for pair in hash_.pairs:
                self.expression(pair.value)

    def expression(self, expression: Expression) -> None:
        if isinstance(expression, PathExpression):
            self.path(expression)
        elif isinstance(expression, SubExpression):
            self.call(expression)

    def path(self, path: PathExpression) -> None:
        if not path.depth and not is_scoped(path) and path.parts:
            path.block_param = self.block_param_index(path.parts[0])

    def block_param_index(self, name: str) -> tuple[int, int] | None:
        for depth, names in enumerate(self.block_params):
            if names is not None and name in names:
                return depth, names.index(name)
        return None


def _literal_to_path(node: Call) -> None:
    """``{{"name"}}``, ``{{1}}``, ``{{true}}`` look up a key of that name, like a path (``transformLiteralToPath``)."""
    if isinstance(node.path, Literal):
        text = to_string(node.path.value)
        node.path = PathExpression(False, 0, [text], text, node.path.loc)
