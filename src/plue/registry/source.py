"""Reading a workflow file's bytes safely: inside the repository, regular, bounded.

Workflow files come from repositories we do not trust, so reading refuses what
could hurt the reader: a symlink out of the repository, a FIFO or device (opening
it could block), a file too large to be a workflow. A file that disappears between
listing and reading is an error for that file only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

# (mtime_ns, size, inode, ctime_ns): what changes whenever the file's bytes change.
Stamp = tuple[int, int, int, int]


class SourceError(Exception):
    """A workflow file could not be read; the message is for the user (without the path)."""


@dataclass(frozen=True)
class Located:
    """A workflow file found on disk, ready to read."""

    target: str  # the file to open: the path itself, or a symlink's target inside the repo
    stamp: Stamp
    is_link: bool


def locate(root: str, rel: str) -> Located:
    """Stat `rel` under `root` (an absolute, resolved directory) without reading it."""
    path = os.path.join(root, rel)
    try:
        info = os.lstat(path)
        is_link = stat.S_ISLNK(info.st_mode)
        target = path
        if is_link:
            resolved = Path(path).resolve(strict=True)
            if not resolved.is_relative_to(root):
                raise SourceError("is a symlink leading outside the repository; not followed")
            target = str(resolved)
            info = os.stat(target)
    except FileNotFoundError:
        raise SourceError("file vanished, or is a broken symlink") from None
    except RuntimeError:  # a symlink loop, from Path.resolve
        raise SourceError("is a symlink loop") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SourceError("is not a regular file")
    return Located(target, (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns), is_link)


def read(located: Located, max_bytes: int) -> bytes:
    """The file's bytes, refusing a file over `max_bytes` before reading it whole."""
    size = located.stamp[1]
    if size > max_bytes:
        raise SourceError(too_large_message(size, max_bytes))
    # O_NOFOLLOW: a regular file swapped for a symlink after `locate` is refused, not followed.
    # O_NONBLOCK: a file swapped for a FIFO cannot block us in open().
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not located.is_link:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(located.target, flags)
    except FileNotFoundError:
        raise SourceError("file vanished while being read") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError("became a symlink while being read; not followed") from None
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceError("is not a regular file")
        # The file may have grown since it was stat'ed: never read more than the limit + 1.
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceError(f"file grew past the {max_bytes}-byte limit for workflow files")
    return data


def too_large_message(size: int, max_bytes: int) -> str:
    return f"file is {size} bytes, over the {max_bytes}-byte limit for workflow files"


def source_hash(data: bytes) -> str:
    """The identity of a workflow file's content: sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()
