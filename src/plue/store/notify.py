"""Change notifications: wake whoever follows a run (an SSE stream) when it changes, instead of polling.

Writers call `run_changed(connection, run_id)` inside their transaction. On PostgreSQL that is
`pg_notify('plue_run', '<run_id>')`: delivered to every listening process when the transaction
commits (once per run, however many rows it wrote), never if it rolls back; a `ChangeListener`
thread per `Store` `LISTEN`s on a connection of its own, started by the first follower. SQLite has
no such channel: the `Store` announces the runs a transaction changed once it has committed, to
the followers of that file in this process only. A follower in another process notices a change
when its wait times out, so every wait takes a timeout and followers keep polling with it.

Followers see a run's changes as a version: take `RunChanges.version(run_id)` before reading the
run, then `RunChanges.wait(run_id, version, timeout)`: a change committed after the version was
taken always ends the wait. Wake-ups can be spurious (forgotten runs share a version, a listener
that reconnected wakes everyone): a follower reads again, finds nothing new and waits again.
"""

from __future__ import annotations

import os
import select
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

if TYPE_CHECKING:
    import psycopg

CHANNEL = "plue_run"
TRACKED_RUNS = 10_000  # runs whose version is remembered; older ones share `_floor`
LISTEN_READY_SECONDS = 5.0  # how long the first follower waits for LISTEN before falling back to polls
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)  # seconds, then 5 s on
_CHANGED_KEY = "plue_changed_runs"

Watcher = Callable[[], None]


# --- writers ---------------------------------------------------------------------------------------


def run_changed(connection: Connection, run_id: int) -> None:
    """Note, inside the writing transaction, that `run_id` changed (its state, a step, its logs)."""
    changed = _changed_in(connection)
    if run_id in changed:
        return
    changed.add(run_id)
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(run_id)})


def changed_runs(connection: Connection) -> set[int]:
    """The runs the connection's current transaction changed, forgotten: call it just before the commit."""
    changed = _changed_in(connection)
    del connection.info[_CHANGED_KEY]
    return changed


def _changed_in(connection: Connection) -> set[int]:
    # Kept with the transaction it belongs to: `info` outlives it (it stays with the pooled connection).
    transaction = connection.get_transaction()
    entry = connection.info.get(_CHANGED_KEY)
    if entry is None or entry[0] is not transaction:
        entry = connection.info[_CHANGED_KEY] = (transaction, set())
    changed: set[int] = entry[1]
    return changed


# --- followers -------------------------------------------------------------------------------------


class RunChanges:
    """The versions of runs' changes seen in this process, and the threads waiting for them."""

    def __init__(self, tracked: int = TRACKED_RUNS) -> None:
        self._tracked = tracked
        self._condition = threading.Condition()
        # Guarded by _condition:
        self._clock = 0  # one tick per announcement
        self._versions: OrderedDict[int, int] = OrderedDict()  # run id -> tick of its last change, oldest first
        self._floor = 0  # the version of every run not in _versions: never above a tracked run's, never lowered
        self._watchers: dict[int, list[Watcher]] = {}

    def version(self, run_id: int) -> int:
        with self._condition:
            return self._version(run_id)

    def wait(self, run_id: int, after: int, timeout: float) -> int:
        """The run's version once it is above `after`, or `after` itself when `timeout` seconds passed first."""
        with self._condition:
            self._condition.wait_for(lambda: self._version(run_id) > after, timeout)
            return max(after, self._version(run_id))

    def watch(self, run_id: int, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher()` after each change of the run, from the announcing thread (so it must be quick);
        returns the function that stops it."""
        with self._condition:
            self._watchers.setdefault(run_id, []).append(watcher)

        def unwatch() -> None:
            with self._condition:
                watchers = self._watchers.get(run_id, [])
                if watcher in watchers:
                    watchers.remove(watcher)
                if not watchers:
                    self._watchers.pop(run_id, None)

        return unwatch

    def announce(self, run_ids: Iterable[int]) -> None:
        """These runs changed (their transactions committed)."""
        with self._condition:
            self._clock += 1
            woken: list[Watcher] = []
            for run_id in run_ids:
                self._versions[run_id] = self._clock
                self._versions.move_to_end(run_id)
                woken.extend(self._watchers.get(run_id, ()))
            while len(self._versions) > self._tracked:
                _, oldest = self._versions.popitem(last=False)
                self._floor = max(self._floor, oldest)
            self._condition.notify_all()
        for watcher in woken:
            watcher()

    def announce_all(self) -> None:
        """Any run may have changed (notifications may have been missed): wake every follower."""
        with self._condition:
            self._clock += 1
            self._floor = self._clock
            self._versions.clear()
            woken = [watcher for watchers in self._watchers.values() for watcher in watchers]
            self._condition.notify_all()
        for watcher in woken:
            watcher()

    def _version(self, run_id: int) -> int:
        return self._versions.get(run_id, self._floor)


_local_changes: dict[str, RunChanges] = {}
_local_changes_guard = threading.Lock()


def local_changes(url: URL) -> RunChanges:
    """The changes of one SQLite file announced in this process, shared by every `Store` of the file."""
    key = os.path.realpath(url.database) if url.database and url.database != ":memory:" else f"{id(url)}:memory:"
    with _local_changes_guard:
        return _local_changes.setdefault(key, RunChanges())


class ChangeFeed:
    """What a `Store` offers its followers: changes announced by its own commits (SQLite), or heard by a
    `ChangeListener` (PostgreSQL, every process's commits, its own included)."""

    def __init__(self, engine: Engine) -> None:
        self._listener: ChangeListener | None = None
        if engine.dialect.name == "postgresql":
            self.changes = RunChanges()
            self._listener = ChangeListener(engine, self.changes)
        else:
            self.changes = local_changes(engine.url)

    def committed(self, run_ids: set[int]) -> None:
        """A transaction that changed these runs committed."""
        if run_ids and self._listener is None:
            self.changes.announce(run_ids)

    def follow(self) -> RunChanges:
        """The changes, with the listener started (the first call waits for it to listen, or to fail)."""
        if self._listener is not None:
            self._listener.start()
        return self.changes

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()


class ChangeListener:
    """A thread that `LISTEN`s on a PostgreSQL connection of its own and announces the runs notified.

    When the connection breaks, it reconnects (with growing delays) and then wakes every follower,
    since notifications sent meanwhile are lost; followers poll in between.
    """

    def __init__(self, engine: Engine, changes: RunChanges) -> None:
        self._changes = changes
        args, options = engine.dialect.create_connect_args(engine.url)
        self._connect_args = (list(args), dict(options))
        self._started = False
        self._guard = threading.Lock()
        self._tried = threading.Event()  # set once the first connection attempt is over, listening or not
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = -1, -1
        self._thread: threading.Thread | None = None
        self.backend_pid: int | None = None  # of the listening connection, while it listens

    def start(self) -> None:
        with self._guard:
            if not self._started and not self._stopping.is_set():
                self._started = True
                self._wake_read, self._wake_write = os.pipe()
                self._thread = threading.Thread(target=self._run, name="plue-change-listener", daemon=True)
                self._thread.start()
        self._tried.wait(LISTEN_READY_SECONDS)

    def close(self) -> None:
        """Stop listening; idempotent."""
        with self._guard:
            self._stopping.set()
            self._tried.set()
            thread, self._thread = self._thread, None
            if thread is not None:
                os.write(self._wake_write, b"x")  # ends the thread's select at once
        if thread is not None:
            thread.join()
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _run(self) -> None:
        import psycopg

        failures = 0
        while not self._stopping.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = connection.info.backend_pid
                    if failures:
                        self._changes.announce_all()
                    failures = 0
                    self._tried.set()
                    self._listen(connection)
            except psycopg.Error:
                failures += 1
            finally:
                self.backend_pid = None
            self._tried.set()
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS)) - 1] if failures else 0.0
            self._stopping.wait(delay)

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        args, options = self._connect_args
        options = {"connect_timeout": 10, **options, "autocommit": True}
        # Keepalives: a listener on a connection that silently died would never hear anything again.
        options.setdefault("keepalives", 1)
        options.setdefault("keepalives_idle", 30)
        return psycopg.Connection.connect(*args, **options)

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        while True:
            # Take what arrived without waiting (timeout 0), what psycopg kept aside included; one
            # announcement for the lot. A broken connection raises.
            run_ids = {int(notice.payload) for notice in connection.notifies(timeout=0) if notice.payload.isdigit()}
            if run_ids:
                self._changes.announce(run_ids)
            readable, _, _ = select.select([connection.fileno(), self._wake_read], [], [])
            if self._wake_read in readable:
                return
