"""A fresh workspace per attempt: the run's source unpacked into an empty directory, wiped afterwards.

    prepare_workspace(root, attempt_id) -> Path      an empty `root/<attempt_id>` (remains of a crash removed)
    unpack_source(tarball, workspace)                the server's `git archive` tarball, extracted safely
    wipe(path)                                       remove a tree, even read-only or unreadable directories

The tarball comes from the server, but its content comes from a repository anyone with push
rights shapes, so extraction uses `tarfile`'s ``"data"`` filter: absolute paths, paths out
of the workspace (``..``), links pointing out of it, device files and special bits are
refused or stripped, and an archive bigger than `MAX_UNPACKED_BYTES` or holding more than
`MAX_MEMBERS` entries is refused. Every refusal is a `WorkspaceError` with one sentence.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Final

MAX_UNPACKED_BYTES: Final = 8 * 1024**3
MAX_MEMBERS: Final = 500_000


class WorkspaceError(Exception):
    """The workspace could not be made, filled or removed; `str()` says why in one sentence."""


def prepare_workspace(root: Path, attempt_id: int) -> Path:
    """An empty directory `root/<attempt_id>` only this runner's user may enter."""
    workspace = root / str(attempt_id)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if workspace.exists() or workspace.is_symlink():
            wipe(workspace)  # what a runner that died left behind
        workspace.mkdir(mode=0o700)
    except OSError as exc:
        raise WorkspaceError(f"cannot make the workspace {workspace}: {exc.strerror or exc}") from None
    return workspace


def unpack_source(tarball: Path, workspace: Path) -> int:
    """Extract the gzipped tarball into `workspace`; the number of entries. Refuses anything unsafe."""
    try:
        with tarfile.open(tarball, mode="r:*") as archive:
            members = []
            total = 0
            for member in archive:
                # The "data" filter would make an absolute name relative; a git archive never holds one: refuse it.
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    raise WorkspaceError(f"the run's source holds an entry that is not allowed: {member.name[:200]!r}")
                members.append(member)
                total += max(0, member.size)
                if len(members) > MAX_MEMBERS:
                    raise WorkspaceError(f"the run's source holds more than {MAX_MEMBERS} entries")
                if total > MAX_UNPACKED_BYTES:
                    raise WorkspaceError(f"the run's source unpacks to more than {MAX_UNPACKED_BYTES} bytes")
            archive.extractall(workspace, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise WorkspaceError(f"the run's source holds an entry that is not allowed: {exc}") from None
    except (tarfile.TarError, EOFError) as exc:
        raise WorkspaceError(f"the run's source is not a readable tarball: {exc}") from None
    except OSError as exc:
        raise WorkspaceError(f"cannot unpack the run's source into {workspace}: {exc.strerror or exc}") from None
    return len(members)


def wipe(path: Path) -> None:
    """Remove `path` and everything in it, whatever modes a step left (read-only or unreadable directories).

    A symbolic link is removed, never followed. Raises `WorkspaceError` if something stays.
    """
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    if not path.exists():
        return
    _make_removable(path)
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WorkspaceError(f"cannot remove the workspace {path}: {exc.strerror or exc}") from None


def _make_removable(root: Path) -> None:
    """Give the owner rwx on every directory of the tree (entries are removed through their directory)."""
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            mode = os.lstat(directory).st_mode
            if not stat.S_ISDIR(mode):
                continue
            if mode & stat.S_IRWXU != stat.S_IRWXU:
                os.chmod(directory, mode | stat.S_IRWXU)
            with os.scandir(directory) as entries:
                pending.extend(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        except OSError:
            continue  # rmtree will say what cannot be removed
