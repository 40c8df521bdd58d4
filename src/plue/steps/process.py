"""Running one process for a step: output as lines, deadline and cancel, and no orphans.

The process starts in a new session (``start_new_session=True``), so it leads
its own process group and everything it starts is in that group unless it
deliberately leaves it (``setsid``). One thread watches it with a `selectors`
loop over stdout, stderr and (on Linux) a pidfd that becomes readable when the
process exits; both pipes are drained as data arrives, so neither can fill up
and block the process.

A step ends when its main process exits. What it left behind in its group
(``sleep 1000 &``) is then terminated too: a step is a unit, and nothing of it
outlives it. On cancel or at the deadline the whole group gets SIGTERM, then
SIGKILL after `kill_grace` seconds. `cancelled` is checked every
`POLL_SECONDS` (an `Event` cannot be waited on together with file descriptors).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Final

from plue.children import has_exited, open_pidfd, signal_name
from plue.engine.events import StepStatus, Stream
from plue.engine.executor import StepContext, StepResult
from plue.steps.lines import LineSplitter

KILL_GRACE_SECONDS: Final = 3.0
POLL_SECONDS: Final = 0.05
READ_BYTES: Final = 64 * 1024
GIVE_UP_SECONDS: Final = 5.0  # after SIGKILL, or after the group is gone while an escaped process holds a pipe


def run_process(
    argv: Sequence[str],
    context: StepContext,
    *,
    env: Mapping[str, str] | None = None,
    kill_grace: float = KILL_GRACE_SECONDS,
) -> StepResult:
    """Run `argv` in the workspace with `env` (default: the context's) as one attempt of a step."""
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=context.workspace,
            env=context.env if env is None else env,
        )
    except OSError as exc:
        return StepResult(StepStatus.FAILED, error=f"could not start {argv[0]}: {exc.strerror or exc}")
    watch = _Watch(process, context, kill_grace)
    try:
        watch.loop()
    finally:
        watch.close()
    return watch.result()


class _Watch:
    """The state of one process being watched: pipes, exit, and the kill sequence."""

    def __init__(self, process: subprocess.Popen[bytes], context: StepContext, kill_grace: float) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.process = process
        self.context = context
        self.kill_grace = kill_grace
        self.group = process.pid  # the session leader's pid is the group id
        self.selector = selectors.DefaultSelector()
        self.splitters: dict[int, LineSplitter] = {}
        for pipe, stream in ((process.stdout, Stream.STDOUT), (process.stderr, Stream.STDERR)):
            self.splitters[pipe.fileno()] = LineSplitter(partial(context.log, stream))
            self.selector.register(pipe.fileno(), selectors.EVENT_READ)
        self.pidfd = open_pidfd(process.pid)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        self.outcome: StepStatus | None = None  # TIMED_OUT or CANCELLED once we decided to kill it
        self.exited = False  # the main process has exited (it may not be reaped yet)
        self.term_at: float | None = None  # when the group got SIGTERM
        self.kill_at: float | None = None  # when it got SIGKILL
        self.group_gone_at: float | None = None

    def loop(self) -> None:
        while not self._done():
            self._read(self._select_timeout())
            now = time.monotonic()
            if not self.exited:
                self.exited = self.pidfd is None and has_exited(self.process.pid)
            if self.outcome is None and not self.exited:
                deadline = self.context.deadline
                if deadline is not None and now >= deadline:
                    self.outcome = StepStatus.TIMED_OUT
                elif self.context.cancelled.is_set():
                    self.outcome = StepStatus.CANCELLED
                if self.outcome is not None:
                    self._signal(signal.SIGTERM, now)
            if self.exited and self.process.returncode is None:
                if self.term_at is None:
                    self._signal(signal.SIGTERM, now)  # whatever the step left behind in its group
                self.process.wait()  # a zombie by now: reaping it cannot block
            if self.term_at is not None and self.kill_at is None and now >= self.term_at + self.kill_grace:
                self._signal(signal.SIGKILL, now)
            if self.process.returncode is not None and self.group_gone_at is None and not _group_alive(self.group):
                self.group_gone_at = now

    def _done(self) -> bool:
        if self.process.returncode is None or self.group_gone_at is None:  # running, or leftovers still dying
            return self.kill_at is not None and time.monotonic() >= self.kill_at + GIVE_UP_SECONDS
        if self.splitters:  # pipes still open: their data is on its way, or an escaped process holds them
            if time.monotonic() >= self.group_gone_at + GIVE_UP_SECONDS:
                self.context.log(
                    Stream.SYSTEM,
                    "warning: a process outside the step's process group kept its output open; stopped reading",
                )
                return True
            return False
        return True

    def _select_timeout(self) -> float:
        timeout = POLL_SECONDS
        if self.outcome is None and self.context.deadline is not None:
            timeout = min(timeout, max(0.0, self.context.deadline - time.monotonic()))
        return timeout

    def _read(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            fd = key.fd
            if fd == self.pidfd:
                self.exited = True
                self.selector.unregister(fd)
                continue
            data = os.read(fd, READ_BYTES)
            if data:
                self.splitters[fd].feed(data)
            else:
                self.selector.unregister(fd)
                self.splitters.pop(fd).close()

    def _signal(self, signum: signal.Signals, now: float) -> None:
        if signum == signal.SIGTERM:
            self.term_at = now
        else:
            self.kill_at = now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.group, signum)

    def close(self) -> None:
        """Leave nothing behind, even when the loop ended by an exception."""
        for splitter in self.splitters.values():
            splitter.close()
        self.splitters.clear()
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        if self.process.returncode is None or self.group_gone_at is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.group, signal.SIGKILL)
            if self.process.returncode is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=GIVE_UP_SECONDS)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def result(self) -> StepResult:
        if self.outcome is StepStatus.TIMED_OUT:
            return StepResult(StepStatus.TIMED_OUT, error=f"timed out after {self.context.step.get('timeout')}s")
        if self.outcome is StepStatus.CANCELLED:
            return StepResult(StepStatus.CANCELLED, error="cancelled")
        code = self.process.returncode
        if code is None:
            return StepResult(StepStatus.FAILED, error="the process could not be stopped")
        if code == 0:
            return StepResult(StepStatus.SUCCESS, exit_code=0)
        if code < 0:
            return StepResult(StepStatus.FAILED, error=f"killed by {signal_name(-code)}")
        return StepResult(StepStatus.FAILED, exit_code=code, error=f"exit code {code}")


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is still in the group."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member we may not signal (it changed user): look closer
    # killpg also reaches zombies: killed leftovers wait there until their new parent (init, or a
    # container's PID 1, which may be slow to) reaps them. They are dead; only a live member counts.
    return _live_member(group) if os.path.isdir("/proc") else True


def _live_member(group: int) -> bool:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()  # after "pid (comm)", which may hold spaces
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
            return True
    return False
