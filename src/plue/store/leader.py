"""One process at a time for a job that must not run twice: several servers share one database, one acts.

`Leadership.hold()` answers "is this process the one?", taking the role when it is free:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own, in
  autocommit (never idle in a transaction). The lock lives exactly as long as that session: a
  process that dies, or loses its connection, frees it for another at once, and `hold()` notices
  a lost connection (one `SELECT 1`) and gives the role up. The key is a hash of the schema and the
  job's name, so Plue deployments in other schemas of the database do not collide.
- SQLite: an exclusive `flock` on a file beside the database (the database is on this machine, so
  every process using it can see the lock); the kernel frees it when the process ends. An
  in-memory database is private to its process: always the leader.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError


class Leadership:
    """Whether this process holds the role `name` among the processes sharing the database; thread-safe."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.name = name
        self._engine = engine
        self._lock = threading.Lock()
        self._session: Connection | None = None  # PostgreSQL: the connection whose session holds the lock
        self._fd: int | None = None  # SQLite: the locked file

    def hold(self) -> bool:
        """True if this process has the role (taking it now if no one has it); False if another process does."""
        with self._lock:
            if self._engine.dialect.name == "postgresql":
                return self._hold_postgresql()
            return self._hold_file()

    def release(self) -> None:
        """Give the role up (another process may take it at its next `hold()`)."""
        with self._lock:
            if self._session is not None:
                session, self._session = self._session, None
                _close_quietly(session)  # ends the session: its advisory lock goes with it
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing the file releases its flock

    def _hold_postgresql(self) -> bool:
        if self._session is not None:
            try:
                self._session.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:  # the session is gone, and the lock with it
                self._drop_session()
        session: Connection | None = None
        try:
            session = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            taken = session.execute(
                text("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':' || :name, 0))"),
                {"name": f"plue:{self.name}"},
            ).scalar()
        except SQLAlchemyError:
            if session is not None:
                _close_quietly(session)
            return False  # the database is unreachable: no one can be sure to lead, so this one does not
        if not taken:
            session.close()  # back to the pool: it holds no lock
            return False
        self._session = session
        return True

    def _drop_session(self) -> None:
        if self._session is not None:
            _close_quietly(self._session)
            self._session = None

    def _hold_file(self) -> bool:
        if self._fd is not None:
            return True
        database = self._engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return True  # a database private to this process
        path = f"{database}.{self.name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True


def _close_quietly(connection: Connection) -> None:
    """End the connection's session for good: returned to the pool, it would keep its advisory lock."""
    with contextlib.suppress(SQLAlchemyError):
        connection.invalidate()
    with contextlib.suppress(SQLAlchemyError):
        connection.close()
