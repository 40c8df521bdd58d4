"""The run queue: runs queued by the server (webhooks, schedules, dispatches) and claimed by its workers.

A run is claimed by exactly one caller, ever. PostgreSQL locks the oldest queued row
with `FOR UPDATE SKIP LOCKED`, so claimers in many processes take different runs
without waiting on each other; SQLite has one writer at a time (the store's write
transactions are `BEGIN IMMEDIATE`), so the same statements are already serialised
there (SQLAlchemy renders no `FOR UPDATE` on SQLite). Each function runs inside the
caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, select, update

from plue.store import runs as run_queries
from plue.store.models import runs, steps
from plue.store.records import NewRun, RunRecord

CANCELLED_WHILE_QUEUED = "the run was cancelled before it started"


def enqueue(
    connection: Connection, run: NewRun, *, parent_run_id: int | None = None, delivery_id: str | None = None
) -> int:
    """Store the run's workflow version (if new) and a `queued` run of it; the run's id."""
    workflow_id = run_queries.upsert_workflow(
        connection, run.workflow_path, run.workflow_name, run.content_hash, run.plan
    )
    return run_queries.create_run(
        connection,
        workflow_id=workflow_id,
        plan=run.plan,
        event_name=run.event_name,
        event=run.event,
        inputs=run.inputs,
        parent_run_id=parent_run_id,
        repository=run.repository,
        sha=run.sha,
        ref=run.ref,
        branch=run.branch,
        delivery_id=delivery_id,
    )


def any_queued(connection: Connection) -> bool:
    """Whether a run waits: a read, so idle claimers need not take SQLite's write lock."""
    return bool(connection.execute(select(exists().where(runs.c.status == "queued"))).scalar())


def claim(connection: Connection, owner: str, at: float) -> RunRecord | None:
    """The oldest claimable queued run, now `running` and owned by `owner`; None if none is queued.

    Queued runs whose cancel was requested on the way are finished `cancelled` instead.
    """
    while True:
        row = connection.execute(
            select(runs.c.id, runs.c.cancel_requested)
            .where(runs.c.status == "queued")
            .order_by(runs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        if row.cancel_requested:
            _cancel_queued(connection, row.id, at)
            continue
        # The row is locked (PostgreSQL) or the database is (SQLite): the status is still `queued`.
        connection.execute(
            update(runs)
            .where(runs.c.id == row.id, runs.c.status == "queued")
            .values(status="running", owner=owner, started_at=at)
        )
        return run_queries.get_run(connection, row.id)


def _cancel_queued(connection: Connection, run_id: int, at: float) -> None:
    connection.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "queued")
        .values(status="cancelled", error=CANCELLED_WHILE_QUEUED, finished_at=at)
    )
    connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.status == "pending")
        .values(status="cancelled", reason=CANCELLED_WHILE_QUEUED, finished_at=at)
    )
