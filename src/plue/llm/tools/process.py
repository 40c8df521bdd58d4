"""Running one tool process (bash, git, the grep worker): bounded output, a deadline, cancel, no leftovers.

The process leads its own process group (a new session), reads nothing
(stdin is /dev/null) and writes stdout and stderr into one pipe, which is
drained as data arrives into a `HeadTail`, so memory stays bounded whatever
it prints. On timeout or cancel the whole group gets SIGTERM, then SIGKILL
after `KILL_GRACE_SECONDS`. When the main process exits, whatever it left
running in its group (``server &``) is killed: a tool call is a unit, and a
background process holding the pipe open would otherwise keep the call from
ending. `cancelled` is checked every `POLL_SECONDS` (an Event cannot be
waited on together with file descriptors).

(``plue.steps.process`` does the same for whole steps, with log lines; it is
a floor above and cannot be imported here.)
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from plue.children import has_exited, open_pidfd, signal_name
from plue.llm.tools.bounds import HeadTail

POLL_SECONDS: Final = 0.05
KILL_GRACE_SECONDS: Final = 2.0
GIVE_UP_SECONDS: Final = 2.0  # after SIGKILL, or after the main process is gone while an escapee holds the pipe
READ_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Finished:
    output: str  # combined stdout and stderr, head and tail kept
    exit_code: int | None  # None: it did not exit by itself (killed, or could not be stopped)
    stopped: str | None = None  # "timed out after 5 s" or "cancelled"
    signal: str | None = None  # the signal that ended it, if one did

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped is None


def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    timeout: float,
    cancelled: threading.Event | None = None,
    output: HeadTail | None = None,
) -> Finished:
    """Run `argv` to its end, its deadline or `cancelled`; raises OSError if it cannot start."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    watch = _Watch(process, output or HeadTail(), time.monotonic() + timeout, cancelled)
    try:
        watch.loop()
    finally:
        watch.close()
    code = process.returncode
    stopped = None
    if watch.stopped is not None:
        stopped = "cancelled" if watch.stopped == "cancelled" else f"timed out after {timeout:g} s"
    killed_by = signal_name(-code) if code is not None and code < 0 else None
    exit_code = code if code is not None and code >= 0 and stopped is None else None
    return Finished(watch.output.text(), exit_code, stopped, killed_by)


class _Watch:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        output: HeadTail,
        deadline: float,
        cancelled: threading.Event | None,
    ) -> None:
        assert process.stdout is not None
        self.process = process
        self.group = process.pid  # the session leader's pid is the group id
        self.output = output
        self.deadline = deadline
        self.cancelled = cancelled
        self.pipe = process.stdout.fileno()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.pipe, selectors.EVENT_READ)
        self.pidfd = open_pidfd(process.pid)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        self.pipe_open = True
        self.stopped: str | None = None  # "timeout" or "cancelled" once we decided to stop it
        self.term_at: float | None = None
        self.kill_at: float | None = None

    def loop(self) -> None:
        reaped_at: float | None = None
        while True:
            now = time.monotonic()
            timeout = POLL_SECONDS if self.stopped else min(POLL_SECONDS, max(0.0, self.deadline - now))
            for key, _ in self.selector.select(timeout):
                if key.fd == self.pidfd:
                    self.selector.unregister(key.fd)
                    continue
                data = os.read(key.fd, READ_BYTES)
                if data:
                    self.output.feed(data)
                else:
                    self.selector.unregister(key.fd)
                    self.pipe_open = False
            now = time.monotonic()
            if reaped_at is None and not has_exited(self.process.pid):
                if self.stopped is None:
                    if now >= self.deadline:
                        self.stopped = "timeout"
                    elif self.cancelled is not None and self.cancelled.is_set():
                        self.stopped = "cancelled"
                    if self.stopped is not None:
                        self._signal(signal.SIGTERM, now)
                if self.term_at is not None and self.kill_at is None and now >= self.term_at + KILL_GRACE_SECONDS:
                    self._signal(signal.SIGKILL, now)
                if self.kill_at is not None and now >= self.kill_at + GIVE_UP_SECONDS:
                    return  # unkillable (uninterruptible sleep): give up, close() tries once more
                continue
            if reaped_at is None:
                # The main process is a zombie, not reaped yet, so the group id cannot have been reused:
                # kill what it left running in its group, then reap it.
                self._signal(signal.SIGKILL, now)
                self.process.wait()
                reaped_at = now
            if not self.pipe_open or now >= reaped_at + GIVE_UP_SECONDS:
                return  # done, or a process that left the group (setsid) holds the pipe: stop reading

    def _signal(self, signum: signal.Signals, now: float) -> None:
        if signum == signal.SIGTERM:
            self.term_at = now
        else:
            self.kill_at = now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.group, signum)

    def close(self) -> None:
        """Leave nothing behind, even when the loop ended by an exception."""
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        if self.process.returncode is None:  # not reaped: the group id is still ours to signal
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.group, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=GIVE_UP_SECONDS)
        assert self.process.stdout is not None
        self.process.stdout.close()
