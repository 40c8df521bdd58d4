"""Log line rows: idempotent batch inserts and cursor reads.

A line is ``(step_id, attempt, seq, stream, at, text)``; (run, step, attempt, seq)
is unique, and an insert ignores lines already stored, so a batch delivered twice
is stored once. Rows get increasing ids in commit order (one writer per run, the
`LogWriter`), which `read_logs` uses as a cursor: poll with the last id seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from sqlalchemy import Connection, select

from plue.store.models import log_lines
from plue.store.notify import run_changed
from plue.store.records import LogRecord
from plue.store.values import clean_text

LogLineTuple: TypeAlias = tuple[str, int, int, str, float, str]  # (step_id, attempt, seq, stream, at, text)

_COLUMNS = "run_id, step_id, attempt, seq, stream, at, text"
_KEY = "run_id, step_id, attempt, seq"


class LogInserter:
    """Batch inserts for one database, straight to the driver: SQLAlchemy's per-row parameter
    processing would cost more than SQLite's insert itself."""

    def __init__(self, dialect_name: str) -> None:
        self._postgresql = dialect_name == "postgresql"
        marks = ", ".join(["%s" if self._postgresql else "?"] * 7)
        self._insert = f"INSERT INTO log_lines ({_COLUMNS}) VALUES ({marks}) ON CONFLICT ({_KEY}) DO NOTHING"

    def insert(self, connection: Connection, run_id: int, lines: Sequence[LogLineTuple]) -> None:
        rows = [
            (run_id, step_id, attempt, seq, stream, at, clean_text(text))
            for step_id, attempt, seq, stream, at, text in lines
        ]
        if rows and not (self._postgresql and _copy(connection, rows)):
            connection.exec_driver_sql(self._insert, rows)
        if rows:
            run_changed(connection, run_id)  # once per batch: one notification per transaction


def _copy(connection: Connection, rows: list[tuple[int, str, int, int, str, float, str]]) -> bool:
    """COPY the rows (twice as fast as INSERT on PostgreSQL); False if that failed, typically because some
    are stored already (a batch delivered again): then none is, and the caller's INSERT … ON CONFLICT DO
    NOTHING stores the others (or reports the error through SQLAlchemy)."""
    import psycopg

    dbapi_connection = connection.connection.dbapi_connection
    assert isinstance(dbapi_connection, psycopg.Connection)
    try:
        with (
            connection.begin_nested(),
            dbapi_connection.cursor() as cursor,
            cursor.copy(f"COPY log_lines ({_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except psycopg.Error:
        return False
    return True


def read_logs(
    connection: Connection, run_id: int, *, step_id: str | None, attempt: int | None, after: int, limit: int
) -> list[LogRecord]:
    query = (
        select(log_lines)
        .where(log_lines.c.run_id == run_id, log_lines.c.id > after)
        .order_by(log_lines.c.id)
        .limit(limit)
    )
    if step_id is not None:
        query = query.where(log_lines.c.step_id == step_id)
    if attempt is not None:
        query = query.where(log_lines.c.attempt == attempt)
    return [
        LogRecord(
            id=row.id,
            run_id=row.run_id,
            step_id=row.step_id,
            attempt=row.attempt,
            seq=row.seq,
            stream=row.stream,
            at=row.at,
            text=row.text,
        )
        for row in connection.execute(query)
    ]
