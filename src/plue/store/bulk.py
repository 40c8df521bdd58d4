"""Many rows in one call, with the ids they got, on either database.

SQLAlchemy turns an executemany with RETURNING into one multi-row INSERT whose text
changes with the number of rows; psycopg parses each such statement anew (statements
this long skip its cache) and every parameter goes through SQLAlchemy's processing in
Python: together most of the time a webhook's group commit spends in this process. On
PostgreSQL the rows go to the driver instead: psycopg's `executemany` sends one short
statement (prepared once per connection) for every row in pipeline mode, one round
trip, with JSON values handed to its dumpers. SQLite keeps SQLAlchemy's path (there
the statement is cheap to parse and the database does the work in-process).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import JSON

from plue.store.values import dump_json

_statements: dict[tuple[str, tuple[str, ...], tuple[str, ...] | None, bool], str] = {}
_statements_lock = threading.Lock()


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning_ids: bool = True,
    skip_conflicts_on: Sequence[str] | None = None,
) -> list[int | None]:
    """Insert `rows` (each with the same keys) into `table`; with `returning_ids`, each row's `id` in the
    order of `rows`. With `skip_conflicts_on` (the columns of a unique index, distinct among `rows`), a row
    that conflicts is not inserted (ON CONFLICT DO NOTHING) and its id is None."""
    if not rows:
        return []
    if connection.dialect.name == "postgresql":
        return _insert_with_driver(connection, table, rows, returning_ids, skip_conflicts_on)
    if skip_conflicts_on is not None:
        return _insert_skipping_conflicts(connection, table, rows, returning_ids, skip_conflicts_on)
    if not returning_ids:
        connection.execute(insert(table), list(rows))
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    if len(rows) == 1:
        return [_optional_id(connection.execute(statement.values(rows[0])).scalar())]
    return [int(row_id) for row_id in connection.execute(statement, list(rows)).scalars()]


def _insert_skipping_conflicts(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning_ids: bool,
    keys: Sequence[str],
) -> list[int | None]:
    """SQLite: rows skipped as conflicts return nothing, so ids are matched by the (distinct) keys."""
    key_columns = [table.c[name] for name in keys]
    statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if not returning_ids:
        connection.execute(statement, list(rows))
        return []
    got = {
        tuple(row[:-1]): int(row[-1])
        for row in connection.execute(statement.returning(*key_columns, table.c.id), list(rows))
    }
    return [got.get(tuple(row[name] for name in keys)) for row in rows]


def _optional_id(value: Any) -> int | None:
    return None if value is None else int(value)


def _insert_with_driver(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning_ids: bool,
    skip_conflicts_on: Sequence[str] | None,
) -> list[int | None]:
    from psycopg import Connection as PsycopgConnection
    from psycopg.types.json import Jsonb

    columns = tuple(rows[0])
    sql = _statement(connection.dialect, table, columns, skip_conflicts_on, returning_ids)
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    params = [
        {
            name: (Jsonb(value, dumps=dump_json) if name in json_columns and value is not None else value)
            for name, value in row.items()
        }
        for row in rows
    ]
    dbapi_connection = connection.connection.dbapi_connection
    assert isinstance(dbapi_connection, PsycopgConnection)
    with dbapi_connection.cursor() as cursor:
        cursor.executemany(sql, params, returning=returning_ids)
        if not returning_ids:
            return []
        ids: list[int | None] = []
        while True:
            row = cursor.fetchone()
            ids.append(None if row is None else int(row[0]))
            if not cursor.nextset():
                break
    return ids


def _statement(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    skip_conflicts_on: Sequence[str] | None,
    returning_ids: bool,
) -> str:
    """The INSERT for one row, as psycopg takes it (`%(name)s` placeholders), compiled once per shape."""
    conflict = None if skip_conflicts_on is None else tuple(skip_conflicts_on)
    key = (table.name, columns, conflict, returning_ids)
    with _statements_lock:
        known = _statements.get(key)
    if known is not None:
        return known
    statement: Any = postgresql.insert(table).values({name: bindparam(name) for name in columns})
    if conflict is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    if returning_ids:
        statement = statement.returning(table.c.id)
    sql = str(statement.compile(dialect=dialect))
    with _statements_lock:
        _statements[key] = sql
    return sql
