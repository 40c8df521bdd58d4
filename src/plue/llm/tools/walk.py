"""Walking a directory tree inside the workspace, for list_files and grep.

The walk holds a descriptor of each directory it is in and opens the next
one with ``O_NOFOLLOW`` relative to it, so it never enters a symbolic link to a
directory (inside or outside the workspace: no loops, no duplicates, no
escapes) and a directory swapped for a link meanwhile is skipped, not
followed. ``.git`` directories are skipped. Files come in a stable order
(names sorted in each directory, depth first).

Links to files are reported as links: the caller resolves them through
`Workspace`, which refuses those that lead out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from plue.llm.tools.paths import Opened

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SKIPPED_DIRECTORIES = frozenset({".git"})


@dataclass(frozen=True)
class Entry:
    relative: str  # from the workspace root
    name: str
    dir_fd: int  # the directory holding it; valid only until the walk moves on
    is_link: bool


class TreeWalk:
    """The files under a directory opened by `Workspace.open_dir`, at most `max_files` of them."""

    def __init__(self, start: Opened, max_files: int) -> None:
        self._start = start
        self._max_files = max_files
        self.truncated = False  # stopped at max_files
        self.seen = 0

    def __iter__(self) -> Iterator[Entry]:
        prefix = "" if self._start.relative == "." else self._start.relative + "/"
        stack: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
        try:
            stack.append((self._start.fd, prefix, _sorted(self._start.fd)))
            while stack:
                fd, base, entries = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    stack.pop()
                    if fd != self._start.fd:
                        os.close(fd)
                    continue
                if _is_dir(entry):
                    if entry.name in SKIPPED_DIRECTORIES:
                        continue
                    try:
                        child = os.open(entry.name, _DIRECTORY, dir_fd=fd)
                    except OSError:
                        continue  # gone, unreadable, or swapped for a link: not ours to enter
                    stack.append((child, f"{base}{entry.name}/", _sorted(child)))
                    continue
                is_link = entry.is_symlink()
                if not is_link and not _is_file(entry):
                    continue  # sockets, FIFOs, devices
                if self.seen >= self._max_files:
                    self.truncated = True
                    return
                self.seen += 1
                yield Entry(base + entry.name, entry.name, fd, is_link)
        finally:
            for fd, _, _ in stack:
                if fd != self._start.fd:
                    os.close(fd)


def _sorted(fd: int) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(fd) as entries:
            return iter(sorted(entries, key=lambda entry: entry.name))
    except OSError:
        return iter(())


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
