"""Finding the ``*.plue.py`` workflow files of a repository.

Inside a git work tree, git decides what belongs to the repository (tracked files
plus untracked ones that are not ignored), so ``.gitignore`` is honoured exactly as
git does. Elsewhere the tree is walked. Both ways apply the same directory rules,
so vendored or generated trees never contribute workflows.

Paths are handled as '/'-separated strings: a scan lists thousands of them, and
pathlib objects cost several times more per path.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

WORKFLOW_SUFFIX = ".plue.py"
PROMPT_SUFFIX = ".prompt.md"
PROMPTS_DIR_NAME = "prompts"

# Directories that never hold the repository's own workflows.
SKIPPED_DIR_NAMES = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".plue"})
# A directory holding this file is a virtualenv, whatever its name.
VENV_MARKER = "pyvenv.cfg"

GIT_TIMEOUT_SECONDS = 60


def is_workflow_name(name: str) -> bool:
    """`NAME.plue.py` with a non-empty NAME."""
    return name.endswith(WORKFLOW_SUFFIX) and len(name) > len(WORKFLOW_SUFFIX)


def discover(repo: Path) -> list[Path]:
    """The repository's workflow files, repo-relative, sorted.

    Symlinked directories are never entered; a symlinked *file* is listed, and
    reading it (`plue.registry.source`) refuses it if it leads out of the repository.
    Files that git lists but that were deleted from the work tree are left out.
    """
    return [Path(path) for path in discover_paths(str(repo))]


def is_workflow_path(path: str) -> bool:
    return is_workflow_name(posixpath.basename(path))


def is_prompt_path(path: str) -> bool:
    """`NAME.prompt.md` anywhere, or any `.md` file inside a `prompts/` directory."""
    name = posixpath.basename(path)
    if name.endswith(PROMPT_SUFFIX) and len(name) > len(PROMPT_SUFFIX):
        return True
    return name.endswith(".md") and len(name) > 3 and PROMPTS_DIR_NAME in posixpath.dirname(path).split("/")


def discover_prompts(repo: Path) -> list[Path]:
    """The repository's prompt files, repo-relative, sorted (same rules as workflows)."""
    return [Path(path) for path in discover_paths(str(repo), is_prompt_path)]


def discover_paths(repo: str, wanted: Callable[[str], bool] = is_workflow_path) -> list[str]:
    """`discover` as sorted '/'-separated strings (or the files `wanted` picks)."""
    listed = _git_files(repo)
    candidates = listed if listed is not None else _walk_files(repo, wanted)
    rules = _DirRules(repo)
    found = {
        path
        for path in candidates
        if wanted(path) and not rules.skipped(posixpath.dirname(path)) and os.path.lexists(os.path.join(repo, path))
    }
    return sorted(found)


def _git_files(repo: str) -> list[str] | None:
    """Tracked plus untracked-but-not-ignored files; None when `repo` is not in a git work tree."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=repo,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        # No git on this machine, or it hung: the walk gives a sensible answer anyway.
        return None
    if result.returncode != 0:
        return None
    # Paths relative to cwd (the repo directory), '/'-separated.
    return [os.fsdecode(raw) for raw in result.stdout.split(b"\0") if raw]


def _walk_files(repo: str, wanted: Callable[[str], bool]) -> Iterable[str]:
    for top, dirs, files in os.walk(repo, followlinks=False):
        if VENV_MARKER in files:
            dirs.clear()
            continue
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIR_NAMES]
        rel = os.path.relpath(top, repo).replace(os.sep, "/")
        for name in files:
            path = name if rel == "." else f"{rel}/{name}"
            if wanted(path):
                yield path


class _DirRules:
    """Whether a repo-relative directory lies in a skipped tree (answers memoised per directory)."""

    def __init__(self, repo: str) -> None:
        self._repo = repo
        self._memo: dict[str, bool] = {"": False}

    def skipped(self, directory: str) -> bool:
        answer = self._memo.get(directory)
        if answer is None:
            answer = (
                posixpath.basename(directory) in SKIPPED_DIR_NAMES
                or os.path.isfile(os.path.join(self._repo, directory, VENV_MARKER))
                or self.skipped(posixpath.dirname(directory))
            )
            self._memo[directory] = answer
        return answer
