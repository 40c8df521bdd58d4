"""The grep tool: a Python regular expression over the workspace's text files.

Why a separate process: Python's `re` backtracks, so a pattern like
``(a+)+$`` can take exponential time on one ordinary line, and it holds the GIL
while it does (so no thread can watch it) and checks for signals only on the
main thread (so no alarm can stop it on the agent's thread). A per-file or
per-line time budget checked between matches never gets the chance to run. So
the search runs in a child Python process (`grep_worker`) under a wall-clock
budget of `GREP_SECONDS`; past it the process group is killed, and the model
gets the matches found so far and a hint to simplify the pattern or narrow the
search. Starting the child costs some tens of milliseconds per call, small
next to a model turn. Results are also bounded in number (`max_results`) and
bytes, lines are cut, binary files and ``.git`` are skipped, and files over
`GREP_MAX_FILE_BYTES` are skipped and counted.

The child resolves every path through `Workspace` exactly as the other tools
do, walks with `TreeWalk`, and starts with Python's ``-P`` and cwd ``/`` so
nothing in the workspace can shadow the modules it imports.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from plue.llm.tools.bounds import (
    BINARY_SNIFF_BYTES,
    GREP_DEFAULT_RESULTS,
    GREP_LINE_CHARS,
    GREP_MAX_BYTES,
    GREP_MAX_FILE_BYTES,
    GREP_MAX_RESULTS,
    GREP_SECONDS,
    KIB,
    WALK_MAX_FILES,
    HeadTail,
    clip_line,
    is_binary,
    size_text,
)
from plue.llm.tools.globs import compile_glob
from plue.llm.tools.outcome import ToolError, ToolOutcome
from plue.llm.tools.paths import Workspace
from plue.llm.tools.process import run_bounded
from plue.llm.tools.walk import TreeWalk

WORKER_ERROR: Final = "error: "  # the worker's first line when it refuses, then it exits with 2
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_SOURCE_ROOT: Final = str(Path(__file__).resolve().parents[3])  # the directory holding the plue package


@dataclass(frozen=True)
class GrepRequest:
    pattern: str
    path: str = "."
    glob: str | None = None
    ignore_case: bool = False
    max_results: int = GREP_DEFAULT_RESULTS

    def compile(self) -> re.Pattern[str]:
        try:
            return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)
        except re.error as exc:
            message = f"invalid regular expression {self.pattern[:200]!r}: {exc} (grep uses Python's re syntax)"
            raise ToolError(message) from None
        except (RecursionError, OverflowError, MemoryError):
            raise ToolError(f"the regular expression {self.pattern[:200]!r} is too complex") from None


def grep(workspace: Workspace, request: GrepRequest, *, cancelled: threading.Event | None) -> ToolOutcome:
    """Check the request here (cheap, clear errors), then search in a child process under a time budget."""
    request.compile()
    if request.glob is not None:
        compile_glob(request.glob)
    workspace.stat(request.path)  # refuses a path outside, or a missing one
    argv = [sys.executable, "-P", "-s", "-m", "plue.llm.tools.grep_worker", str(workspace.root)]
    env = {"PYTHONPATH": _SOURCE_ROOT, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8:replace"}
    output = HeadTail(head=GREP_MAX_BYTES + 4 * KIB, tail=4 * KIB)
    try:
        finished = run_bounded(
            [*argv, json.dumps(asdict(request))],
            cwd="/",
            env=env,
            timeout=GREP_SECONDS,
            cancelled=cancelled,
            output=output,
        )
    except OSError as exc:
        raise ToolError(f"grep could not start its search process: {exc.strerror or exc}") from None
    text = finished.output
    if finished.stopped == "cancelled":
        return ToolOutcome(f"{text}[grep cancelled: the step is being stopped]", True)
    if finished.stopped is not None:
        return ToolOutcome(
            f"{text}[grep stopped after {GREP_SECONDS:g} s, so the results above may be incomplete: the pattern may "
            "backtrack catastrophically (nested repetition such as (a+)+), or the search is too large; simplify the "
            "pattern or narrow path/glob]",
            True,
        )
    if finished.exit_code == 2 and text.startswith(WORKER_ERROR):
        return ToolOutcome(text.removeprefix(WORKER_ERROR).strip(), True)
    if finished.exit_code != 0:
        return ToolOutcome(f"grep failed: {text.strip()[-2000:] or finished.signal or 'no output'}", True)
    return ToolOutcome(text.rstrip("\n"))


def search(workspace: Workspace, request: GrepRequest, write: Callable[[str], None]) -> None:
    """The search itself (in the worker): writes result lines as it finds them, then a summary."""
    _Search(workspace, request, write).run()


class _Search:
    def __init__(self, workspace: Workspace, request: GrepRequest, write: Callable[[str], None]) -> None:
        self.workspace = workspace
        self.request = request
        self.regex = request.compile()
        glob = request.glob
        self.glob = compile_glob(glob) if glob else None
        self.glob_on_name = bool(glob) and "/" not in (glob or "")  # '*.py' means any .py file, at any depth
        self.write = write
        self.limit = min(request.max_results, GREP_MAX_RESULTS)
        self.matches = 0
        self.used = 0
        self.files = 0
        self.too_big = 0
        self.full = False  # a bound was reached: stop

    def run(self) -> None:
        opened = self.workspace.open(self.request.path, os.O_RDONLY | os.O_NONBLOCK)
        with opened:
            mode = os.fstat(opened.fd).st_mode
            truncated = False
            if stat.S_ISDIR(mode):
                prefix = "" if opened.relative == "." else opened.relative + "/"
                walk = TreeWalk(opened, WALK_MAX_FILES)
                for entry in walk:
                    if self.full:
                        break
                    if self.glob is not None:
                        name = entry.name if self.glob_on_name else entry.relative[len(prefix) :]
                        if not self.glob.fullmatch(name):
                            continue
                    self._search_entry(entry.relative, entry.name, entry.dir_fd, entry.is_link)
                truncated = walk.truncated
            elif stat.S_ISREG(mode):
                self._search_fd(os.dup(opened.fd), opened.relative)
            else:
                raise ToolError(f"path {self.request.path!r} is not a regular file or a directory")
        self._summary(opened.relative, truncated)

    def _search_entry(self, relative: str, name: str, dir_fd: int, is_link: bool) -> None:
        try:
            if is_link:  # through Workspace: a link leading out is refused, and skipped
                with self.workspace.open(relative, os.O_RDONLY | os.O_NONBLOCK) as linked:
                    fd = os.dup(linked.fd)
            else:
                fd = os.open(name, _READ, dir_fd=dir_fd)
        except (OSError, ToolError):
            return
        self._search_fd(fd, relative)

    def _search_fd(self, fd: int, relative: str) -> None:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > GREP_MAX_FILE_BYTES:
            os.close(fd)
            self.too_big += stat.S_ISREG(status.st_mode)
            return
        with open(fd, "rb") as handle:
            if is_binary(handle.read(BINARY_SNIFF_BYTES)):
                return
            handle.seek(0)
            self.files += 1
            found: list[str] = []
            for number, raw in enumerate(handle, 1):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not self.regex.search(line):
                    continue
                text = f"{relative}:{number}: {clip_line(line, GREP_LINE_CHARS)}\n"
                size = len(text.encode("utf-8", "replace"))
                if self.matches >= self.limit or self.used + size > GREP_MAX_BYTES:
                    self.full = True
                    break
                found.append(text)
                self.matches += 1
                self.used += size
            if found:
                self.write("".join(found))  # a file's matches at once: what a timeout leaves is whole lines

    def _summary(self, where: str, truncated: bool) -> None:
        notes = []
        if self.full:
            if self.matches >= self.limit:
                notes.append(
                    f"stopped at {self.matches:,} matches; narrow path or glob, or raise max_results "
                    f"(at most {GREP_MAX_RESULTS:,})"
                )
            else:
                notes.append(f"stopped at {GREP_MAX_BYTES // KIB} KiB of results; narrow the pattern, path or glob")
        elif self.matches == 0:
            scope = "the workspace" if where == "." else where
            self.write(f"no matches for {self.request.pattern!r} in {scope} ({self.files:,} text files searched)\n")
        if self.too_big:
            notes.append(f"skipped {self.too_big:,} file(s) over {size_text(GREP_MAX_FILE_BYTES)}")
        if truncated:
            notes.append(f"stopped after looking at {WALK_MAX_FILES:,} files; give a narrower path")
        if notes:
            self.write("[" + "; ".join(notes) + "]\n")
