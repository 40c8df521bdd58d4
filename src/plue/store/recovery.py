"""Runs whose process died: who owns a run, whether that process still lives, and marking the dead ones.

A running run records its owner as ``host:pid:start-time``, the start time being
field 22 of ``/proc/<pid>/stat`` (clock ticks since boot): a pid reused by another
process has another start time. A process running several runs at once (the
server's workers) adds ``/worker-N``: the suffix names the thread, the process
decides whether it lives. A run owned by this host whose process is gone is
`interrupted`: its running steps become `cancelled` with the same error as the run,
pending steps stay pending (they never ran; a rerun runs them), and every committed
log line stays. Runs owned by other hosts are left alone: only their host can tell.
Runs owned by a `plue runner` agent (``runner:<runner id>``) are never judged here:
the server's reaper declares a silent runner lost and retries its run (`runners`).
"""

from __future__ import annotations

import os
import socket
import time
from functools import cache

from sqlalchemy import Connection, select, update

from plue.store.models import runs, steps
from plue.store.notify import run_changed

INTERRUPTED_ERROR = "interrupted: the process executing it died"
UNKNOWN_START = "?"  # no /proc (not Linux): only the pid is checked
WORKER_SEPARATOR = "/"  # host names, pids and start times hold no "/"
RUNNER_OWNER_PREFIX = "runner:"  # + the runner's id: a run executed by a registered runner agent


def runner_owner(runner_id: str) -> str:
    """The owner of a run claimed by runner `runner_id`."""
    return RUNNER_OWNER_PREFIX + runner_id


@cache
def hostname() -> str:
    return socket.gethostname()


def process_owner(pid: int | None = None, *, worker: str | None = None) -> str:
    """The owner string of a process (default: this one), e.g. `host:pid:start/worker-1` with `worker`."""
    pid = os.getpid() if pid is None else pid
    owner = f"{hostname()}:{pid}:{process_start_time(pid) or UNKNOWN_START}"
    return owner if worker is None else f"{owner}{WORKER_SEPARATOR}{worker}"


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, or None if there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ')': split after the last one.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def owner_alive(owner: str) -> bool | None:
    """Whether the owning process lives: None if it is on another host (or the owner is not ours to judge)."""
    parts = owner.split(WORKER_SEPARATOR, 1)[0].rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid_text, start = parts
    if host != hostname():
        return None
    pid = int(pid_text)
    if start != UNKNOWN_START:
        return process_start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def find_dead_runs(connection: Connection) -> list[tuple[int, str]]:
    """(run id, owner) of the running runs owned by dead processes of this host (never runner agents' runs)."""
    rows = connection.execute(select(runs.c.id, runs.c.owner).where(runs.c.status == "running")).all()
    return [
        (run_id, owner)
        for run_id, owner in rows
        if owner is not None and not owner.startswith(RUNNER_OWNER_PREFIX) and owner_alive(owner) is False
    ]


def mark_interrupted(connection: Connection, run_id: int, owner: str, at: float | None = None) -> bool:
    """Mark one dead run interrupted, unless it changed meanwhile (another process recovered or finished it)."""
    at = time.time() if at is None else at
    result = connection.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "running", runs.c.owner == owner)
        .values(status="interrupted", error=INTERRUPTED_ERROR, finished_at=at)
    )
    if result.rowcount == 0:
        return False
    run_changed(connection, run_id)
    connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.status == "running")
        .values(status="cancelled", error=INTERRUPTED_ERROR, finished_at=at)
    )
    return True
