"""Webhook deliveries: each delivery id is handled once, with the runs it queued, in one transaction.

The delivery row is inserted first, `ON CONFLICT DO NOTHING`: a second process with the
same id finds the row (on PostgreSQL its insert waits for the first transaction, then
conflicts once that commits) before it has queued anything, and reads the first one's
record instead. Each function runs inside the caller's transaction.

`record_deliveries` does the same for a batch in a handful of statements whatever its
size (the server's group commit: deliveries that arrive while a transaction commits go
together in the next one). Rows are inserted in delivery-id order, so two processes
recording overlapping batches take the rows' locks in one order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from plue.store import bulk, queue
from plue.store import runs as run_queries
from plue.store.models import DELIVERY_OUTCOMES, deliveries
from plue.store.records import DeliveryRecord, NewDelivery
from plue.store.values import clean_json, clean_optional, clean_text


def record_delivery(connection: Connection, item: NewDelivery) -> tuple[DeliveryRecord, bool]:
    """(the delivery, True) with its runs queued; (the earlier delivery, False) if the id was seen before."""
    if item.outcome not in DELIVERY_OUTCOMES:
        raise ValueError(f"a delivery's outcome is one of {', '.join(DELIVERY_OUTCOMES)}, not {item.outcome!r}")
    values = _values(item)
    delivery_id = values["delivery_id"]
    runs = item.runs
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
    return _built(int(inserted), values, tuple(run_ids)), True


def record_deliveries(
    connection: Connection, items: Sequence[NewDelivery], workflow_ids: Mapping[tuple[str, str], int]
) -> tuple[list[tuple[DeliveryRecord, bool]], dict[tuple[str, str], int]]:
    """Record every delivery with its runs, as `record_delivery` would one by one, in one transaction.

    `workflow_ids`: known ids of workflow versions ((path, content hash) -> id), committed earlier.
    Returns, in the order of `items`, (record, True) for each delivery recorded now (its first
    occurrence in `items`) and (the earlier record, False) for the others; and the workflow ids learnt,
    to be remembered once the transaction has committed.
    """
    values_by_id: dict[str, dict[str, Any]] = {}
    first_item: dict[str, NewDelivery] = {}
    for item in items:
        if item.outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"a delivery's outcome is one of {', '.join(DELIVERY_OUTCOMES)}, not {item.outcome!r}")
        values = _values(item)
        if values["delivery_id"] not in values_by_id:
            values_by_id[values["delivery_id"]] = values
            first_item[values["delivery_id"]] = item
    if not values_by_id:
        return [], {}
    ordered = [values_by_id[key] for key in sorted(values_by_id)]
    ids = bulk.insert_rows(connection, deliveries, ordered, skip_conflicts_on=["delivery_id"])
    inserted = {
        values["delivery_id"]: row_id for values, row_id in zip(ordered, ids, strict=True) if row_id is not None
    }
    new_runs = [(key, run) for key in sorted(inserted) for run in first_item[key].runs]
    queue.lock_groups(connection, [run.concurrency_group for _, run in new_runs])  # all at once: no deadlock
    learnt: dict[tuple[str, str], int] = {}
    run_ids: dict[str, list[int]] = {key: [] for key in inserted}
    plain: list[tuple[str, dict[str, Any]]] = []
    for key, run in new_runs:
        if run.concurrency_group is not None:  # supersedes, may cancel: one at a time, as ever
            run_ids[key].append(queue.enqueue(connection, run, delivery_id=key))
            continue
        version = (clean_text(run.workflow_path), run.content_hash)
        workflow_id = workflow_ids.get(version) or learnt.get(version)
        if workflow_id is None:
            workflow_id = learnt[version] = run_queries.upsert_workflow(
                connection, run.workflow_path, run.workflow_name, run.content_hash, run.plan
            )
        row = run_queries.queued_run_row(
            workflow_id=workflow_id,
            workflow_path=run.workflow_path,
            workflow_name=run.workflow_name,
            plan=run.plan,
            event_name=run.event_name,
            event=run.event,
            inputs=run.inputs,
            repository=run.repository,
            sha=run.sha,
            ref=run.ref,
            branch=run.branch,
            delivery_id=key,
            runs_on=run.runs_on,
            max_attempts=run.max_attempts,
        )
        plain.append((key, row))
    for (key, _), run_id in zip(
        plain, run_queries.insert_queued_runs(connection, [row for _, row in plain]), strict=True
    ):
        run_ids[key].append(run_id)
    with_runs = [{"b_id": inserted[key], "b_run_ids": ids} for key, ids in run_ids.items() if ids]
    if with_runs:
        connection.execute(
            update(deliveries).where(deliveries.c.id == bindparam("b_id")).values(run_ids=bindparam("b_run_ids")),
            with_runs,
        )
    earlier: dict[str, DeliveryRecord] = {}
    conflicted = [key for key in values_by_id if key not in inserted]
    if conflicted:
        rows = connection.execute(select(deliveries).where(deliveries.c.delivery_id.in_(conflicted)))
        earlier = {row.delivery_id: _record(row) for row in rows}
    made = {key: _built(inserted[key], values_by_id[key], tuple(run_ids[key])) for key in inserted}
    results: list[tuple[DeliveryRecord, bool]] = []
    for item in items:
        key = clean_text(item.delivery_id)
        if key in made and first_item[key] is item:
            results.append((made[key], True))
        else:
            record = made.get(key) or earlier.get(key)
            assert record is not None  # it conflicted, and rows are never deleted
            results.append((record, False))
    return results, learnt


def _values(item: NewDelivery) -> dict[str, Any]:
    return {
        "delivery_id": clean_text(item.delivery_id),
        "event": clean_text(item.event),
        "action": clean_optional(item.action),
        "repository": clean_optional(item.repository),
        "received_at": item.received_at,
        "outcome": item.outcome,
        "reason": clean_optional(item.reason),
        "run_ids": [],
        "payload": clean_json(item.payload),
    }


def _built(row_id: int, values: Mapping[str, Any], run_ids: tuple[int, ...]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row_id,
        delivery_id=values["delivery_id"],
        event=values["event"],
        action=values["action"],
        repository=values["repository"],
        received_at=values["received_at"],
        outcome=values["outcome"],
        reason=values["reason"],
        run_ids=run_ids,
        payload=values["payload"],
    )


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
