"""Bare mirrors of the configured repositories, and trees of their commits.

Each repository gets a directory of its own under the mirrors root:

    <root>/<owner>+<name>/mirror.git      git clone --mirror of the configured URL
    <root>/<owner>+<name>/trees/<sha>/    the files of one commit, made once, then only read
    <root>/<owner>+<name>/lock            serialises clone and fetch, across threads and processes

A commit that is not in the mirror yet triggers one `git fetch --prune` (a webhook
usually announces a commit before anyone fetched it); two callers needing the same
fetch wait for each other instead of fetching twice. A tree is a `git clone --shared`
of the mirror at that commit (objects are borrowed, not copied), so `git ls-files`
inside it lists exactly the commit's files even when the data directory itself lies
in another git work tree. It is built in a temporary directory and renamed into place:
a tree that exists is complete. `archive` writes a commit's files as a gzipped tarball
(what runner agents download). Git never runs through a shell, always with a timeout,
and never prompts for credentials; every failure is a `MirrorError` of one sentence.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from plue.server.config import RepositoryConfig, ServerConfig

SHA_RE: Final = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
NETWORK_TIMEOUT_SECONDS: Final = 600.0  # clone and fetch
LOCAL_TIMEOUT_SECONDS: Final = 120.0  # everything that reads the mirror only
MAX_ERROR_CHARS: Final = 300


class MirrorError(Exception):
    """A repository could not be cloned, fetched or read (the message says which and why)."""


class Mirror:
    """The bare mirror of one repository, in `root` (a directory of its own)."""

    def __init__(self, config: RepositoryConfig, root: Path, *, network_timeout: float = NETWORK_TIMEOUT_SECONDS):
        self.config = config
        self.root = Path(root)
        self.git_dir = self.root / "mirror.git"
        self.trees_dir = self.root / "trees"
        self.network_timeout = network_timeout
        self._thread_lock = threading.Lock()  # flock alone would also do, but threads then spin on files

    @property
    def name(self) -> str:
        return self.config.name

    # --- the mirror ------------------------------------------------------------------

    def ensure(self) -> None:
        """Clone the mirror if it is not there yet."""
        if self._cloned():
            return
        with self._locked():
            if not self._cloned():
                self._clone()

    def fetch(self) -> None:
        """Bring the mirror up to date with the remote (cloning it first if needed)."""
        with self._locked():
            if not self._cloned():
                self._clone()
                return
            self._git(["fetch", "--prune", "--quiet", "origin"], self.network_timeout, f"cannot fetch {self._from}")

    def has_commit(self, sha: str) -> bool:
        if not self._cloned():
            return False
        result = self._run(["cat-file", "-e", f"{sha}^{{commit}}"], LOCAL_TIMEOUT_SECONDS)
        return result.returncode == 0

    def resolve(self, ref: str, *, fetch: bool = True) -> str:
        """The commit sha `ref` (a branch, tag, full ref or sha) points to, after a fetch unless told not to."""
        if not ref or ref.startswith("-") or any(ord(char) < 0x20 for char in ref):
            raise MirrorError(f"{ref!r} is not a ref of {self.name}")
        if fetch:
            self.fetch()
        else:
            self.ensure()
        result = self._run(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], LOCAL_TIMEOUT_SECONDS)
        sha = result.stdout.decode("ascii", "replace").strip()
        if result.returncode != 0 or not SHA_RE.match(sha):
            raise MirrorError(f"{self.name} has no branch, tag or commit {ref!r}")
        return sha

    def ensure_commit(self, sha: str) -> None:
        """Make sure the mirror holds commit `sha`, fetching once if it does not."""
        check_sha(sha)
        if self.has_commit(sha):
            return
        with self._locked():
            # Someone may have fetched while this thread waited for the lock.
            if self.has_commit(sha):
                return
            if self._cloned():
                self._git(["fetch", "--prune", "--quiet", "origin"], self.network_timeout, f"cannot fetch {self._from}")
            else:
                self._clone()
        if not self.has_commit(sha):
            raise MirrorError(f"commit {sha} is not in {self._from}; was it pushed?")

    # --- trees of commits ------------------------------------------------------------

    def made_tree(self, sha: str) -> Path | None:
        """`checkout(sha)` if that tree is made already (one stat, no git), else None."""
        check_sha(sha)
        tree = self.trees_dir / sha
        return tree if tree.is_dir() else None

    def checkout(self, sha: str) -> Path:
        """The files of commit `sha`, in `trees/<sha>` (made once, then reused: do not write in it)."""
        check_sha(sha)
        tree = self.trees_dir / sha
        if tree.is_dir():
            return tree
        self.ensure_commit(sha)
        self.trees_dir.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=self.trees_dir, prefix=f".{sha[:12]}-"))
        try:
            self._clone_at(sha, temp)
            try:
                os.rename(temp, tree)
            except OSError:
                if not tree.is_dir():  # not "another caller made it first": a real failure
                    raise
        except OSError as exc:
            raise MirrorError(
                f"cannot write the tree of {sha[:12]} of {self.name} in {self.trees_dir}: {exc}"
            ) from None
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return tree

    def workspace(self, sha: str, destination: Path) -> Path:
        """A fresh, writable work tree of commit `sha` at `destination` (which must not exist yet)."""
        check_sha(sha)
        self.ensure_commit(sha)
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._clone_at(sha, destination)
        return destination

    def archive(self, sha: str, destination: Path) -> Path:
        """A gzipped tarball of the files of commit `sha` written to `destination` (paths relative to the
        repository's root, no leading directory): what a runner agent unpacks into its workspace."""
        check_sha(sha)
        self.ensure_commit(sha)
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._git(
            ["archive", "--format=tar.gz", "-o", str(destination), sha],
            LOCAL_TIMEOUT_SECONDS,
            f"cannot archive {sha[:12]} of {self.name}",
        )
        return destination

    def _clone_at(self, sha: str, destination: Path) -> None:
        what = f"cannot check out {sha[:12]} of {self.name}"
        self._git(
            ["clone", "--shared", "--no-checkout", "--quiet", "--", str(self.git_dir), str(destination)],
            LOCAL_TIMEOUT_SECONDS,
            what,
            git_dir=False,
        )
        self._git(
            ["-c", "advice.detachedHead=false", "-C", str(destination), "checkout", "--quiet", "--detach", sha],
            LOCAL_TIMEOUT_SECONDS,
            what,
            git_dir=False,
        )

    # --- plumbing --------------------------------------------------------------------

    @property
    def _from(self) -> str:
        return f"{self.name} from {self.config.url}"

    def _cloned(self) -> bool:
        return (self.git_dir / "HEAD").is_file()

    def _clone(self) -> None:
        """Clone into a temporary directory renamed into place: a mirror that exists is complete."""
        self.root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=self.root, prefix=".mirror-"))
        try:
            self._git(
                ["clone", "--mirror", "--quiet", "--", self.config.url, str(temp)],
                self.network_timeout,
                f"cannot clone {self._from}",
                git_dir=False,
            )
            shutil.rmtree(self.git_dir, ignore_errors=True)  # the remains of an interrupted clone
            os.rename(temp, self.git_dir)
        except OSError as exc:
            raise MirrorError(f"cannot write the mirror of {self.name} in {self.root}: {exc}") from None
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / "lock", "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, args: list[str], timeout: float, *, git_dir: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = ["git", *(["--git-dir", str(self.git_dir)] if git_dir else []), *args]
        try:
            return subprocess.run(
                command,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=_git_environment(),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise MirrorError(f"git {args[0]} for {self.name} took longer than {timeout:g} s and was stopped") from None
        except OSError as exc:
            raise MirrorError(f"cannot run git (is it installed?): {exc}") from None

    def _git(self, args: list[str], timeout: float, what: str, *, git_dir: bool = True) -> None:
        result = self._run(args, timeout, git_dir=git_dir)
        if result.returncode != 0:
            raise MirrorError(f"{what}: {_last_line(result.stderr)}")


class Mirrors:
    """The mirrors of every configured repository, one `Mirror` object each (so they share their locks)."""

    def __init__(self, repositories: Mapping[str, RepositoryConfig], root: Path) -> None:
        self.root = Path(root)
        self._mirrors = {name: Mirror(repo, self.root / directory_name(name)) for name, repo in repositories.items()}

    @classmethod
    def from_config(cls, config: ServerConfig) -> Mirrors:
        return cls(config.repositories, config.mirrors_dir)

    def get(self, name: str) -> Mirror | None:
        return self._mirrors.get(name)

    def __getitem__(self, name: str) -> Mirror:
        return self._mirrors[name]

    def __contains__(self, name: object) -> bool:
        return name in self._mirrors

    def __iter__(self) -> Iterator[Mirror]:
        return iter(self._mirrors.values())


def directory_name(repository: str) -> str:
    """`owner/name` as one path component ('+' cannot appear in GitHub names, so it cannot collide)."""
    return repository.replace("/", "+")


def check_sha(sha: str) -> None:
    if type(sha) is not str or not SHA_RE.match(sha):
        raise MirrorError(f"{sha!r} is not a commit sha (40 or 64 lowercase hex digits)")


def _git_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true", LC_ALL="C")
    # Never pick up a repository from the server's own working directory.
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    return env


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    text = lines[-1] if lines else "git gave no reason"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
