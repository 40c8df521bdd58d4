"""The syntax tree: handlebars.js's AST node types, with the fields its later passes use.

Nodes are mutable on purpose: the whitespace pass rewrites content values and
strip flags, and the compile pass annotates expressions with how they are called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from typing import Literal as TypingLiteral

CallKind = TypingLiteral["helper", "ambiguous", "simple"]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class Strip:
    """``~`` flags of a tag: ``open`` strips whitespace before it, ``close`` after it."""

    open: bool = False
    close: bool = False


NO_STRIP = Strip()


@dataclass(eq=False)
class PathExpression:
    data: bool  # starts with "@"
    depth: int  # number of leading "../"
    parts: list[str]
    original: str
    loc: Position
    block_param: tuple[int, int] | None = None  # (program depth, index) when the head names a block parameter


@dataclass(eq=False)
class Literal:
    """A string, number, boolean, ``null`` or ``undefined`` literal; ``value`` is its JavaScript value."""

    value: Any
    loc: Position


@dataclass(eq=False)
class HashPair:
    key: str
    value: Expression


@dataclass(eq=False)
class Hash:
    pairs: list[HashPair]


@dataclass(eq=False)
class Call:
    """What mustaches, blocks and subexpressions share: a callee path, its arguments, how it is called."""

    path: PathExpression | Literal
    params: list[Expression]
    hash: Hash | None
    loc: Position
    kind: CallKind = "simple"  # set by the compile pass
    known_helper: str | None = None  # set when kind is "helper" and the head is a built-in helper
    simple_id: bool = False  # the path is one plain segment: a helper of that name may be called

    @property
    def callee(self) -> PathExpression:
        """The path, once the compile pass has turned a literal callee into one."""
        assert isinstance(self.path, PathExpression)
        return self.path


@dataclass(eq=False)
class SubExpression(Call):
    pass


Expression = PathExpression | Literal | SubExpression


@dataclass(eq=False)
class ContentStatement:
    original: str
    value: str
    loc: Position
    right_stripped: bool = False
    left_stripped: bool = False


@dataclass(eq=False)
class CommentStatement:
    strip: Strip
    loc: Position


@dataclass(eq=False)
class MustacheStatement(Call):
    strip: Strip = NO_STRIP
    decorator: bool = False  # {{* name}}


@dataclass(eq=False)
class Program:
    body: list[Statement]
    block_params: list[str] | None = None
    chained: bool = False  # the inverse of an {{else if}} chain: its body is the next block
    decorators: list[MustacheStatement | BlockStatement] = field(default_factory=list)  # set by the compile pass


@dataclass(eq=False)
class BlockStatement(Call):
    program: Program | None = None
    inverse: Program | None = None
    open_strip: Strip = NO_STRIP
    inverse_strip: Strip = NO_STRIP
    close_strip: Strip = NO_STRIP
    decorator: bool = False  # {{#* name}}


@dataclass(eq=False)
class PartialStatement:
    name: Expression
    params: list[Expression]
    hash: Hash | None
    loc: Position
    strip: Strip = NO_STRIP
    indent: str = ""  # set by the whitespace pass when the partial stands alone on its line
    program: Program | None = None  # the block of a partial block {{#> name}}…{{/name}}
    open_strip: Strip = NO_STRIP
    close_strip: Strip = NO_STRIP

    @property
    def is_block(self) -> bool:
        return self.program is not None


Statement = ContentStatement | CommentStatement | MustacheStatement | BlockStatement | PartialStatement
