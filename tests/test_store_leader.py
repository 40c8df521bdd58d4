"""`Store.leadership`: one process at a time holds a role among those sharing a database, on both databases."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from process_support import wait_until
from sqlalchemy import create_engine, text
from test_store_support import db_url, postgres_schema_url, store

from plue.store import Store

__all__ = ["db_url", "store"]  # fixtures


@pytest.fixture
def other(db_url: str, store: Store) -> Iterator[Store]:
    """A second store on the same database (as a second server would open it)."""
    with Store.open(url=db_url) as opened:
        yield opened


def test_one_holder_at_a_time_and_the_role_passes_on_release(store: Store, other: Store) -> None:
    first, second = store.leadership("pool"), other.leadership("pool")
    assert first.hold() is True
    assert second.hold() is False
    assert first.hold() is True  # asking again keeps it
    assert other.leadership("scheduler").hold() is True  # another role is another lock
    first.release()
    assert second.hold() is True
    assert first.hold() is False
    second.release()


def test_names_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="letters and dashes"):
        store.leadership("../pool")


HOLDER = """
import sys, time
from plue.store import Store
store = Store.open(url=sys.argv[1])
assert store.leadership("pool").hold()
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_frees_the_role(db_url: str, store: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), db_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        mine = store.leadership("pool")
        assert mine.hold() is False
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        wait_until(mine.hold, "the role to be free once its holder died")  # PostgreSQL ends the session soon
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_schema_url()


def test_postgresql_a_holder_whose_session_ends_gives_the_role_up(pg_url: str) -> None:
    with Store.open(url=pg_url) as store, Store.open(url=pg_url) as other:
        _session_ends(pg_url, store, other)


def _session_ends(db_url: str, store: Store, other: Store) -> None:
    first, second = store.leadership("pool"), other.leadership("pool")
    assert first.hold() is True
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:  # an administrator (or a database restart) ends its session
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                )
            )
    finally:
        engine.dispose()
    wait_until(second.hold, "the second store to take the role")
    assert first.hold() is False  # it notices the lost session instead of acting on
    second.release()
