"""Bring a database to the current schema with the Alembic migrations shipped in this package.

Every CLI command opens the store, so an up-to-date database costs one small query
(`HEAD` is compared with the version table); Alembic is loaded only to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from plue.store.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test checks they agree).
HEAD = "0005"
VERSION_TABLE = "alembic_version"


def upgrade(engine: Engine) -> None:
    """Migrate to HEAD if needed. `engine` must be the store's write engine (see `database`)."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.util import CommandError

    with engine.connect() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            # e.g. a revision this plue does not know: the database was migrated by a newer one.
            raise StoreError(f"cannot migrate the database: {exc}; is it used by a newer plue?") from None


def current_revision(engine: Engine) -> str | None:
    """The revision in the version table; None for an empty database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        try:
            row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
        except SQLAlchemyError:
            return None
    return None if row is None else str(row[0])


def alembic_config() -> Config:
    """A Config built in code: no alembic.ini, scripts from the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
