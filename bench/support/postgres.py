"""A temporary PostgreSQL schema for one benchmark run."""

from __future__ import annotations

import uuid
from typing import Final

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES: Final = "postgresql://postgres@127.0.0.1:5432/test"


def libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_schema(base: str, instead: str = "skipped") -> tuple[str, str] | None:
    """A new schema and a URL using it, or None (said, with `instead`) if the server cannot be reached."""
    schema = f"plue_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(libpq(base), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        print(f"postgresql: not reachable at {base}: {str(exc).strip().splitlines()[0]}; {instead}")
        return None
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def drop_schema(base: str, schema: str) -> None:
    with psycopg.connect(libpq(base), autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
