"""Partials at run time: the table a name is looked up in, ``@partial-block``, and standalone indentation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plue.prompts.template.options import BlockFunction, HelperOptions
from plue.prompts.template.values import MAX_TEXT, UNDEFINED, JSFunction, TextTooLarge, create_frame


class PartialTable:
    """The partials in reach: inline partials over the enclosing ones, over the caller's mapping."""

    __slots__ = ("overlay", "parent", "provided")

    def __init__(
        self, overlay: Mapping[str, Any], parent: PartialTable | None, provided: Mapping[str, str] | None = None
    ) -> None:
        self.overlay = overlay
        self.parent = parent
        self.provided: Mapping[str, str] | None = provided if parent is None else parent.provided

    def get(self, name: str) -> Any:
        table: PartialTable | None = self
        while table is not None:
            if name in table.overlay:
                return table.overlay[name]
            table = table.parent
        if self.provided is None:
            return UNDEFINED
        found = self.provided.get(name)
        return UNDEFINED if found is None else found


class PartialBlock(JSFunction):
    """``@partial-block``: the block of a ``{{#> layout}}…{{/layout}}``, callable from inside the partial."""

    def __init__(self, block: BlockFunction, outer: Any) -> None:
        self.block = block
        self.outer = outer  # the @partial-block in effect where the partial was called

    def call(self, this: Any, args: list[Any]) -> Any:
        context = args[0] if args else UNDEFINED
        if isinstance(context, HelperOptions):
            context = context.as_object()
        options = args[1] if len(args) > 1 else None
        options_data = options.data if isinstance(options, HelperOptions) else UNDEFINED
        data = create_frame(options_data)
        data["partial-block"] = self.outer
        frame = options.block_params if isinstance(options, HelperOptions) else UNDEFINED
        return self.block(context, data, frame)


def indent_lines(text: str, indent: str) -> str:
    """Each line of a standalone partial's output indented like the tag (not a last, empty line)."""
    lines = text.split("\n")
    if len(text) + len(indent) * len(lines) > MAX_TEXT:
        raise TextTooLarge
    for index, line in enumerate(lines):
        if not line and index + 1 == len(lines):
            break
        lines[index] = indent + line
    return "\n".join(lines)
