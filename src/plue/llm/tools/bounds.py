"""How much a tool call may read, scan and return, and helpers to stay within it.

Everything the model sees costs context and tokens, so every output is bounded
and says what it left out and how to get at it (an offset, a narrower path, a
pattern).
"""

from __future__ import annotations

from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

# read_file
READ_MAX_LINES: Final = 2000
READ_MAX_BYTES: Final = 256 * KIB
READ_LINE_CHARS: Final = 2000  # a longer line is cut (minified code, data)
BINARY_SNIFF_BYTES: Final = 8 * KIB  # a NUL byte in the first 8 KiB makes a file binary (as git and grep decide)
COUNT_LINES_MAX_BYTES: Final = 128 * MIB  # beyond this, a slice does not count the rest of the file's lines

# edit_file
EDIT_MAX_BYTES: Final = 16 * MIB

# list_files and grep walks
LIST_MAX_ENTRIES: Final = 1000
WALK_MAX_FILES: Final = 200_000  # files looked at before a walk gives up and asks for a narrower path

# grep
GREP_DEFAULT_RESULTS: Final = 100
GREP_MAX_RESULTS: Final = 1000
GREP_MAX_BYTES: Final = 64 * KIB
GREP_LINE_CHARS: Final = 400
GREP_MAX_FILE_BYTES: Final = 32 * MIB  # larger files are skipped (and counted in the summary)
GREP_SECONDS: Final = 30.0

# bash and git: combined stdout and stderr
PROCESS_HEAD_BYTES: Final = 16 * KIB
PROCESS_TAIL_BYTES: Final = 48 * KIB  # the end of the output (errors, summaries) usually matters most


class HeadTail:
    """Bytes in, the first `head` and the last `tail` of them kept, the rest counted: memory stays bounded."""

    def __init__(self, head: int = PROCESS_HEAD_BYTES, tail: int = PROCESS_TAIL_BYTES) -> None:
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._tail_limit:  # trim now and then, not on every read
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def cut(self) -> int:
        return max(0, self.total - self._head_limit - self._tail_limit)

    def text(self) -> str:
        tail = self._tail[-self._tail_limit :] if self._tail_limit else b""
        head = self._head.decode("utf-8", "replace")
        if not self.cut:
            return head + bytes(tail).decode("utf-8", "replace")
        note = f"[… {self.cut:,} bytes of output cut; showing the first {len(self._head):,} and last {len(tail):,} …]"
        return f"{head}\n{note}\n{bytes(tail).decode('utf-8', 'replace')}"


def clip_line(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def is_binary(sample: bytes) -> bool:
    return b"\0" in sample


def size_text(size: int) -> str:
    if size < KIB:
        return f"{size} bytes"
    if size < MIB:
        return f"{size / KIB:.1f} KiB"
    return f"{size / MIB:.1f} MiB"
