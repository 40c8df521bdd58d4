"""Queries on workflows, runs and steps. Each function runs inside the caller's transaction.

Every attempt of a step has its own row: attempt 1 is created (pending) with the
run, later attempts when they start. Calls that name no attempt (skip, reuse)
change the latest one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from plue.plan.canonical import with_added_keys
from plue.store import bulk
from plue.store.errors import StoreError
from plue.store.models import RUN_STATUSES, STEP_STATUSES, runs, steps, workflows
from plue.store.notify import run_changed
from plue.store.records import DEFAULT_MAX_ATTEMPTS, RunRecord, StepRecord
from plue.store.values import clean_json, clean_optional, clean_text

FINISHED_RUN_STATUSES = ("success", "failed", "cancelled", "interrupted")
ACTIVE_RUN_STATUSES = ("queued", "running")


def check_run_status(status: str, allowed: Sequence[str] = RUN_STATUSES) -> None:
    if status not in allowed:
        raise ValueError(f"run status must be one of {', '.join(allowed)}, not {status!r}")


def check_step_status(status: str) -> None:
    if status not in STEP_STATUSES:
        raise ValueError(f"step status must be one of {', '.join(STEP_STATUSES)}, not {status!r}")


# --- workflows and runs ----------------------------------------------------------


def upsert_workflow(connection: Connection, path: str, name: str, content_hash: str, plan: dict[str, Any]) -> int:
    """The id of the workflow version (path, content hash), created on first sight."""
    values = {
        "path": clean_text(path),
        "name": clean_text(name),
        "content_hash": content_hash,
        "plan": clean_json(plan),
        "created_at": time.time(),
    }
    # Insert-or-ignore then select: two processes registering the same version get the same row.
    key = ["path", "content_hash"]
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(workflows).values(values).on_conflict_do_nothing(index_elements=key))
    else:
        connection.execute(sqlite.insert(workflows).values(values).on_conflict_do_nothing(index_elements=key))
    found = connection.execute(
        select(workflows.c.id).where(workflows.c.path == values["path"], workflows.c.content_hash == content_hash)
    ).scalar_one()
    return int(found)


def create_run(
    connection: Connection,
    *,
    workflow_id: int,
    plan: dict[str, Any],
    event_name: str | None,
    event: dict[str, Any] | None,
    inputs: dict[str, Any],
    parent_run_id: int | None,
    repository: str | None = None,
    sha: str | None = None,
    ref: str | None = None,
    branch: str | None = None,
    delivery_id: str | None = None,
    concurrency_group: str | None = None,
    runs_on: Sequence[str] = (),
    max_attempts: int | None = None,
) -> int:
    """A queued run; `runs_on`: the labels a runner needs (stored NULL when none: any runner or worker)."""
    workflow = connection.execute(
        select(workflows.c.path, workflows.c.name).where(workflows.c.id == workflow_id)
    ).first()
    if workflow is None:
        raise StoreError(f"no workflow with id {workflow_id}")
    attempt = 1
    if parent_run_id is not None:
        parent_attempt = connection.execute(select(runs.c.attempt).where(runs.c.id == parent_run_id)).scalar()
        if parent_attempt is None:
            raise StoreError(f"no run {parent_run_id} to rerun")
        attempt = parent_attempt + 1
    row = queued_run_row(
        workflow_id=workflow_id,
        workflow_path=workflow.path,
        workflow_name=workflow.name,
        plan=plan,
        event_name=event_name,
        event=event,
        inputs=inputs,
        attempt=attempt,
        parent_run_id=parent_run_id,
        repository=repository,
        sha=sha,
        ref=ref,
        branch=branch,
        delivery_id=delivery_id,
        concurrency_group=concurrency_group,
        runs_on=runs_on,
        max_attempts=max_attempts,
    )
    [run_id] = insert_queued_runs(connection, [row])
    return run_id


def queued_run_row(
    *,
    workflow_id: int,
    workflow_path: str,
    workflow_name: str,
    plan: dict[str, Any],
    event_name: str | None,
    event: dict[str, Any] | None,
    inputs: dict[str, Any],
    attempt: int = 1,
    parent_run_id: int | None = None,
    repository: str | None = None,
    sha: str | None = None,
    ref: str | None = None,
    branch: str | None = None,
    delivery_id: str | None = None,
    concurrency_group: str | None = None,
    runs_on: Sequence[str] = (),
    max_attempts: int | None = None,
) -> dict[str, Any]:
    """The values of a new `queued` run's row (checked: the plan's steps must have ids)."""
    _plan_step_ids(plan)
    now = time.time()
    return {
        "workflow_id": workflow_id,
        "workflow_path": workflow_path,
        "workflow_name": workflow_name,
        "plan": clean_json(plan),
        "event_name": clean_optional(event_name),
        "event": clean_json(event),
        "inputs": clean_json(inputs),
        "status": "queued",
        "attempt": attempt,
        "parent_run_id": parent_run_id,
        "created_at": now,
        "cancel_requested": False,
        "repository": clean_optional(repository),
        "sha": clean_optional(sha),
        "ref": clean_optional(ref),
        "branch": clean_optional(branch),
        "delivery_id": clean_optional(delivery_id),
        "queued_at": now,
        "concurrency_group": clean_optional(concurrency_group),
        "runs_on": sorted({clean_text(label) for label in runs_on}) or None,
        "max_attempts": DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
    }


def insert_queued_runs(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert runs made by `queued_run_row` and their pending steps, in two statements whatever their
    number; their ids, in the order of `rows`."""
    if not rows:
        return []
    run_ids = [int(run_id) for run_id in bulk.insert_rows(connection, runs, rows) if run_id is not None]
    pending = [
        {**_new_step(run_id, step_id, position, 1), "status": "pending"}
        for run_id, row in zip(run_ids, rows, strict=True)
        for position, step_id in enumerate(_plan_step_ids(row["plan"]))
    ]
    bulk.insert_rows(connection, steps, pending, returning_ids=False)
    return run_ids


def _plan_step_ids(plan: Mapping[str, Any]) -> list[str]:
    plan_steps = plan.get("steps", [])
    if not isinstance(plan_steps, list) or not all(
        isinstance(step, dict) and isinstance(step.get("id"), str) for step in plan_steps
    ):
        raise StoreError("the plan's steps must be a list of objects with a string 'id'")
    return [step["id"] for step in plan_steps]


def _new_step(run_id: int, step_id: str, position: int, attempt: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "step_id": step_id,
        "position": position,
        "attempt": attempt,
        "outputs": {},
        "reused": False,
    }


def start_run(connection: Connection, run_id: int, owner: str, at: float) -> None:
    result = connection.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "queued")
        .values(status="running", owner=owner, started_at=at)
    )
    if result.rowcount == 0:
        raise StoreError(f"run {run_id} {_describe(connection, run_id)}: only a queued run can start")
    run_changed(connection, run_id)


def finish_run(connection: Connection, run_id: int, status: str, error: str | None, at: float) -> None:
    check_run_status(status, FINISHED_RUN_STATUSES)
    result = connection.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status.in_(ACTIVE_RUN_STATUSES))
        .values(status=status, error=clean_optional(error), finished_at=at)
    )
    if result.rowcount == 0:
        raise StoreError(f"run {run_id} {_describe(connection, run_id)}: it cannot finish again")
    run_changed(connection, run_id)


def _describe(connection: Connection, run_id: int) -> str:
    status = connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
    return "does not exist" if status is None else f"is {status}"


def request_cancel(connection: Connection, run_id: int) -> bool:
    result = connection.execute(
        update(runs).where(runs.c.id == run_id, runs.c.status.in_(ACTIVE_RUN_STATUSES)).values(cancel_requested=True)
    )
    if result.rowcount == 0:
        return False
    run_changed(connection, run_id)
    return True


def cancel_requested(connection: Connection, run_id: int) -> bool:
    return bool(connection.execute(select(runs.c.cancel_requested).where(runs.c.id == run_id)).scalar())


# --- steps -------------------------------------------------------------------------


def update_step(connection: Connection, run_id: int, step_id: str, attempt: int, values: dict[str, Any]) -> None:
    """Set `values` on one attempt's row, creating the row for a new attempt."""
    run_changed(connection, run_id)  # rolled back with the transaction if this fails
    result = connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.step_id == step_id, steps.c.attempt == attempt)
        .values(values)
    )
    if result.rowcount:
        return
    position = connection.execute(
        select(steps.c.position).where(steps.c.run_id == run_id, steps.c.step_id == step_id).limit(1)
    ).scalar()
    if position is None:
        raise StoreError(f"run {run_id} has no step {step_id!r}")
    connection.execute(insert(steps).values({**_new_step(run_id, step_id, position, attempt), **values}))


def update_latest_step(connection: Connection, run_id: int, step_id: str, values: dict[str, Any]) -> None:
    latest = connection.execute(
        select(func.max(steps.c.attempt)).where(steps.c.run_id == run_id, steps.c.step_id == step_id)
    ).scalar()
    if latest is None:
        raise StoreError(f"run {run_id} has no step {step_id!r}")
    update_step(connection, run_id, step_id, latest, values)


# --- reading -------------------------------------------------------------------------


def get_run(connection: Connection, run_id: int) -> RunRecord | None:
    row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        return None
    return _run_records(connection, [row])[0]


def list_runs(
    connection: Connection,
    *,
    workflow: str | None,
    status: str | None,
    limit: int,
    event: str | None = None,
    branch: str | None = None,
    repository: str | None = None,
    before: int | None = None,
) -> list[RunRecord]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(runs.c.id < before)
    if event is not None:
        query = query.where(runs.c.event_name == event)
    if branch is not None:
        query = query.where(runs.c.branch == branch)
    if repository is not None:
        query = query.where(runs.c.repository == repository)
    if workflow is not None:
        query = query.where(or_(runs.c.workflow_path == workflow, runs.c.workflow_name == workflow))
    if status is not None:
        check_run_status(status)
        query = query.where(runs.c.status == status)
    return _run_records(connection, connection.execute(query).all())


def _run_records(connection: Connection, rows: Sequence[Row[Any]]) -> list[RunRecord]:
    attempts: dict[int, list[StepRecord]] = {row.id: [] for row in rows}
    if attempts:
        step_rows = connection.execute(
            select(steps)
            .where(steps.c.run_id.in_(list(attempts)))
            .order_by(steps.c.run_id, steps.c.position, steps.c.attempt)
        )
        for step_row in step_rows:
            attempts[step_row.run_id].append(_step_record(step_row))
    return [_run_record(row, attempts[row.id]) for row in rows]


def _run_record(row: Row[Any], attempts: list[StepRecord]) -> RunRecord:
    return RunRecord(
        id=row.id,
        workflow_id=row.workflow_id,
        workflow_path=row.workflow_path,
        workflow_name=row.workflow_name,
        status=row.status,
        event_name=row.event_name,
        event=row.event,
        inputs=row.inputs,
        plan=with_added_keys(row.plan),
        attempt=row.attempt,
        parent_run_id=row.parent_run_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        owner=row.owner,
        cancel_requested=bool(row.cancel_requested),
        steps=tuple(_latest(attempts)),
        attempts=tuple(attempts),
        repository=row.repository,
        sha=row.sha,
        ref=row.ref,
        branch=row.branch,
        delivery_id=row.delivery_id,
        queued_at=row.queued_at,
        concurrency_group=row.concurrency_group,
        runs_on=tuple(row.runs_on or ()),
        max_attempts=row.max_attempts,
    )


def _latest(attempts: Iterable[StepRecord]) -> list[StepRecord]:
    # Rows come in (position, attempt) order: a step keeps its first place and its last attempt.
    latest: dict[str, StepRecord] = {}
    for record in attempts:
        latest[record.id] = record
    return list(latest.values())


def _step_record(row: Row[Any]) -> StepRecord:
    return StepRecord(
        id=row.step_id,
        attempt=row.attempt,
        status=row.status,
        exit_code=row.exit_code,
        outputs=row.outputs,
        error=row.error,
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        reused=bool(row.reused),
        extra=row.extra,
    )
