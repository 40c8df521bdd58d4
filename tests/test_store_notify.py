"""Change notifications: a follower of a run wakes when the run changes, on SQLite (this process) and on
PostgreSQL (any process, through LISTEN/NOTIFY)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from test_store_support import _libpq_url, db_url, lines, new_run, postgres_schema_url, run_python, store

from plue.store import Store, StoreError
from plue.store.notify import RunChanges

__all__ = ["db_url", "store"]  # fixtures

WAIT = 60.0  # seconds: only reached when a notification is lost, which fails the test
NOTHING = 0.05  # seconds to wait for a change that must not come

APPEND = """
import sys
from plue.store import Store
with Store.open(url=sys.argv[1]) as store:
    store.append_logs(int(sys.argv[2]), [("install", 1, 1, "stdout", 1.0, "from another process")])
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_schema_url()


class Waiter:
    """`store.wait_for_change` in a thread, so the test can change the run meanwhile."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.before = store.change_version(run_id)
        self.after: int | None = None
        self._thread = threading.Thread(target=self._wait, args=(store, run_id), daemon=True)
        self._thread.start()

    def _wait(self, store: Store, run_id: int) -> None:
        self.after = store.wait_for_change(run_id, self.before, WAIT)

    def woken(self) -> bool:
        self._thread.join(WAIT + 10)
        return self.after is not None and self.after > self.before


CHANGES: dict[str, Callable[[Store, int], None]] = {
    "logs": lambda store, run_id: store.append_logs(run_id, lines("install", 3)),
    "step started": lambda store, run_id: store.step_started(run_id, "install", 1, 1000.0),
    "step skipped": lambda store, run_id: store.step_skipped(run_id, "build", "not needed", 1000.0),
    "run finished": lambda store, run_id: store.finish_run(run_id, "failed", "boom", 1000.0),
    "cancel requested": lambda store, run_id: store.request_cancel(run_id),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_write_wakes_a_waiter_of_its_run(store: Store, change: str) -> None:
    run_id = new_run(store)
    waiter = Waiter(store, run_id)
    CHANGES[change](store, run_id)
    assert waiter.woken()


def test_a_change_of_another_run_or_a_read_does_not_wake(store: Store) -> None:
    run_id, other = new_run(store), new_run(store)
    version = store.change_version(run_id)
    store.append_logs(other, lines("install", 2))
    store.get_run(run_id)
    store.read_logs(run_id)
    assert store.wait_for_change(run_id, version, NOTHING) == version


def test_a_rolled_back_write_wakes_nobody(store: Store) -> None:
    run_id = new_run(store)
    version = store.change_version(run_id)
    with pytest.raises(StoreError, match="no step 'nope'"):  # noted as changed, then rolled back
        store.step_started(run_id, "nope", 1, 1000.0)
    assert store.wait_for_change(run_id, version, NOTHING) == version


def test_watchers_are_called_on_each_change_until_unwatched(store: Store) -> None:
    run_id = new_run(store)
    called = threading.Semaphore(0)
    unwatch = store.watch_changes(run_id, called.release)
    store.append_logs(run_id, lines("install", 1))
    assert called.acquire(timeout=WAIT)
    store.step_started(run_id, "install", 1, 1000.0)
    assert called.acquire(timeout=WAIT)
    unwatch()
    # A waiter proves the next change was announced; the unwatched watcher was not called for it.
    waiter = Waiter(store, run_id)
    store.append_logs(run_id, lines("install", 1, first=2))
    assert waiter.woken()
    assert not called.acquire(blocking=False)


def test_sqlite_stores_of_one_file_in_one_process_wake_each_other(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plue.db'}"
    with Store.open(url=url) as writer, Store.open(url=url) as follower:
        run_id = new_run(writer)
        waiter = Waiter(follower, run_id)
        writer.append_logs(run_id, lines("install", 1))
        assert waiter.woken()


def test_postgresql_a_write_in_another_process_wakes_a_waiter(pg_url: str) -> None:
    with Store.open(url=pg_url) as follower:
        run_id = new_run(follower)
        waiter = Waiter(follower, run_id)  # listening from here on
        process = run_python(APPEND, pg_url, str(run_id))
        assert process.wait(60) == 0
        assert waiter.woken()
        assert [line.text for line in follower.read_logs(run_id)] == ["from another process"]


def test_postgresql_a_listener_that_lost_its_connection_reconnects(pg_url: str) -> None:
    with Store.open(url=pg_url) as follower:
        run_id = new_run(follower)
        waiter = Waiter(follower, run_id)
        listener = follower._changes._listener
        assert listener is not None and listener.backend_pid is not None
        lost = listener.backend_pid
        with psycopg.connect(_libpq_url(pg_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lost,))
        # Notifications sent while it was away are lost: once back, it wakes every waiter...
        assert waiter.woken()
        # ...and hears the next changes on its new connection.
        again = Waiter(follower, run_id)
        assert listener.backend_pid not in (None, lost)
        follower.append_logs(run_id, lines("install", 1))
        assert again.woken()


def test_closing_a_postgresql_store_stops_its_listener(pg_url: str) -> None:
    before = {thread for thread in threading.enumerate() if thread.name == "plue-change-listener"}
    with Store.open(url=pg_url) as follower:
        follower.change_version(1)
        listeners = {thread for thread in threading.enumerate() if thread.name == "plue-change-listener"} - before
        assert len(listeners) == 1
    assert not any(thread.is_alive() for thread in listeners)


def test_run_changes_versions_only_grow_when_old_runs_are_forgotten() -> None:
    changes = RunChanges(tracked=2)
    seen = {run_id: changes.version(run_id) for run_id in (1, 2, 3)}
    for run_id in (1, 2, 3, 1):  # run 2 is forgotten when 3 comes, then run 3 when 1 comes again
        changes.announce([run_id])
        for other, before in seen.items():
            assert changes.version(other) >= before
            seen[other] = changes.version(other)
        assert changes.version(run_id) == max(seen.values())
    assert changes.wait(2, seen[2] - 1, WAIT) == seen[2]  # a forgotten run may wake spuriously, never miss


def test_run_changes_announce_all_wakes_every_waiter() -> None:
    changes = RunChanges()
    versions = {run_id: changes.version(run_id) for run_id in (7, 8)}
    changes.announce_all()
    assert all(changes.wait(run_id, version, WAIT) > version for run_id, version in versions.items())
