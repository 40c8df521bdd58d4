"""Where the database is and how to connect: URL resolution, engines, SQLite pragmas.

SQLite is the default, one file per repository shared by several CLI processes
(one running a workflow, one following its logs, one cancelling it), hence WAL
(readers never block the writer), a busy timeout (writers queue instead of
failing), and `BEGIN IMMEDIATE` for write transactions: a deferred transaction
that starts reading and then writes can fail with "database is locked" without
waiting at all when another process committed in between.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from plue.store.errors import StoreError
from plue.store.values import dump_json

URL_ENV = "PLUE_DATABASE_URL"
STATE_DIR = ".plue"
DB_NAME = "plue.db"
BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10
# Set on the engine that write transactions use (see `sqlite_begin`).
WRITE_OPTION = "plue_write"


def resolve_url(repo: Path | None = None, url: str | None = None) -> URL:
    """The database URL: `url`, else $PLUE_DATABASE_URL, else SQLite in `<repo>/.plue/plue.db`."""
    text = url if url is not None else os.environ.get(URL_ENV) or None
    if text is None:
        return sqlite_url((repo or Path.cwd()) / STATE_DIR / DB_NAME)
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {text!r}: {exc}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise StoreError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path))


def prepare_sqlite_file(url: URL) -> None:
    """Create the database's directory; a `.plue/` directory also gets a `.gitignore` of `*`."""
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return
    directory = Path(url.database).parent
    if directory.is_dir():
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if directory.name == STATE_DIR:
            # Keep run state out of commits, as uv does for .venv.
            (directory / ".gitignore").write_text("*\n")
    except OSError as exc:
        raise StoreError(f"cannot create {directory}: {exc.strerror or exc}") from None


def make_engine(url: URL) -> Engine:
    """An engine for `url` (thread-safe; a pool of connections) with the pragmas set on SQLite."""
    if url.get_backend_name() == "sqlite":
        prepare_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            json_serializer=dump_json,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # pre-ping: a long-lived server must survive a database restart; a CLI must not hang on a dead host.
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, json_serializer=dump_json)


_sqlite_locks: dict[str, threading.Lock] = {}
_sqlite_locks_guard = threading.Lock()


def write_lock(url: URL) -> AbstractContextManager[Any]:
    """What a write transaction holds in this process: for a SQLite file, one lock per file.

    SQLite has one writer at a time, and a connection waiting for the file lock polls
    with sleeps of up to 100 ms: threads (and stores) of one process queue on a lock
    instead and get the file as soon as it is free. PostgreSQL locks rows: nothing.
    """
    if url.get_backend_name() != "sqlite":
        return nullcontext()
    key = os.path.realpath(url.database) if url.database else ":memory:"
    with _sqlite_locks_guard:
        return _sqlite_locks.setdefault(key, threading.Lock())


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _use_wal(cursor)
        # In WAL mode NORMAL loses no committed data on a process crash, only on power loss.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    # WAL is a property of the file, set once. Switching takes an exclusive lock, and SQLite answers
    # "database is locked" at once (no busy handler) while another process switches or recovers it.
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.001
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _sqlite_begin(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")
