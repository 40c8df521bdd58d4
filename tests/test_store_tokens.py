"""API tokens: created once and shown once, stored as hashes, verified, listed, revoked."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import text
from test_store_support import db_url, store

from plue.store import Store, StoreError

__all__ = ["db_url", "store"]  # fixtures


def test_a_created_token_verifies_and_only_its_hash_is_stored(store: Store) -> None:
    token = store.create_token("ci-bot", "write")
    assert re.fullmatch(r"plue_[A-Za-z0-9_-]{40}", token)
    record = store.verify_token(token)
    assert record is not None
    assert (record.name, record.scope, record.revoked) == ("ci-bot", "write", False)
    with store._engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    (listed,) = store.list_tokens()
    assert listed.last_used_at is not None  # the use was noted
    assert listed.to_json() == {
        "id": record.id,
        "name": "ci-bot",
        "scope": "write",
        "created_at": record.created_at,
        "last_used_at": listed.last_used_at,
        "revoked": False,
    }


def test_tokens_are_different_each_time(store: Store) -> None:
    tokens = {store.create_token(f"t{index}", "read") for index in range(5)}
    assert len(tokens) == 5
    assert {token.name for token in store.list_tokens()} == {f"t{index}" for index in range(5)}


@pytest.mark.parametrize("wrong", ["", "plue_", "nonsense", "plue_" + "x" * 40])
def test_a_wrong_token_does_not_verify(store: Store, wrong: str) -> None:
    token = store.create_token("admin", "admin")
    assert store.verify_token(wrong) is None
    assert store.verify_token(token[:-1]) is None
    assert store.verify_token(token + "x") is None


def test_a_revoked_token_no_longer_verifies_and_its_name_can_be_reused(store: Store) -> None:
    token = store.create_token("deploy", "admin")
    assert store.revoke_token("deploy") is True
    assert store.verify_token(token) is None
    assert store.revoke_token("deploy") is False
    assert store.revoke_token("never-made") is False
    (revoked,) = store.list_tokens()
    assert revoked.revoked is True
    replacement = store.create_token("deploy", "read")
    assert store.verify_token(token) is None
    record = store.verify_token(replacement)
    assert record is not None and record.scope == "read"


def test_a_name_in_use_is_refused(store: Store) -> None:
    store.create_token("ci-bot", "read")
    with pytest.raises(StoreError, match="a token named 'ci-bot' already exists"):
        store.create_token("ci-bot", "write")
    with pytest.raises(StoreError, match="needs a name"):
        store.create_token(" ", "write")


def test_an_unknown_scope_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="read, write, admin"):
        store.create_token("ci-bot", "root")
    assert store.list_tokens() == []
