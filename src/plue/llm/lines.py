"""Streamed text in, lines out: the assistant's text deltas coalesced into whole lines.

A line is emitted once its newline arrives (without the newline; a trailing
``\\r`` is dropped); `flush` emits the partial last line at the end of a text
block. A line longer than `MAX_LINE_CHARS` is emitted in pieces, so memory stays
bounded whatever the model writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_LINE_CHARS: Final = 16 * 1024


class TextLines:
    def __init__(self, emit: Callable[[str], None], max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._emit = emit
        self._max = max_line_chars
        self._pending: list[str] = []
        self._pending_chars = 0

    def feed(self, text: str) -> None:
        while text:
            newline = text.find("\n")
            if newline < 0:
                self._add(text)
                return
            self._add(text[:newline])
            self._emit_pending()
            text = text[newline + 1 :]

    def flush(self) -> None:
        """The end of a text block: a partial line is a line."""
        if self._pending_chars:
            self._emit_pending()
        self._pending.clear()

    def _add(self, text: str) -> None:
        while self._pending_chars + len(text) > self._max:
            room = self._max - self._pending_chars
            self._pending.append(text[:room])
            self._pending_chars = self._max
            text = text[room:]
            self._emit_pending()
        if text:
            self._pending.append(text)
            self._pending_chars += len(text)

    def _emit_pending(self) -> None:
        line = "".join(self._pending).removesuffix("\r")
        self._pending.clear()
        self._pending_chars = 0
        self._emit(line)
