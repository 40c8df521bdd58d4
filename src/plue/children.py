"""Child processes, shared by every floor that starts them (sandbox, steps, llm tools): imports nothing of plue.

Exit is watched without reaping (`has_exited` uses WNOWAIT): while a child is
not reaped its pid, and so its process-group id, cannot be reused, so killing
the group afterwards never hits a stranger.
"""

from __future__ import annotations

import os
import signal


def open_pidfd(pid: int) -> int | None:
    """A descriptor readable once `pid` exits (Linux 5.3+), or None: then exit is polled."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT), so its pid stays ours."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def signal_name(number: int) -> str:
    """`SIGKILL` for 9; `signal 64` for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
