"""Confinement: every path the model gives is opened inside the workspace, or refused.

The model's paths are resolved the way the kernel would resolve them, but by
this code, one component at a time, so that no step can leave the workspace:

- each component is opened with ``O_NOFOLLOW`` relative to the descriptor of
  the directory before it (``dir_fd=``, ``openat``), starting from a descriptor
  of the workspace root;
- ``..`` pops our own stack of directory descriptors, never asks the kernel,
  and popping the root refuses the path;
- a symbolic link (the kernel refuses to traverse it: ``ELOOP``/``ENOTDIR``)
  is read with ``readlink`` and its target resolved by these same rules: an
  absolute target must lie in the workspace, a relative one climbs our stack.
  So links inside the workspace work, and links out (absolute, relative, dangling,
  at any component, including the last) are refused before anything is opened
  through them.

Why this and not ``os.path.realpath`` + a prefix check: realpath resolves
names, and the file is opened later by name, so a directory swapped for a
symlink in between (a race another process can win) would be followed. Here
the kernel never follows a link we have not inspected, and each descriptor we
hold is the directory we checked. (Linux's ``openat2(RESOLVE_BENEATH)`` does
the same in the kernel, but has no Python binding.) What remains: a directory
we hold being renamed out of the workspace meanwhile, which needs a process
that can already write outside it.

Hard links cannot be told from ordinary files; writes refuse files with more
than one link, so a hard link planted in the workspace cannot be used to
overwrite a file elsewhere.

Writing tools may not touch ``.git`` (at any depth, also reached through a
link): a written ``.git/config`` or hook would make the `git` tool run any
command.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from plue.llm.tools.outcome import ToolError

MAX_PATH_CHARS: Final = 4096
MAX_LINKS: Final = 40  # as Linux's MAXSYMLINKS
_LOOKUP: Final = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK)  # O_PATH opens without reading anything
_DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefused(ToolError):
    """A path outside the workspace, or one the tool may not use."""


def outside(path: str, link: str | None = None) -> PathRefused:
    through = f" (through the symbolic link {link!r})" if link else ""
    return PathRefused(f"path {path!r} is outside the workspace{through}; use a path relative to the workspace")


def check_path_text(path: str) -> None:
    if "\0" in path:
        raise PathRefused(f"path {path[:200]!r} contains a NUL byte; give a plain path relative to the workspace")
    if len(path) > MAX_PATH_CHARS:
        raise PathRefused(f"path is too long ({len(path):,} characters; at most {MAX_PATH_CHARS:,})")
    try:
        os.fsencode(path)
    except UnicodeError:
        raise PathRefused(f"path {path[:200]!r} is not valid text for a file name") from None


@dataclass
class Opened:
    """A descriptor opened inside the workspace, and the path it was found at (links resolved)."""

    fd: int
    relative: str  # from the workspace root, '/'-separated; '.' for the root itself
    created: bool = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Workspace:
    """The directory the tools work in; the only way tools open what the model names."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        absolute = os.path.abspath(self.root)
        self.real = os.path.realpath(absolute)
        self._prefixes = {tuple(_parts(absolute)), tuple(_parts(self.real))}

    def open(
        self,
        path: str,
        flags: int,
        *,
        mode: int = 0o666,
        create_parents: bool = False,
        writing: bool = False,
    ) -> Opened:
        """Open `path` with `flags` for its last component (never following a link the rules did not allow).

        With `writing`, `.git` is out of bounds; with `create_parents`, missing directories are made.
        Raises `ToolError` (`PathRefused`) with a message for the model.
        """
        check_path_text(path)
        parts = self._relative_parts(path)
        try:
            root_fd = os.open(self.root, _DIRECTORY & ~os.O_NOFOLLOW)
        except OSError as exc:
            raise ToolError(f"the workspace {str(self.root)!r} cannot be opened: {exc.strerror}") from None
        return _Walk(self, path, root_fd, writing).run(parts, flags, mode, create_parents)

    def open_dir(self, path: str) -> Opened:
        return self.open(path, _DIRECTORY)

    def stat(self, path: str) -> tuple[os.stat_result, str]:
        """What `path` is (following links the rules allow) and where it is; raises `ToolError` if missing."""
        with self.open(path, _LOOKUP) as opened:
            return os.fstat(opened.fd), opened.relative

    def lookup(self, path: str) -> str | None:
        """Where `path` resolves to inside the workspace, None if nothing is there; raises `PathRefused` if outside."""
        try:
            return self.stat(path)[1]
        except PathRefused:
            raise
        except ToolError:
            return None

    def _relative_parts(self, path: str) -> list[str]:
        parts = _parts(path)
        if os.path.isabs(path):
            inside = self.inside_parts(path)
            if inside is None:
                raise outside(path)
            parts = inside
        depth = 0
        for part in parts:  # 'a/../../x' leaves even when 'a' does not exist (the walk alone would say "missing")
            depth += -1 if part == ".." else 1
            if depth < 0:
                raise outside(path)
        return parts

    def inside_parts(self, target: str) -> list[str] | None:
        """An absolute link target as parts relative to the root, or None when it is elsewhere."""
        parts = _parts(target)
        for prefix in self._prefixes:
            if tuple(parts[: len(prefix)]) == prefix:
                return parts[len(prefix) :]
        return None


class _Walk:
    """One resolution: a stack of directory descriptors from the root down."""

    def __init__(self, workspace: Workspace, path: str, root_fd: int, writing: bool) -> None:
        self.workspace = workspace
        self.path = path
        self.stack = [root_fd]
        self.names: list[str] = []
        self.writing = writing
        self.links = 0
        self.link: str | None = None  # the last link followed, for messages

    def run(self, parts: list[str], flags: int, mode: int, create_parents: bool) -> Opened:
        try:
            return self._resolve(deque(parts), flags, mode, create_parents)
        except OSError as exc:
            raise _error(exc, self.path) from None
        finally:
            for fd in self.stack:
                os.close(fd)

    def _resolve(self, pending: deque[str], flags: int, mode: int, create_parents: bool) -> Opened:
        while pending:
            part = pending.popleft()
            if part == "..":
                if len(self.stack) == 1:
                    raise outside(self.path, self.link)
                os.close(self.stack.pop())
                self.names.pop()
                continue
            if self.writing and part.casefold() == ".git":
                raise PathRefused(
                    f"path {self.path!r} is inside .git; git's own files cannot be written (use the git tool)"
                )
            last = not pending
            try:
                if last:
                    fd = os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.stack[-1])
                    if not stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH opens a link itself: follow it below
                        return Opened(fd, "/".join([*self.names, part]))
                    os.close(fd)
                    self._follow(part, pending)
                else:
                    fd = os.open(part, _DIRECTORY, dir_fd=self.stack[-1])
                    self.stack.append(fd)
                    self.names.append(part)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and self._is_link(part):
                    self._follow(part, pending)
                elif exc.errno == errno.ENOENT and create_parents and not last:
                    with contextlib.suppress(FileExistsError):  # made meanwhile: opened again, by the same rules
                        os.mkdir(part, 0o777, dir_fd=self.stack[-1])
                    pending.appendleft(part)
                elif exc.errno == errno.ENOTDIR and not last:
                    where = "/".join([*self.names, part])
                    raise ToolError(f"path {self.path!r} cannot be used: {where!r} is not a directory") from None
                else:
                    raise
        # Nothing left after '..': the path names a directory already on the stack.
        fd = os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=self.stack[-1])
        return Opened(fd, "/".join(self.names) or ".")

    def _is_link(self, part: str) -> bool:
        try:
            return stat.S_ISLNK(os.lstat(part, dir_fd=self.stack[-1]).st_mode)
        except OSError:
            return False

    def _follow(self, part: str, pending: deque[str]) -> None:
        """Replace the link `part` by its target's parts, to be resolved by the same rules."""
        self.links += 1
        if self.links > MAX_LINKS:
            raise ToolError(f"path {self.path!r} goes through too many symbolic links")
        self.link = "/".join([*self.names, part])
        target = os.readlink(part, dir_fd=self.stack[-1])
        if os.path.isabs(target):
            inside = self.workspace.inside_parts(target)
            if inside is None:
                raise outside(self.path, self.link)
            while len(self.stack) > 1:
                os.close(self.stack.pop())
            self.names.clear()
            parts = inside
        else:
            parts = _parts(target)
        pending.extendleft(reversed(parts))


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _error(exc: OSError, path: str) -> ToolError:
    code = exc.errno
    if code == errno.ENOENT:
        return ToolError(f"path {path!r} does not exist; list_files shows what is there")
    if code == errno.EISDIR:
        return ToolError(f"path {path!r} is a directory")
    if code == errno.ENOTDIR:
        return ToolError(f"path {path!r} is not a directory")
    if code in (errno.EACCES, errno.EPERM):
        return ToolError(f"permission denied for path {path!r}")
    if code == errno.ENAMETOOLONG:
        return ToolError(f"path {path[:200]!r} is too long for the file system")
    if code == errno.ELOOP:
        return ToolError(f"path {path!r} goes through too many symbolic links")
    if code == errno.ENXIO:
        return ToolError(f"path {path!r} is not a regular file")
    return ToolError(f"path {path!r} cannot be opened: {exc.strerror or exc}")
