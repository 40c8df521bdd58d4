"""Bytes from a pipe in, text lines out.

- A line ends at ``\\n``; a trailing ``\\r`` (CRLF) is dropped; the final line
  is a line even without a newline (`close`).
- Invalid UTF-8 becomes U+FFFD (``errors="replace"``), never an error.
- A line longer than `MAX_LINE_BYTES` is cut into pieces of at most that size,
  at a UTF-8 character boundary where there is one: memory stays bounded
  whatever a process prints (a 10 MB line without a newline is 160 lines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_LINE_BYTES: Final = 64 * 1024


class LineSplitter:
    def __init__(self, emit: Callable[[str], None], max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._emit = emit
        self._max = max_line_bytes
        self._pending = b""

    def feed(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        emit, limit = self._emit, self._max
        for line in lines:
            if len(line) > limit:
                self._emit_pieces(line)
            else:
                emit(line.removesuffix(b"\r").decode("utf-8", "replace"))
        while len(self._pending) > limit:
            cut = _boundary(self._pending, limit)
            emit(self._pending[:cut].decode("utf-8", "replace"))
            self._pending = self._pending[cut:]

    def close(self) -> None:
        """The end of the stream: what is left is the last line."""
        if self._pending:
            self._emit_pieces(self._pending)
            self._pending = b""

    def _emit_pieces(self, line: bytes) -> None:
        line = line.removesuffix(b"\r")
        while len(line) > self._max:
            cut = _boundary(line, self._max)
            self._emit(line[:cut].decode("utf-8", "replace"))
            line = line[cut:]
        self._emit(line.decode("utf-8", "replace"))


def _boundary(data: bytes, limit: int) -> int:
    """A cut position <= limit that does not split a UTF-8 character (limit itself if the data is not UTF-8)."""
    cut = limit
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:  # a continuation byte: the character started earlier
        cut -= 1
    return cut if data[cut] & 0xC0 != 0x80 else limit
