"""The run queue: runs queued by the server (webhooks, schedules, dispatches) and claimed by its workers.

A run is claimed by exactly one caller, ever. PostgreSQL locks the oldest queued row
with `FOR UPDATE SKIP LOCKED`, so claimers in many processes take different runs
without waiting on each other; SQLite has one writer at a time (the store's write
transactions are `BEGIN IMMEDIATE`), so the same statements are already serialised
there (SQLAlchemy renders no `FOR UPDATE` on SQLite). Each function runs inside the
caller's transaction.

Concurrency groups (the plan's `concurrency`, like GitHub Actions'): a queued run whose
group has a `running` run is passed over, so a group runs one run at a time, in queue
order; queuing a run finishes the group's older queued runs `cancelled` (superseded), and
with `cancel_in_progress` requests the cancel of its running one. On PostgreSQL, where
transactions overlap, a transaction-scoped advisory lock per group makes "is the group
busy?" and "take it" one step: enqueuers of a group wait for each other, and a claimer
that cannot take the lock at once passes the group over rather than wait.

Runner labels (the plan's `runs_on`): a run that needs labels is claimed only by a runner agent
that has them all (`attempts.claim_for_runner`, through `take_next`); the built-in workers
(`claim`) take only runs that need none. Any claimer finishes a queued run whose cancel was
requested, whatever labels it needs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)

from plue.store import runs as run_queries
from plue.store.models import runs, steps
from plue.store.notify import run_changed
from plue.store.records import NewRun, RunRecord
from plue.store.values import clean_optional, clean_text

CANCELLED_WHILE_QUEUED = "the run was cancelled before it started"
SUPERSEDED = "superseded by run {run_id}"  # why a group's queued run was cancelled by a newer one
MAX_SCAN: Final = 500  # queued runs a claimer filtering in Python looks at, at most, per claim


def enqueue(
    connection: Connection, run: NewRun, *, parent_run_id: int | None = None, delivery_id: str | None = None
) -> int:
    """Store the run's workflow version (if new) and a `queued` run of it; the run's id.

    A run of a concurrency group supersedes the group's older queued runs and, with
    `cancel_in_progress`, asks the group's running run to stop.
    """
    group = clean_optional(run.concurrency_group)
    if group is not None:
        lock_groups(connection, [group])
    workflow_id = run_queries.upsert_workflow(
        connection, run.workflow_path, run.workflow_name, run.content_hash, run.plan
    )
    run_id = run_queries.create_run(
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
        concurrency_group=group,
        runs_on=run.runs_on,
        max_attempts=run.max_attempts,
    )
    if group is not None:
        _supersede(connection, group, run_id)
        if run.cancel_in_progress:
            running = select(runs.c.id).where(runs.c.concurrency_group == group, runs.c.status == "running")
            for running_id in list(connection.execute(running).scalars()):
                run_queries.request_cancel(connection, running_id)
    return run_id


def lock_groups(connection: Connection, groups: Iterable[str | None]) -> None:
    """On PostgreSQL, hold the groups' advisory locks until the transaction ends, taken in one global
    order so that transactions queuing runs of several groups cannot deadlock; SQLite is serialised."""
    if connection.dialect.name != "postgresql":
        return
    names = {clean_text(group) for group in groups if group is not None}
    if not names:
        return
    for key in sorted(_lock_key(connection, name) for name in names):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_key(connection: Connection, group: str) -> int:
    # A signed 64-bit key of the schema and the group (advisory locks are per database, and several
    # stores may share one); two names sharing a key only serialise a little more.
    schema = connection.execute(text("SELECT current_schema()")).scalar()
    digest = hashlib.sha256(f"plue.concurrency:{schema}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _supersede(connection: Connection, group: str, run_id: int) -> None:
    older = select(runs.c.id).where(runs.c.concurrency_group == group, runs.c.status == "queued", runs.c.id < run_id)
    reason, at = SUPERSEDED.format(run_id=run_id), time.time()
    for old_id in list(connection.execute(older).scalars()):
        _cancel_queued(connection, old_id, at, reason)


def _claimable() -> ColumnElement[bool]:
    """A queued run a claimer may take now: no group, a group without a running run, or a cancel to apply."""
    busy = runs.alias("busy")
    return or_(
        runs.c.concurrency_group.is_(None),
        runs.c.cancel_requested.is_(True),
        ~exists().where(busy.c.concurrency_group == runs.c.concurrency_group, busy.c.status == "running"),
    )


def needs_no_labels() -> ColumnElement[bool]:
    """A run any executor may take, the server's built-in workers included: it needs no runner labels."""
    return or_(runs.c.runs_on.is_(None), runs.c.runs_on == literal_column("'[]'"))


def any_queued(connection: Connection) -> bool:
    """Whether a run waits that the built-in workers could claim now: a read, so idle claimers need not take
    SQLite's write lock."""
    waiting = exists().where(runs.c.status == "queued", _claimable(), _for_claimer([needs_no_labels()]))
    return bool(connection.execute(select(waiting)).scalar())


def claim(connection: Connection, owner: str, at: float) -> RunRecord | None:
    """The oldest claimable queued run that needs no runner labels, now `running` and owned by `owner`;
    None if none is queued.

    Queued runs whose cancel was requested on the way are finished `cancelled` instead; runs whose
    concurrency group has a running run are passed over.
    """
    run_id = take_next(connection, owner, at, [needs_no_labels()])
    return None if run_id is None else run_queries.get_run(connection, run_id)


RowFilter = Callable[[Any], bool]  # given a row of id, runs_on, cancel_requested, concurrency_group


def _for_claimer(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    # Any claimer finishes a queued run whose cancel was requested, even one it could not run: a run
    # waiting for labels no runner has must still end when cancelled.
    return or_(runs.c.cancel_requested.is_(True), and_(true(), *conditions))


def take_next(
    connection: Connection,
    owner: str,
    at: float,
    conditions: Sequence[ColumnElement[bool]] = (),
    accept: RowFilter | None = None,
    *,
    scan: int = 1,
) -> int | None:
    """Claim the oldest claimable queued run that meets `conditions` (SQL) and `accept` (Python, given the
    row's id, runs_on, cancel_requested and concurrency_group): now `running`, owned by `owner`; its id, or None.

    `scan` > 1 reads candidates that many at a time, for filters SQL cannot express (SQLite); then at most
    `MAX_SCAN` queued runs are looked at. Cancels requested while queued are applied on the way.
    """
    passed: list[int] = []  # runs not for this claimer, or whose group another claimer took while we looked
    while len(passed) < MAX_SCAN:
        query = (
            select(runs.c.id, runs.c.runs_on, runs.c.cancel_requested, runs.c.concurrency_group)
            .where(runs.c.status == "queued", _claimable(), _for_claimer(conditions))
            .order_by(runs.c.id)
            .limit(scan)
            .with_for_update(skip_locked=True)
        )
        if passed:
            query = query.where(runs.c.id.not_in(passed))
        rows = connection.execute(query).all()
        if not rows:
            return None
        for row in rows:
            if row.cancel_requested:
                _cancel_queued(connection, row.id, at, CANCELLED_WHILE_QUEUED)
                continue
            if accept is not None and not accept(row):
                passed.append(row.id)
                continue
            if row.concurrency_group is not None and not _take_group(connection, row.concurrency_group):
                passed.append(row.id)
                continue
            # The row is locked (PostgreSQL) or the database is (SQLite): the status is still `queued`.
            connection.execute(
                update(runs)
                .where(runs.c.id == row.id, runs.c.status == "queued")
                .values(status="running", owner=owner, started_at=func.coalesce(runs.c.started_at, at))
            )
            run_changed(connection, row.id)
            return int(row.id)
    return None


def _take_group(connection: Connection, group: str) -> bool:
    """Whether the group is still free to run one more (on PostgreSQL, its lock is then held until commit)."""
    if connection.dialect.name != "postgresql":
        return True  # the claim's query saw the group free, and no other writer runs meanwhile
    key = _lock_key(connection, group)
    taken = connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar()
    if not taken:
        return False  # another claimer (or an enqueuer) of the group is in the middle of it
    # A statement started after taking the lock sees every commit of the group's earlier claimers.
    running = select(func.count()).where(runs.c.concurrency_group == group, runs.c.status == "running")
    return not connection.execute(running).scalar()


def _cancel_queued(connection: Connection, run_id: int, at: float, reason: str) -> None:
    run_changed(connection, run_id)
    connection.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "queued")
        .values(status="cancelled", error=reason, finished_at=at)
    )
    connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.status == "pending")
        .values(status="cancelled", reason=reason, finished_at=at)
    )
