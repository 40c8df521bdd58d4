"""The host side: a pool of warm evaluator parents, one request at a time each.

Each `_Parent` is a ``plue.sandbox.zygote`` process that forks a fresh child per
evaluation. The pool dispatches requests from threads (they only wait on pipes),
so N parents evaluate N files at once. A parent that dies is replaced; the host
is never harmed by what a workflow does.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import plue
from plue.children import signal_name
from plue.sandbox.context import parse_reads
from plue.sandbox.protocol import ProtocolError, read_frame, write_frames
from plue.sandbox.results import Evaluation, EvaluationError, EvaluationRequest, Limits, bounded

# Every evaluation sees the same hash seed: set order, and so plans, never depend on the host's.
HASH_SEED = "0"
_START_TIMEOUT = 30.0
_SLACK_SECONDS = 10.0  # beyond the child's own wall limit, before we give up on a parent


def _parent_command(workdir: str) -> tuple[list[str], dict[str, str]]:
    source_root = str(Path(plue.__file__).resolve().parent.parent)
    env = {"PYTHONHASHSEED": HASH_SEED, "PYTHONPATH": source_root, "PYTHONDONTWRITEBYTECODE": "1"}
    return [sys.executable, "-s", "-m", "plue.sandbox.zygote", workdir], env


class _Parent:
    """One warm evaluator parent process and its pipes."""

    def __init__(self, workdir: str) -> None:
        command, env = _parent_command(workdir)
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_fd = self.process.stdin.fileno()
        self.from_fd = self.process.stdout.fileno()
        self.ready: dict[str, Any] | None = None

    def wait_ready(self) -> None:
        if self.ready is None:
            self.ready = json.loads(read_frame(self.from_fd, time.monotonic() + _START_TIMEOUT))

    def run(self, header: dict[str, Any], source: bytes, wall_seconds: float) -> tuple[dict[str, Any], bytes]:
        self.wait_ready()
        write_frames(self.to_fd, json.dumps(header).encode(), source)
        deadline = time.monotonic() + wall_seconds + _SLACK_SECONDS
        outcome = json.loads(read_frame(self.from_fd, deadline))
        return outcome, read_frame(self.from_fd, deadline)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_child_output(output: bytes) -> Any:
    """The child's JSON, or None. A child is untrusted once workflow code ran in it:
    refuse NaN/Infinity and survive hostile nesting instead of trusting its bytes."""
    if not output:
        return None
    try:
        return json.loads(output, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None


def _interpret(path: str, outcome: dict[str, Any], output: bytes, limits: Limits) -> Evaluation:
    """Turn the parent's report on a child into an `Evaluation`."""

    def failed(kind: str, message: str, line: int | None = None, col: int | None = None) -> Evaluation:
        return Evaluation(path, error=EvaluationError(path, bounded(message), kind, line, col))

    if outcome.get("too_large"):
        return failed("limit", f"evaluation produced more than {limits.max_plan_bytes} bytes of plan")
    result = _parse_child_output(output)
    if type(result) is dict:
        printed = str(result.get("printed") or "")
        reads = parse_reads(result.get("reads"))
        if result.get("ok") is True and type(result.get("plan")) is dict:
            return Evaluation(path, plan=result["plan"], printed=printed, reads=reads)
        error = result.get("error")
        if type(error) is dict:
            line, col = error.get("line"), error.get("col")
            return Evaluation(
                path,
                error=EvaluationError(
                    path,
                    bounded(str(error.get("message", "evaluation failed"))),
                    str(error.get("kind", "runtime")),
                    line if type(line) is int else None,
                    col if type(col) is int else None,
                ),
                printed=printed,
                reads=reads,
            )
    if outcome.get("timed_out"):
        return failed("timeout", f"evaluation took longer than {limits.wall_seconds:g} s (an endless loop?)")
    code = int(outcome.get("exit", -1))
    if code < 0:
        name = signal_name(-code)
        if name == "SIGXCPU" or (name == "SIGKILL" and float(outcome.get("seconds", 0)) >= limits.cpu_seconds):
            return failed(
                "cpu",
                f"evaluation used more than {limits.cpu_seconds} s of CPU time (an endless loop?)",
            )
        return failed(
            "crash",
            f"the evaluator process was killed by {name}; the file probably nests code or data"
            " too deeply or uses too much memory",
        )
    return failed("crash", f"the evaluator process failed (exit code {code}) without a result")


class Evaluator:
    """A pool of warm, sandboxed evaluator processes.

    ``evaluate`` is thread-safe; ``evaluate_many`` uses every parent at once.
    Use as a context manager, or call `close()` (also done at interpreter exit).
    """

    def __init__(self, workers: int | None = None, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._idle: queue.SimpleQueue[_Parent] = queue.SimpleQueue()
        self._all: list[_Parent] = []
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        # The children's empty working directory; the host owns it, so it is removed
        # even when a parent is killed.
        self._workdir: str | None = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("this Evaluator is closed")
            if self._started:
                return
            self._workdir = tempfile.mkdtemp(prefix="plue-eval-")
            parents = [_Parent(self._workdir) for _ in range(self.workers)]
            for parent in parents:
                self._all.append(parent)
                self._idle.put(parent)
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="plue-eval")
            self._started = True
            atexit.register(self.close)

    @property
    def seccomp(self) -> bool:
        """Whether evaluation children run under a seccomp filter on this machine."""
        self._start()
        parent = self._idle.get()
        try:
            parent.wait_ready()
            return bool(parent.ready and parent.ready.get("seccomp"))
        finally:
            self._idle.put(parent)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            for parent in self._all:
                parent.close()
            self._all.clear()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def _replace(self, parent: _Parent) -> _Parent:
        parent.process.kill()
        parent.close()
        assert self._workdir is not None
        fresh = _Parent(self._workdir)
        with self._lock:
            self._all = [p for p in self._all if p is not parent] + [fresh]
        return fresh

    def _run(self, request: EvaluationRequest) -> Evaluation:
        limits = request.limits or self.limits
        header = {"path": request.path, "ctx": _plain_ctx(request.ctx), "limits": limits.to_data()}
        parent = self._idle.get()
        try:
            for attempt in range(2):
                try:
                    outcome, output = parent.run(header, request.source, limits.wall_seconds)
                    return _interpret(request.path, outcome, output, limits)
                except (ProtocolError, ValueError, OSError):
                    # The parent died or hung (it should not): replace it and retry once.
                    parent = self._replace(parent)
                    if attempt:
                        break
            error = EvaluationError(request.path, "the evaluator failed; try again", "crash")
            return Evaluation(request.path, error=error)
        finally:
            self._idle.put(parent)

    def evaluate(self, source: bytes, path: str, ctx: Mapping[str, Any] | None = None) -> Evaluation:
        """Evaluate one workflow file's source; `path` is used in messages only."""
        self._start()
        return self._run(EvaluationRequest(source, path, ctx))

    def evaluate_many(self, requests: Iterable[EvaluationRequest]) -> list[Evaluation]:
        """Evaluate many files in parallel (one fresh process each); results in request order."""
        self._start()
        assert self._executor is not None
        return list(self._executor.map(self._run, requests))


def _plain_ctx(ctx: Mapping[str, Any] | None) -> Any:
    if ctx is None:
        return None
    # Round-trip through JSON: the child must only ever see plain data.
    return json.loads(json.dumps(ctx, allow_nan=False))


_default: Evaluator | None = None
_default_lock = threading.Lock()


def default_evaluator() -> Evaluator:
    """A process-wide shared evaluator (started on first use, closed at exit)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Evaluator()
        return _default
