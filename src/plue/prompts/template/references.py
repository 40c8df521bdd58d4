"""The partials a template names statically (`{{> name}}`), for checks before any rendering (`plue prompt lint`).

Dynamic partials (`{{> (helper)}}`), `@partial-block`, partial blocks (their
default renders when the partial is missing) and the template's own inline
partials (`{{#*inline "name"}}`) are not references to files.
"""

from __future__ import annotations

from plue.prompts.template.ast import (
    BlockStatement,
    Literal,
    PartialStatement,
    PathExpression,
    Program,
)


def partial_references(program: Program) -> list[tuple[str, int]]:
    """(name, line) of each static partial reference, in order; names defined inline are left out."""
    found: list[tuple[str, int]] = []
    inline: set[str] = set()
    _walk(program, found, inline)
    return [(name, line) for name, line in found if name not in inline]


def _walk(program: Program | None, found: list[tuple[str, int]], inline: set[str]) -> None:
    if program is None:
        return
    for statement in program.body:
        if isinstance(statement, PartialStatement):
            name = _static_name(statement.name)
            # A partial block ({{#> name}}default{{/name}}) renders its default when the partial is missing.
            if name is not None and not name.startswith("@") and not statement.is_block:
                found.append((name, statement.loc.line))
            _walk(statement.program, found, inline)
        elif isinstance(statement, BlockStatement):
            if statement.decorator and statement.params and isinstance(statement.params[0], Literal):
                inline.add(str(statement.params[0].value))  # {{#*inline "name"}}
            _walk(statement.program, found, inline)
            _walk(statement.inverse, found, inline)


def _static_name(name: object) -> str | None:
    if isinstance(name, PathExpression):
        return name.original
    if isinstance(name, Literal):
        return str(name.value)
    return None
