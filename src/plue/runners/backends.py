"""Where pool runners live: the backend protocol and the local backend (processes on this machine).

    RunnerSpec      what to start: a runner's name, pool, labels, the server URL it dials, its token
    BackendRunner   what a backend reports of one runner: name, pool, phase (pending | running | exited)
    RunnerBackend   create / list / delete (delete is idempotent); Kubernetes pods in `plue.runners.kubernetes`
    LocalBackend    each runner a `plue runner` process in its own process group

The pool controller (`plue.runners.pool`) decides; a backend only does what it is told.
The token never goes on a command line, which any local user may read in /proc: the local
backend passes it in the environment as PLUE_TOKEN. The runners' environment is the server's
without its `PLUE_*` variables (the database URL, the webhook secret) and without what the
caller leaves out (`environ`): runners execute untrusted steps.

Files: a local runner's output goes to `work_root/logs/<name>.log`, kept after delete (the
newest `KEPT_LOGS`) so that one can see why a runner died; its workspaces go under
`work_root/<name>`, removed on delete. A child is never reaped before its group has been
killed (see `plue.children`), so a signal to the group can never reach a stranger.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from plue.children import has_exited, open_pidfd, signal_name

Phase = Literal["pending", "running", "exited"]
PHASES: Final = ("pending", "running", "exited")
RUNNER_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
KILL_GRACE_SECONDS: Final = 10.0  # SIGTERM (drain), SIGTERM again at half (cancel), SIGKILL at the end
KEPT_LOGS: Final = 200
POLL_SECONDS: Final = 0.02  # exit polling where pidfds are missing

log = logging.getLogger(__name__)


class BackendError(Exception):
    """A backend could not do what it was asked; the message is one sentence."""


@dataclass(frozen=True)
class RunnerSpec:
    """One runner to start: it registers as `name` in `pool` with `labels`, dialling `server_url` with `token`."""

    name: str
    pool: str
    labels: tuple[str, ...]
    server_url: str
    token: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict)  # more environment for the runner


@dataclass(frozen=True)
class BackendRunner:
    """A runner as its backend sees it. `pending`: not started yet (a pod being scheduled, an image pulled)."""

    name: str
    pool: str
    phase: Phase
    created_at: float | None = None  # when it was created (UNIX time), if the backend knows
    detail: str | None = None  # how it exited, where its log is, ...: shown by `plue pool status`


class RunnerBackend(Protocol):
    """Creates, lists and deletes runners; the pool controller is its only caller (from one thread)."""

    name: str

    def create(self, spec: RunnerSpec) -> None: ...

    def list(self) -> list[BackendRunner]: ...

    def delete(self, name: str) -> None: ...


def runner_environment(environ: Mapping[str, str], hidden_values: Iterable[str] = ()) -> dict[str, str]:
    """`environ` without the server's `PLUE_*` settings and without variables holding one of `hidden_values`."""
    hidden = {value for value in hidden_values if value}
    return {name: value for name, value in environ.items() if not name.startswith("PLUE_") and value not in hidden}


@dataclass
class _Child:
    name: str
    pool: str
    process: subprocess.Popen[bytes]
    created_at: float
    log_path: Path
    workspace: Path


class LocalBackend:
    """Runners as child processes of this one: `runner_command runner --server URL --name N ...`."""

    name = "local"

    def __init__(
        self,
        work_root: Path,
        runner_command: Sequence[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        kill_grace: float = KILL_GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.work_root = work_root
        self.command = tuple(runner_command) if runner_command else (sys.executable, "-m", "plue")
        self.environ = dict(runner_environment(os.environ) if environ is None else environ)
        self.kill_grace = kill_grace
        self.clock = clock
        self._children: dict[str, _Child] = {}
        self._lock = threading.Lock()

    @property
    def logs_dir(self) -> Path:
        return self.work_root / "logs"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def argv(self, spec: RunnerSpec, workspace: Path) -> list[str]:
        argv = [*self.command, "runner", "--server", spec.server_url, "--name", spec.name, "--pool", spec.pool]
        if spec.labels:
            argv += ["--labels", ",".join(spec.labels)]
        return [*argv, "--work-dir", str(workspace)]

    def create(self, spec: RunnerSpec) -> None:
        if not RUNNER_NAME_RE.match(spec.name):
            raise BackendError(f"{spec.name!r} cannot name a local runner (letters, digits, _ . -, up to 100)")
        with self._lock:
            if spec.name in self._children:
                raise BackendError(f"a local runner named {spec.name!r} exists already")
            workspace = self.work_root / spec.name
            log_path = self.log_path(spec.name)
            try:
                self.logs_dir.mkdir(parents=True, exist_ok=True)
                workspace.mkdir(parents=True, exist_ok=True)
                self._prune_logs()
                process = self._spawn(spec, workspace, log_path)
            except OSError as exc:
                raise BackendError(
                    f"cannot start runner {spec.name} ({self.command[0]}): {exc.strerror or exc}"
                ) from None
            self._children[spec.name] = _Child(spec.name, spec.pool, process, self.clock(), log_path, workspace)
        log.info("runner %s started (pid %d, log %s)", spec.name, process.pid, log_path)

    def _spawn(self, spec: RunnerSpec, workspace: Path, log_path: Path) -> subprocess.Popen[bytes]:
        env = {**self.environ, **spec.env, "PLUE_TOKEN": spec.token}
        with open(log_path, "ab") as output:
            return subprocess.Popen(
                self.argv(spec, workspace),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=workspace,
                env=env,
                start_new_session=True,  # its own process group: delete signals the runner and all it started
                close_fds=True,
            )

    def list(self) -> list[BackendRunner]:
        with self._lock:
            children = list(self._children.values())
        return [self._runner(child) for child in children]

    def _runner(self, child: _Child) -> BackendRunner:
        ended = _exit_description(child.process.pid)
        return BackendRunner(
            name=child.name,
            pool=child.pool,
            phase="running" if ended is None else "exited",
            created_at=child.created_at,
            detail=f"pid {child.process.pid}, log {child.log_path}"
            if ended is None
            else f"{ended}, log {child.log_path}",
        )

    def delete(self, name: str) -> None:
        with self._lock:
            child = self._children.pop(name, None)
        if child is not None:
            self._stop([child])

    def close(self) -> None:
        """Stop every runner (the server is stopping): all are signalled at once and share one grace."""
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
        self._stop(children)

    def _stop(self, children: Sequence[_Child]) -> None:
        deadline = time.monotonic() + self.kill_grace
        # SIGTERM asks a runner to finish its run and deregister; a second one cancels the run.
        for child in children:
            _signal_group(child, signal.SIGTERM)
        for child in children:
            _wait_exited(child.process.pid, deadline - self.kill_grace / 2)
        for child in children:
            if not has_exited(child.process.pid):
                _signal_group(child, signal.SIGTERM)
        for child in children:
            if not _wait_exited(child.process.pid, deadline):
                log.warning("runner %s did not stop within %.0f s: killed", child.name, self.kill_grace)
            # Leftovers in the group (the leader gone, its children not) are killed while the group id
            # is still ours: the leader is reaped only after.
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
            _remove_tree(child.workspace)
            log.info("runner %s stopped (%s)", child.name, _returncode_text(child.process.returncode))

    def _prune_logs(self) -> None:
        live = {child.log_path for child in self._children.values()}
        logs = [path for path in self.logs_dir.glob("*.log") if path not in live]
        if len(logs) < KEPT_LOGS:
            return
        logs.sort(key=_mtime)
        for path in logs[: len(logs) - KEPT_LOGS + 1]:
            with contextlib.suppress(OSError):
                path.unlink()


def _signal_group(child: _Child, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signum)


def _wait_exited(pid: int, deadline: float) -> bool:
    """Wait until `pid` exits (without reaping it) or the monotonic `deadline`; whether it exited."""
    pidfd = open_pidfd(pid)
    try:
        while not has_exited(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(POLL_SECONDS, left))
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _exit_description(pid: int) -> str | None:
    """None while `pid` runs; else how it ended ("exit code 3", "killed by SIGKILL"), without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "exited"
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return f"exit code {info.si_status}"
    return f"killed by {signal_name(info.si_status)}"


def _returncode_text(code: int | None) -> str:
    if code is None:
        return "still running"
    return f"exit code {code}" if code >= 0 else f"killed by {signal_name(-code)}"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove_tree(path: Path) -> None:
    """Remove a runner's workspaces, read-only files and directories included."""
    if not path.exists():
        return

    def make_writable(_function: Any, name: str, _exc: Any) -> None:
        # Only inside `path`: a failure on `path` itself must not change its parent.
        for target in (name, os.path.dirname(name)):
            if Path(target).is_relative_to(path) and not os.path.islink(target):
                with contextlib.suppress(OSError):
                    os.chmod(target, stat.S_IRWXU)

    shutil.rmtree(path, onerror=make_writable)  # made writable on the way: the second pass removes the rest
    shutil.rmtree(path, ignore_errors=True)
