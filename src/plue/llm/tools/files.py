"""read_file, write_file, edit_file and list_files: files in the workspace, through `Workspace` only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from plue.llm.tools.bounds import (
    BINARY_SNIFF_BYTES,
    COUNT_LINES_MAX_BYTES,
    EDIT_MAX_BYTES,
    LIST_MAX_ENTRIES,
    READ_LINE_CHARS,
    READ_MAX_BYTES,
    READ_MAX_LINES,
    WALK_MAX_FILES,
    is_binary,
    size_text,
)
from plue.llm.tools.globs import compile_glob
from plue.llm.tools.outcome import ToolError
from plue.llm.tools.paths import Opened, PathRefused, Workspace
from plue.llm.tools.walk import TreeWalk

_READ = os.O_RDONLY | os.O_NONBLOCK  # NONBLOCK: opening a FIFO must not wait for a writer
_LINE_BYTES = READ_LINE_CHARS * 4 + 1  # enough for READ_LINE_CHARS characters of UTF-8, and one to spare


def read_file(workspace: Workspace, path: str, offset: int | None = None, limit: int | None = None) -> str:
    with workspace.open(path, _READ) as opened, _binary_handle(opened, path) as handle:
        size = os.fstat(opened.fd).st_size
        if is_binary(handle.read(BINARY_SNIFF_BYTES)):
            raise ToolError(f"{opened.relative!r} is a binary file ({size_text(size)}); read_file reads text only")
        handle.seek(0)
        if offset is None and limit is None and size <= READ_MAX_BYTES:
            text = handle.read().decode("utf-8", "replace")
            if text.count("\n") <= READ_MAX_LINES and all(len(line) <= READ_LINE_CHARS for line in text.split("\n")):
                return text if text else f"({opened.relative} is empty)"
            handle.seek(0)
        return _numbered(handle, opened.relative, size, offset or 1, min(limit or READ_MAX_LINES, READ_MAX_LINES))


def _numbered(handle: BinaryIO, relative: str, size: int, start: int, count: int) -> str:
    """Lines `start`.. (1-based) as `cat -n` shows them, bounded, and how to read on."""
    total = _count_lines(handle, size) if size <= COUNT_LINES_MAX_BYTES else None
    handle.seek(0)
    out: list[str] = []
    used = 0
    cut_lines = False
    full = False  # stopped by READ_MAX_BYTES
    at_end = True  # the slice reaches the end of the file
    number = 0
    for number, line, cut in _lines(handle):
        if number < start:
            continue
        text = f"{number:>6}\t{line}" + (" … [line cut]" if cut else "")
        size_of_text = len(text.encode("utf-8", "replace")) + 1
        if len(out) == count or (out and used + size_of_text > READ_MAX_BYTES):
            full = len(out) < count
            at_end = False
            break
        out.append(text)
        used += size_of_text
        cut_lines = cut_lines or cut
    if not out:
        raise ToolError(f"offset {start} is past the end of {relative!r}, which has {number:,} line(s)")
    last = start + len(out) - 1
    of = f" of {total:,}" if total is not None else ""
    notes = [f"{relative}: lines {start:,}–{last:,}{of} ({size_text(size)})"]
    if not at_end:
        why = f" ({READ_MAX_BYTES // 1024} KiB per call)" if full else ""
        notes.append(f"more follows{why}: call read_file with offset={last + 1} to read on")
    if cut_lines:
        notes.append(f"lines longer than {READ_LINE_CHARS:,} characters are cut")
    return "\n".join(out) + "\n[" + "; ".join(notes) + "]"


def _count_lines(handle: BinaryIO, size: int) -> int:
    newlines = 0
    last = b""
    while chunk := handle.read(1024 * 1024):
        newlines += chunk.count(b"\n")
        last = chunk
    return newlines + (1 if size and not last.endswith(b"\n") else 0)


def _lines(handle: BinaryIO) -> Iterator[tuple[int, str, bool]]:
    """(number, text without its newline, whether it was cut), reading at most `_LINE_BYTES` of any line."""
    number = 0
    while line := handle.readline(_LINE_BYTES):
        number += 1
        cut = False
        if len(line) == _LINE_BYTES and not line.endswith(b"\n"):  # a long line: skip the rest of it
            cut = True
            while (rest := handle.readline(_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        text = line.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "replace")
        if len(text) > READ_LINE_CHARS:
            text, cut = text[:READ_LINE_CHARS], True
        yield number, text, cut


def write_file(workspace: Workspace, path: str, content: str) -> str:
    data = _encode(content, "content")
    created = workspace.lookup(path) is None
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK  # truncated only once known to be a plain file
    with workspace.open(path, flags, create_parents=True, writing=True) as opened:
        _check_writable(opened, path)
        os.ftruncate(opened.fd, 0)
        _write_all(opened.fd, data)
        what = "created" if created else "overwrote"
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        return f"{what} {opened.relative} ({len(data):,} bytes, {lines:,} line{'' if lines == 1 else 's'})"


def edit_file(workspace: Workspace, path: str, old_string: str, new_string: str, replace_all: bool = False) -> str:
    if old_string == "":
        raise ToolError("old_string is empty; give the exact text to replace, or use write_file to write a whole file")
    if old_string == new_string:
        raise ToolError("old_string and new_string are the same; there is nothing to change")
    with workspace.open(path, os.O_RDWR | os.O_NONBLOCK, writing=True) as opened:
        size = _check_writable(opened, path).st_size
        if size > EDIT_MAX_BYTES:
            raise ToolError(f"{opened.relative!r} is too big to edit ({size_text(size)}); use write_file or bash")
        data = _read_all(opened.fd)
        if is_binary(data[:BINARY_SNIFF_BYTES]):
            raise ToolError(f"{opened.relative!r} is a binary file; edit_file edits text only")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{opened.relative!r} is not UTF-8 text; edit_file edits UTF-8 text only") from None
        found = text.count(old_string)
        if found == 0:
            raise ToolError(
                f"old_string was not found in {opened.relative}; read_file shows the exact text "
                "(whitespace, indentation and line breaks must match)"
            )
        if found > 1 and not replace_all:
            raise ToolError(
                f"old_string occurs {found} times in {opened.relative}; include more of the surrounding text "
                f"to pick one, or set replace_all to replace all {found}"
            )
        new_data = _encode(text.replace(old_string, new_string, -1 if replace_all else 1), "new_string")
        os.lseek(opened.fd, 0, os.SEEK_SET)
        _write_all(opened.fd, new_data)
        os.ftruncate(opened.fd, len(new_data))
        replaced = found if replace_all else 1
        return f"replaced {replaced} occurrence{'s' if replaced > 1 else ''} in {opened.relative}"


def list_files(workspace: Workspace, pattern: str | None = None, path: str | None = None) -> str:
    regex = compile_glob(pattern or "**")
    matches: list[str] = []
    with workspace.open_dir(path or ".") as start:
        prefix = "" if start.relative == "." else start.relative + "/"
        walk = TreeWalk(start, WALK_MAX_FILES)
        for entry in walk:
            if not regex.fullmatch(entry.relative[len(prefix) :]):
                continue
            if entry.is_link and not _link_to_file(workspace, entry.relative):
                continue
            matches.append(entry.relative)
    where = f" under {start.relative}" if start.relative != "." else ""
    if not matches:
        return f"no files match {pattern or '**'!r}{where}"
    matches.sort()
    lines = matches[:LIST_MAX_ENTRIES]
    if len(matches) > LIST_MAX_ENTRIES:
        lines.append(f"… {len(matches) - LIST_MAX_ENTRIES:,} more (narrow the pattern or the path)")
    if walk.truncated:
        lines.append(f"[stopped after looking at {WALK_MAX_FILES:,} files; give a narrower path]")
    return "\n".join(lines)


def _link_to_file(workspace: Workspace, relative: str) -> bool:
    """Whether a link found by a walk leads to a file in the workspace (else it is left out)."""
    try:
        status, _ = workspace.stat(relative)
    except ToolError:  # out of the workspace, dangling, or a loop
        return False
    return stat.S_ISREG(status.st_mode)


def _binary_handle(opened: Opened, path: str) -> BinaryIO:
    """A handle on an opened regular file (refusing directories and special files); closing it leaves the fd."""
    mode = os.fstat(opened.fd).st_mode
    if stat.S_ISDIR(mode):
        raise ToolError(f"{path!r} is a directory; read_file reads files, list_files shows what is in a directory")
    if not stat.S_ISREG(mode):
        raise ToolError(f"{path!r} is not a regular file; read_file reads regular files only")
    return open(opened.fd, "rb", closefd=False)


def _check_writable(opened: Opened, path: str) -> os.stat_result:
    status = os.fstat(opened.fd)
    if stat.S_ISDIR(status.st_mode):
        raise ToolError(f"{path!r} is a directory; give the path of a file")
    if not stat.S_ISREG(status.st_mode):
        raise ToolError(f"{path!r} is not a regular file; only regular files can be written")
    if status.st_nlink > 1:
        raise PathRefused(f"{path!r} has other hard links, which may be outside the workspace; it cannot be written")
    return status


def _encode(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError(f"{field} is not valid Unicode text (it has unpaired surrogates)") from None


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1024 * 1024):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
