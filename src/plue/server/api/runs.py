"""`/api/runs`: list, view, logs, cancel, rerun."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from plue.runners.local import reusable_steps
from plue.server.api import models
from plue.server.api.shaping import ordered_plan_steps, run_detail, run_summary
from plue.server.api.state import StateDep, get_store, not_found, wake_workers
from plue.server.auth import require
from plue.store import RunRecord, Store
from plue.store.records import NewRun

router = APIRouter(prefix="/runs", tags=["runs"])

UNFINISHED = ("queued", "running")
MAX_PAGE = 200
MAX_LOG_PAGE = 10_000

StoreDep = Annotated[Store, Depends(get_store)]


def load_run(store: Store, run_id: int) -> RunRecord:
    run = store.get_run(run_id)
    if run is None:
        raise not_found(f"no run {run_id}")
    return run


@router.get("", response_model=models.RunList, dependencies=[Depends(require("read"))])
def list_runs(
    store: StoreDep,
    workflow: Annotated[str | None, Query(description="a workflow's path or name")] = None,
    status: str | None = None,
    event: str | None = None,
    branch: str | None = None,
    repository: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[int | None, Query(ge=1, description="the `next` of the previous page")] = None,
) -> models.RunList:
    """Runs, newest first, a page at a time."""
    runs = store.list_runs(
        workflow=workflow,
        status=status,
        event=event,
        branch=branch,
        repository=repository,
        limit=limit + 1,
        before=before,
    )
    page = runs[:limit]
    following = page[-1].id if len(runs) > limit else None
    return models.RunList.model_validate({"runs": [run_summary(run) for run in page], "next": following})


@router.get("/{run_id}", response_model=models.RunDetail, dependencies=[Depends(require("read"))])
def get_run(run_id: int, store: StoreDep) -> models.RunDetail:
    """One run: its steps (every attempt), outputs and LLM usage."""
    found = store.get_run_with_usage(run_id)
    if found is None:
        raise not_found(f"no run {run_id}")
    return models.RunDetail.model_validate(run_detail(*found))


@router.get("/{run_id}/logs", response_model=models.LogPage, dependencies=[Depends(require("read"))])
def get_logs(
    run_id: int,
    store: StoreDep,
    after: Annotated[int, Query(ge=0, description="the `next` of the previous page (0: from the start)")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = 1000,
    step: str | None = None,
) -> models.LogPage:
    """Log lines after the cursor, in the order they were stored. Poll with `next` to follow a run."""
    run = load_run(store, run_id)
    if step is not None and step not in {str(spec["id"]) for spec in ordered_plan_steps(run)}:
        raise not_found(f"run {run_id} has no step {step!r}")
    records = store.read_logs(run_id, step_id=step, after=after, limit=limit)
    return models.LogPage(
        lines=[models.LogLine.model_validate(record.to_json()) for record in records],
        next=records[-1].id if records else after,
        run_status=run.status,
    )


@router.post("/{run_id}/cancel", response_model=models.CancelResult, dependencies=[Depends(require("write"))])
def cancel_run(run_id: int, store: StoreDep) -> models.CancelResult:
    """Ask for the run to be cancelled: a queued run never starts, a running one is stopped."""
    load_run(store, run_id)
    if not store.request_cancel(run_id):
        status = load_run(store, run_id).status
        raise HTTPException(409, f"run {run_id} has already finished ({status}); there is nothing to cancel")
    run = load_run(store, run_id)
    return models.CancelResult(id=run_id, cancel_requested=True, status=run.status)


@router.post(
    "/{run_id}/rerun", response_model=models.QueuedRun, status_code=201, dependencies=[Depends(require("write"))]
)
def rerun(
    run_id: int,
    state: StateDep,
    failed: Annotated[bool, Query(description="run again only the steps that did not succeed")] = False,
) -> models.QueuedRun:
    """Queue a new run of the same plan, event and inputs (attempt + 1); with `failed`, the steps that
    succeeded (and whose upstream steps did) are taken over, not run again."""
    store = state.store
    old = load_run(store, run_id)
    if old.status in UNFINISHED:
        raise HTTPException(409, f"run {run_id} is still {old.status}; cancel it first or wait for it to finish")
    new = NewRun.from_plan(
        old.workflow_path,
        old.plan,
        event_name=old.event_name,
        event=old.event,
        inputs=old.inputs,
        repository=old.repository,
        sha=old.sha,
        ref=old.ref,
        branch=old.branch,
    )
    taken_over = reusable_steps(old) if failed else {}
    reuse = {step_id: (item.outputs, item.exit_code) for step_id, item in taken_over.items()}
    new_id = store.enqueue(new, parent_run_id=old.id, reuse=reuse)
    wake_workers(state)
    return models.QueuedRun(id=new_id, status="queued", parent_run_id=old.id)
