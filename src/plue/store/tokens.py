"""API tokens: `plue_` + 40 random URL-safe characters, stored only as their SHA-256.

The hash is the lookup key, so verifying a token is one indexed query that compares
no secret byte by byte. `last_used_at` is refreshed at most once a minute: checking
a token on every API request must not turn every read into a write.
Each function runs inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from plue.store.errors import StoreError
from plue.store.models import TOKEN_SCOPES, api_tokens
from plue.store.records import TokenRecord
from plue.store.values import clean_text

PREFIX = "plue_"
RANDOM_CHARS = 40
ALPHABET = string.ascii_letters + string.digits + "-_"
LAST_USED_RESOLUTION_SECONDS = 60.0


def new_token() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_scope(scope: str) -> None:
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"a token's scope is one of {', '.join(TOKEN_SCOPES)}, not {scope!r}")


def create_token(connection: Connection, name: str, scope: str, at: float) -> str:
    """A new token named `name` (the name of a revoked token may be used again); the token itself."""
    check_scope(scope)
    name = clean_text(name)
    if not name.strip():
        raise StoreError("a token needs a name: say what or who it is for")
    current = connection.execute(select(api_tokens.c.revoked).where(api_tokens.c.name == name)).first()
    if current is not None:
        if not current.revoked:
            raise StoreError(f"a token named {name!r} already exists: revoke it first or choose another name")
        connection.execute(delete(api_tokens).where(api_tokens.c.name == name))
    token = new_token()
    connection.execute(
        insert(api_tokens).values(
            name=name, token_hash=token_hash(token), scope=scope, created_at=at, last_used_at=None, revoked=False
        )
    )
    return token


def find_token(connection: Connection, token: str) -> TokenRecord | None:
    """The live (not revoked) token with this value, or None."""
    if not token.startswith(PREFIX):
        return None
    row = connection.execute(
        select(api_tokens).where(api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked.is_(False))
    ).first()
    return None if row is None else _record(row)


def needs_touch(record: TokenRecord, at: float) -> bool:
    return record.last_used_at is None or record.last_used_at < at - LAST_USED_RESOLUTION_SECONDS


def touch(connection: Connection, token_id: int, at: float) -> None:
    connection.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            or_(
                api_tokens.c.last_used_at.is_(None),
                api_tokens.c.last_used_at < at - LAST_USED_RESOLUTION_SECONDS,
            ),
        )
        .values(last_used_at=at)
    )


def list_tokens(connection: Connection) -> list[TokenRecord]:
    """Every token, revoked ones too, by name."""
    return [_record(row) for row in connection.execute(select(api_tokens).order_by(api_tokens.c.name))]


def revoke_token(connection: Connection, name: str) -> bool:
    """False if there is no live token of that name."""
    result = connection.execute(
        update(api_tokens)
        .where(api_tokens.c.name == clean_text(name), api_tokens.c.revoked.is_(False))
        .values(revoked=True)
    )
    return result.rowcount > 0


def _record(row: Row[Any]) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        scope=row.scope,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=bool(row.revoked),
    )
