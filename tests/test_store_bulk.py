"""`bulk.insert_rows`: many rows in one call, ids in the order given, conflicts skipped, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url
from test_store_support import db_url, store

from plue.store import Store, bulk
from plue.store.database import make_engine
from plue.store.models import deliveries, steps

__all__ = ["db_url", "store"]  # fixtures

AWKWARD = ['quote " and \\ backslash', "{braces, commas}", "NULL", "", "é 😀", "line\nbreak", "tab\tend"]


@pytest.fixture
def connection(store: Store, db_url: str) -> Iterator[Connection]:
    engine = make_engine(make_url(db_url))  # the schema is made: `store` migrated it
    try:
        with engine.begin() as opened:
            yield opened
    finally:
        engine.dispose()


def delivery_row(key: str, payload: Any, reason: str | None = None) -> dict[str, Any]:
    return {
        "delivery_id": key,
        "event": "push",
        "action": None,
        "repository": "octo/app",
        "received_at": 1.5,
        "outcome": "ignored",
        "reason": reason,
        "run_ids": [],
        "payload": payload,
    }


def test_rows_get_ids_in_the_order_given_and_read_back_as_written(connection: Connection) -> None:
    payloads: list[Any] = [{"text": text, "n": [1, 2.5, None, True], "nested": {"k": text}} for text in AWKWARD]
    payloads[2] = None  # SQL NULL, not JSON null
    keys = [f"d-{index:02d}" for index in range(len(payloads))][::-1]  # ids must follow this order, not the keys'
    rows = [
        delivery_row(key, payload, reason) for key, payload, reason in zip(keys, payloads, AWKWARD[::-1], strict=True)
    ]
    ids = bulk.insert_rows(connection, deliveries, rows)
    assert len(ids) == len(rows) and all(isinstance(row_id, int) for row_id in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    stored = {row.id: row for row in connection.execute(select(deliveries))}
    for row_id, row in zip(ids, rows, strict=True):
        assert stored[row_id].delivery_id == row["delivery_id"]
        assert stored[row_id].payload == row["payload"]
        assert stored[row_id].reason == row["reason"]
        assert stored[row_id].run_ids == []
    assert bulk.insert_rows(connection, deliveries, [delivery_row("one", {"a": 1})]) == [max(ids) + 1]
    assert bulk.insert_rows(connection, deliveries, []) == []


def test_conflicting_rows_are_skipped_and_get_no_id(connection: Connection) -> None:
    (first,) = bulk.insert_rows(
        connection, deliveries, [delivery_row("b", {"v": 1})], skip_conflicts_on=["delivery_id"]
    )
    rows = [delivery_row(key, {"v": 2}) for key in ("a", "b", "c")]
    ids = bulk.insert_rows(connection, deliveries, rows, skip_conflicts_on=["delivery_id"])
    assert ids[1] is None and ids[0] is not None and ids[2] is not None and first not in ids
    stored = {row.delivery_id: row for row in connection.execute(select(deliveries))}
    assert stored["b"].payload == {"v": 1} and stored["b"].id == first  # the first one is kept as it was
    assert stored["a"].id == ids[0] and stored["c"].id == ids[2]


def test_rows_without_ids_and_columns_with_only_nulls(connection: Connection) -> None:
    (delivery_id,) = bulk.insert_rows(connection, deliveries, [delivery_row("x", None)])
    assert delivery_id is not None
    # Steps need a run; the store made none, so make one the store's way.
    from plue.store import runs as run_queries

    workflow_id = run_queries.upsert_workflow(connection, "ci.plue.py", "CI", "0" * 64, {"name": "CI", "steps": []})
    row = run_queries.queued_run_row(
        workflow_id=workflow_id,
        workflow_path="ci.plue.py",
        workflow_name="CI",
        plan={"name": "CI", "steps": [{"id": "a"}, {"id": "b"}]},
        event_name=None,
        event=None,
        inputs={},
    )
    (run_id,) = run_queries.insert_queued_runs(connection, [row])
    assert (
        bulk.insert_rows(
            connection,
            steps,
            [
                {
                    "run_id": run_id,
                    "step_id": step_id,
                    "position": 9 + index,
                    "attempt": 2,
                    "outputs": {},
                    "reused": False,
                    "status": "pending",
                    "extra": None,
                }
                for index, step_id in enumerate(["c", "d"])
            ],
            returning_ids=False,
        )
        == []
    )
    stored = connection.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.position)).all()
    assert [(row.step_id, row.position, row.extra, row.outputs) for row in stored] == [
        ("a", 0, None, {}),
        ("b", 1, None, {}),
        ("c", 9, None, {}),
        ("d", 10, None, {}),
    ]
