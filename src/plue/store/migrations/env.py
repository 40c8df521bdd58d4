"""Alembic's entry point, run by `plue.store.migrate` with a connection in `config.attributes`.

Only online migrations on a given connection: the store builds the Config in code,
there is no alembic.ini. The whole upgrade is one transaction (both databases have
transactional DDL), taken with a lock first so that two processes opening a fresh
database at once migrate it once: `BEGIN IMMEDIATE` on SQLite (the connection comes
from the store's write engine), an advisory lock on PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from plue.store.models import metadata

# Any constant: the lock is per schema, so tests migrating their own schemas do not wait on each other.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('plue.store.migrate:' || current_schema()))")


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(_PG_LOCK)
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("plue's migrations run through plue.store (Store.open), not the alembic command line")
run_migrations(connection)
