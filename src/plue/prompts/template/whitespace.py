"""Whitespace control: ``~`` stripping and standalone lines, as handlebars.js's ``WhitespaceControl`` visitor.

A block tag (open, ``{{else}}``, close), a comment or a partial alone on its line
takes the line with it: the indentation before it and the line break after it
are removed from the neighbouring content. A standalone partial remembers the
indentation so that every line it renders is indented the same way. ``~`` in a
tag strips all whitespace, line breaks included, on that side. This is the
visitor's algorithm step for step, including its order of operations, which is
what decides the edge cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from plue.prompts.template.ast import (
    BlockStatement,
    CommentStatement,
    ContentStatement,
    MustacheStatement,
    PartialStatement,
    Program,
    Statement,
)
from plue.prompts.template.values import JS_WHITESPACE


@dataclass(frozen=True)
class _Candidacy:
    """What a statement asks of its neighbours: ``~`` strips, and whether it could stand alone."""

    open: bool = False
    close: bool = False
    open_standalone: bool = False
    close_standalone: bool = False
    inline_standalone: bool = False


def control_whitespace(root: Program) -> Program:
    """Apply ``~`` and standalone-line removal to the whole tree, in place."""
    _program(root, is_root=True)
    return root


def _program(program: Program, is_root: bool) -> None:
    body = program.body
    for index, current in enumerate(body):
        strip = _accept(current)
        if strip is None:
            continue
        prev_whitespace = _is_prev_whitespace(body, index, is_root)
        next_whitespace = _is_next_whitespace(body, index, is_root)
        open_standalone = strip.open_standalone and prev_whitespace
        close_standalone = strip.close_standalone and next_whitespace
        inline_standalone = strip.inline_standalone and prev_whitespace and next_whitespace

        if strip.close:
            _omit_right(body, index, multiple=True)
        if strip.open:
            _omit_left(body, index, multiple=True)

        if inline_standalone:
            _omit_right(body, index)
            if _omit_left(body, index) and isinstance(current, PartialStatement):
                previous = body[index - 1]
                assert isinstance(previous, ContentStatement)
                original = previous.original
                current.indent = original[len(original.rstrip(" \t")) :]
        if open_standalone:
            block = _block_parts(current)
            _omit_right(block[0].body)
            _omit_left(body, index)
        if close_standalone:
            _omit_right(body, index)
            block = _block_parts(current)
            _omit_left((block[1] or block[0]).body)


def _accept(node: Statement) -> _Candidacy | None:
    if isinstance(node, ContentStatement):
        return None
    if isinstance(node, MustacheStatement):
        return _Candidacy(open=node.strip.open, close=node.strip.close)
    if isinstance(node, CommentStatement) or (isinstance(node, PartialStatement) and not node.is_block):
        return _Candidacy(open=node.strip.open, close=node.strip.close, inline_standalone=True)
    return _block(node)


def _block_parts(node: Statement) -> tuple[Program, Program | None]:
    """(``block.program || block.inverse``, ``block.inverse || block.program``) of a block statement."""
    if isinstance(node, BlockStatement):
        main = node.program or node.inverse
        assert main is not None
        return main, node.inverse or node.program
    assert isinstance(node, PartialStatement) and node.program is not None
    return node.program, node.program


def _block(block: BlockStatement | PartialStatement) -> _Candidacy:
    inverse_program = block.inverse if isinstance(block, BlockStatement) else None
    if block.program is not None:
        _program(block.program, is_root=False)
    if inverse_program is not None:
        _program(inverse_program, is_root=False)

    program = block.program or inverse_program
    assert program is not None
    inverse = inverse_program if block.program is not None else None
    first_inverse = last_inverse = inverse
    if inverse is not None and inverse.chained:
        chained = inverse.body[0]
        assert isinstance(chained, BlockStatement) and chained.program is not None
        first_inverse = chained.program
        while last_inverse is not None and last_inverse.chained:
            last = last_inverse.body[-1]
            assert isinstance(last, BlockStatement)
            last_inverse = last.program

    strip = _Candidacy(
        open=block.open_strip.open,
        close=block.close_strip.close,
        open_standalone=_is_next_whitespace(program.body),
        close_standalone=_is_prev_whitespace((first_inverse or program).body),
    )

    if block.open_strip.close:
        _omit_right(program.body, None, multiple=True)

    if inverse is not None and isinstance(block, BlockStatement):
        assert first_inverse is not None and last_inverse is not None
        if block.inverse_strip.open:
            _omit_left(program.body, None, multiple=True)
        if block.inverse_strip.close:
            _omit_right(first_inverse.body, None, multiple=True)
        if block.close_strip.open:
            _omit_left(last_inverse.body, None, multiple=True)
        # a standalone {{else}}
        if _is_prev_whitespace(program.body) and _is_next_whitespace(first_inverse.body):
            _omit_left(program.body)
            _omit_right(first_inverse.body)
    elif block.close_strip.open:
        _omit_left(program.body, None, multiple=True)
    return strip


def _is_prev_whitespace(body: list[Statement], index: int | None = None, is_root: bool = False) -> bool:
    """Whether what comes before `index` ends a line (then only whitespace), or starts the template."""
    if index is None:
        index = len(body)
    previous = body[index - 1] if index >= 1 else None
    sibling = body[index - 2] if index >= 2 else None
    if previous is None:
        return is_root
    if not isinstance(previous, ContentStatement):
        return False
    text = previous.original
    stripped = text.rstrip(JS_WHITESPACE)
    if "\n" in text[len(stripped) :]:
        return True
    at_template_start = sibling is None and is_root
    return at_template_start and stripped == ""


def _is_next_whitespace(body: list[Statement], index: int | None = None, is_root: bool = False) -> bool:
    """Whether what comes after `index` is whitespace then a line break, or the end of the template."""
    if index is None:
        index = -1
    following = body[index + 1] if index + 1 < len(body) else None
    sibling = body[index + 2] if index + 2 < len(body) else None
    if following is None:
        return is_root
    if not isinstance(following, ContentStatement):
        return False
    text = following.original
    stripped = text.lstrip(JS_WHITESPACE)
    if "\n" in text[: len(text) - len(stripped)]:
        return True
    at_template_end = sibling is None and is_root
    return at_template_end and stripped == ""


def _omit_right(body: list[Statement], index: int | None = None, multiple: bool = False) -> None:
    """Strip the start of the content after `index` (of the first statement when None)."""
    position = 0 if index is None else index + 1
    current = body[position] if position < len(body) else None
    if not isinstance(current, ContentStatement) or (not multiple and current.right_stripped):
        return
    original = current.value
    if multiple:
        current.value = original.lstrip(JS_WHITESPACE)
    else:
        current.value = original[_blank_line_prefix(original) :]
    current.right_stripped = current.value != original


def _omit_left(body: list[Statement], index: int | None = None, multiple: bool = False) -> bool:
    """Strip the end of the content before `index` (of the last statement when None); whether it changed."""
    position = len(body) - 1 if index is None else index - 1
    current = body[position] if 0 <= position < len(body) else None
    if not isinstance(current, ContentStatement) or (not multiple and current.left_stripped):
        return False
    original = current.value
    current.value = original.rstrip(JS_WHITESPACE) if multiple else original.rstrip(" \t")
    current.left_stripped = current.value != original
    return current.left_stripped


def _blank_line_prefix(text: str) -> int:
    """Length of ``^[ \\t]*\\r?\\n?`` in `text`: the rest of a line that holds only spaces and tabs."""
    position = 0
    while position < len(text) and text[position] in " \t":
        position += 1
    if text.startswith("\r", position):
        position += 1
    if text.startswith("\n", position):
        position += 1
    return position
