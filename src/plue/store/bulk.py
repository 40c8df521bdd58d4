"""Many rows in one call, with the ids they got, on either database.

SQLAlchemy turns an executemany with RETURNING into one multi-row INSERT whose text
changes with the number of rows; psycopg parses each such statement anew (statements
this long skip its cache) and every parameter goes through SQLAlchemy's processing in
Python: together most of the time a webhook's group commit spends in this process. On
PostgreSQL the rows go to the driver instead, as one array per column unnested by one
statement whose text never changes (psycopg's executemany, in pipeline mode, cost more:
its per-row results are handled in Python). SQLite keeps SQLAlchemy's path (there the
statement is cheap to parse and the database does the work in-process).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import JSON

from plue.store.values import dump_json

_statements: dict[tuple[str, tuple[str, ...], tuple[str, ...] | None, bool], str] = {}  # PostgreSQL's
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

    columns = tuple(rows[0])
    conflict = None if skip_conflicts_on is None else tuple(skip_conflicts_on)
    sql = _statement(connection.dialect, table, columns, conflict, returning_ids)
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    # One array per column (psycopg writes lists of plain values as arrays in C); JSON as its text.
    arrays = [
        [None if row[name] is None else dump_json(row[name]) for row in rows]
        if name in json_columns
        else [row[name] for row in rows]
        for name in columns
    ]
    dbapi_connection = connection.connection.dbapi_connection
    assert isinstance(dbapi_connection, PsycopgConnection)
    with dbapi_connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        if not returning_ids:
            return []
        returned = cursor.fetchall()
    if conflict is None:
        # Rows are inserted in the order of `rows` (ORDER BY the ordinality), each taking the next value of
        # the id sequence: their ids, sorted, are in that order.
        return [int(row_id) for row_id in sorted(row[0] for row in returned)]
    ids = {tuple(row[1:]): int(row[0]) for row in returned}
    return [ids.get(tuple(row[name] for name in conflict)) for row in rows]


def _statement(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    conflict: tuple[str, ...] | None,
    returning_ids: bool,
) -> str:
    """`INSERT … SELECT … FROM unnest(<one array per column>) WITH ORDINALITY ORDER BY ordinality`: one
    statement whose text does not depend on the number of rows (psycopg parses it once, PostgreSQL
    prepares it once per connection), rows inserted in the given order. Made once per shape."""
    key = (table.name, columns, conflict, returning_ids)
    with _statements_lock:
        known = _statements.get(key)
    if known is not None:
        return known
    names = ", ".join(f'"{name}"' for name in columns)
    arrays = ", ".join(f"%b::{table.c[name].type.compile(dialect=dialect)}[]" for name in columns)
    sql = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM unnest({arrays}) '
        f'WITH ORDINALITY AS given({names}, "ordinality") ORDER BY "ordinality"'
    )
    if conflict is not None:
        sql += f" ON CONFLICT ({', '.join(f'{chr(34)}{name}{chr(34)}' for name in conflict)}) DO NOTHING"
    if returning_ids:
        sql += " RETURNING id" + "".join(f', "{name}"' for name in conflict or ())
    with _statements_lock:
        _statements[key] = sql
    return sql
