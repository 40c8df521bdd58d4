"""Webhook deliveries: each delivery id is handled once, with the runs it queued, in one transaction.

The delivery row is inserted first, `ON CONFLICT DO NOTHING`: a second process with the
same id finds the row (on PostgreSQL its insert waits for the first transaction, then
conflicts once that commits) before it has queued anything, and reads the first one's
record instead. Each function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from plue.store import queue
from plue.store.models import DELIVERY_OUTCOMES, deliveries
from plue.store.records import DeliveryRecord, NewRun
from plue.store.values import clean_json, clean_optional, clean_text


def record_delivery(
    connection: Connection,
    delivery_id: str,
    *,
    event: str,
    action: str | None,
    repository: str | None,
    payload: dict[str, Any] | None,
    outcome: str,
    reason: str | None,
    runs: Sequence[NewRun],
    received_at: float,
) -> tuple[DeliveryRecord, bool]:
    """(the delivery, True) with its runs queued; (the earlier delivery, False) if the id was seen before."""
    if outcome not in DELIVERY_OUTCOMES:
        raise ValueError(f"a delivery's outcome is one of {', '.join(DELIVERY_OUTCOMES)}, not {outcome!r}")
    delivery_id = clean_text(delivery_id)
    values = {
        "delivery_id": delivery_id,
        "event": clean_text(event),
        "action": clean_optional(action),
        "repository": clean_optional(repository),
        "received_at": received_at,
        "outcome": outcome,
        "reason": clean_optional(reason),
        "run_ids": [],
        "payload": clean_json(payload),
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = connection.execute(
        dialect.insert(deliveries)
        .values(values)
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(deliveries.c.id)
    ).scalar()
    if inserted is None:
        existing = get_delivery(connection, delivery_id)
        assert existing is not None  # it conflicted, and rows are never deleted
        return existing, False
    queue.lock_groups(connection, [run.concurrency_group for run in runs])  # all at once: no deadlock
    run_ids = [queue.enqueue(connection, run, delivery_id=delivery_id) for run in runs]
    if run_ids:
        connection.execute(update(deliveries).where(deliveries.c.id == inserted).values(run_ids=run_ids))
    # Built from what was just written rather than read back: one query less on the webhook's hot path.
    created = DeliveryRecord(
        id=int(inserted),
        delivery_id=delivery_id,
        event=values["event"],
        action=values["action"],
        repository=values["repository"],
        received_at=received_at,
        outcome=outcome,
        reason=values["reason"],
        run_ids=tuple(run_ids),
        payload=values["payload"],
    )
    return created, True


def get_delivery(connection: Connection, delivery_id: str) -> DeliveryRecord | None:
    row = connection.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).first()
    return None if row is None else _record(row)


def list_deliveries(connection: Connection, *, limit: int, before: int | None) -> list[DeliveryRecord]:
    """Newest first; `before` is the `id` of the last delivery of the previous page."""
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(deliveries.c.id < before)
    return [_record(row) for row in connection.execute(query)]


def _record(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        delivery_id=row.delivery_id,
        event=row.event,
        action=row.action,
        repository=row.repository,
        received_at=row.received_at,
        outcome=row.outcome,
        reason=row.reason,
        run_ids=tuple(int(run_id) for run_id in row.run_ids),
        payload=row.payload,
    )
