"""How a program's output is joined: handlebars' generated code adds the appended values with JavaScript ``+``.

That is visible: two numbers next to each other are added (``{{a}}{{b}}`` with 1
and 2 renders ``3``), and a one-statement block returns its value unchanged.
"""

from __future__ import annotations

from typing import Any

from plue.prompts.template.values import MAX_TEXT, UNDEFINED, TextTooLarge, js_add, to_string


def merge_output(entries: list[tuple[bool, Any]]) -> Any:
    """What handlebars' ``mergeSource`` makes of a program's appends: JavaScript ``+`` with its grouping.

    Consecutive appends become one expression ``a + b + c``, so two numbers next to
    each other are added (``{{a}}{{b}}`` with 1 and 2 gives 3). Statements (an
    ambiguous block's ``if (v != null) buffer += v``) split the groups: the first
    group initialises ``buffer``, middle ones are added as ``buffer += (a + b)``, the
    last is returned as ``buffer + a + b``.
    """
    if not entries:
        return ""
    if all(appended for appended, _ in entries):
        total = _Sum(entries[0][1])
        for _, value in entries[1:]:
            total.add(value)
        return total.result()
    index = 0
    if entries[0][0]:
        index, first = _group(entries, 0)
        buffer = _Sum(first)
    else:
        buffer = _Sum("")
    while index < len(entries):
        appended, value = entries[index]
        if not appended:
            if value is not None and value is not UNDEFINED:
                buffer.add(value)
            index += 1
            continue
        end = index
        while end < len(entries) and entries[end][0]:
            end += 1
        if end == len(entries):  # `return buffer + a + b`
            for _, item in entries[index:]:
                buffer.add(item)
            return buffer.result()
        index, group = _group(entries, index)
        buffer.add(group)
    return buffer.result()


def _group(entries: list[tuple[bool, Any]], start: int) -> tuple[int, Any]:
    total = _Sum(entries[start][1])
    index = start + 1
    while index < len(entries) and entries[index][0]:
        total.add(entries[index][1])
        index += 1
    return index, total.result()


class _Sum:
    """A left-to-right JavaScript ``+``; string parts are joined once at the end."""

    __slots__ = ("parts", "size", "value")

    def __init__(self, first: Any) -> None:
        self.value: Any = None
        self.parts: list[str] | None = None
        self.size = 0
        if isinstance(first, str):
            self.parts = [first]
            self.size = len(first)
        else:
            self.value = first

    def add(self, value: Any) -> None:
        if self.parts is None:
            value = js_add(self.value, value)
            if not isinstance(value, str):
                self.value = value
                return
            self.parts = []
        text = value if isinstance(value, str) else to_string(value)
        self.size += len(text)
        if self.size > MAX_TEXT:
            raise TextTooLarge
        self.parts.append(text)

    def result(self) -> Any:
        return "".join(self.parts) if self.parts is not None else self.value
