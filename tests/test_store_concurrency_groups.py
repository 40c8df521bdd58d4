"""Concurrency groups in the run queue: one running run per group, in queue order; newer queued runs
supersede older ones; cancel-in-progress; on SQLite and PostgreSQL, and across processes."""

from __future__ import annotations

from typing import Any

from test_store_queue import queued
from test_store_support import db_url, run_python, start_all, store

from plue.plan import content_hash
from plue.store import NewDelivery, NewRun, Store, process_owner
from plue.store import runs as run_queries
from plue.store.queue import CANCELLED_WHILE_QUEUED

__all__ = ["db_url", "store"]  # fixtures

OWNER = process_owner(worker="worker-1")


def grouped(group: str | None, *, cancel: bool = False, name: str = "Deploy") -> NewRun:
    return queued(name, concurrency_group=group, cancel_in_progress=cancel)


def claimed_id(store: Store) -> int | None:
    run = store.claim_run(OWNER)
    return None if run is None else run.id


def status(store: Store, run_id: int) -> tuple[str, str | None]:
    run = store.get_run(run_id)
    assert run is not None
    return run.status, run.error


def test_a_group_runs_one_run_at_a_time_and_others_pass(store: Store) -> None:
    first = store.enqueue(grouped("deploy"))
    assert claimed_id(store) == first
    waiting = store.enqueue(grouped("deploy"))
    free = store.enqueue(grouped(None, name="Lint"))
    other_group = store.enqueue(grouped("docs"))

    assert claimed_id(store) == free  # `waiting` is older, but its group is busy
    assert claimed_id(store) == other_group
    assert claimed_id(store) is None
    assert status(store, waiting) == ("queued", None)

    store.finish_run(first, "success", None, at=2.0)
    assert claimed_id(store) == waiting  # the group is free again
    run = store.get_run(waiting)
    assert run is not None and run.concurrency_group == "deploy" and run.owner == OWNER


def test_a_newer_queued_run_supersedes_the_older_one(store: Store) -> None:
    running = store.enqueue(grouped("deploy"))
    assert claimed_id(store) == running
    older = store.enqueue(grouped("deploy"))
    unrelated = store.enqueue(grouped("docs"))
    newer = store.enqueue(grouped("deploy"))

    run = store.get_run(older)
    assert run is not None
    assert (run.status, run.error) == ("cancelled", f"superseded by run {newer}")
    assert run.finished_at is not None and run.started_at is None
    assert {(step.status, step.reason) for step in run.steps} == {("cancelled", f"superseded by run {newer}")}
    assert status(store, running) == ("running", None)  # not cancelled: no cancel_in_progress
    running_run = store.get_run(running)
    assert running_run is not None and running_run.cancel_requested is False
    assert status(store, unrelated) == ("queued", None)
    assert status(store, newer) == ("queued", None)

    assert claimed_id(store) == unrelated
    store.finish_run(running, "success", None, at=2.0)
    assert claimed_id(store) == newer
    assert claimed_id(store) is None


def test_cancel_in_progress_asks_the_running_run_to_stop(store: Store) -> None:
    running = store.enqueue(grouped("deploy", cancel=True))
    other = store.enqueue(grouped("docs", cancel=True))
    assert claimed_id(store) == running
    assert claimed_id(store) == other

    newer = store.enqueue(grouped("deploy", cancel=True))

    assert store.cancel_requested(running) is True
    assert store.cancel_requested(other) is False  # another group
    assert claimed_id(store) is None  # still running until its executor stops it
    store.finish_run(running, "cancelled", "cancelled", at=2.0)
    assert claimed_id(store) == newer


def test_a_cancel_requested_while_the_group_is_busy_is_applied(store: Store) -> None:
    running = store.enqueue(grouped("deploy"))
    assert claimed_id(store) == running
    waiting = store.enqueue(grouped("deploy"))
    assert store.request_cancel(waiting) is True

    assert claimed_id(store) is None
    assert status(store, waiting) == ("cancelled", CANCELLED_WHILE_QUEUED)


def test_a_delivery_queues_grouped_runs_and_supersedes(store: Store) -> None:
    before = store.enqueue(grouped("deploy"))
    delivery, created = store.record_delivery(
        NewDelivery(
            "d-1",
            event="push",
            action=None,
            repository="octo/hello",
            payload={},
            outcome="queued",
            reason=None,
            runs=(grouped("deploy"), grouped("docs"), grouped(None, name="Lint")),
            received_at=1.0,
        )
    )
    assert created
    deploy, docs, lint = delivery.run_ids
    assert status(store, before) == ("cancelled", f"superseded by run {deploy}")
    groups = {run_id: run.concurrency_group for run_id in delivery.run_ids if (run := store.get_run(run_id))}
    assert groups == {deploy: "deploy", docs: "docs", lint: None}


def test_new_run_from_plan_takes_the_group_from_the_plan() -> None:
    from plue import Plan, Step

    plan = Plan("Deploy", steps=[Step.bash("a", "b")], concurrency={"group": "prod", "cancel_in_progress": True})
    data = plan.to_data()
    run = NewRun.from_plan("deploy.plue.py", data, event_name="manual", event=None, inputs={})
    assert (run.workflow_name, run.content_hash) == ("Deploy", content_hash(data))
    assert (run.concurrency_group, run.cancel_in_progress) == ("prod", True)
    plain = NewRun.from_plan("x.plue.py", Plan("X", steps=[Step.bash("a", "b")]).to_data(), **NO_EVENT)
    assert (plain.concurrency_group, plain.cancel_in_progress) == (None, False)
    before = {key: value for key, value in data.items() if key != "concurrency"}  # a plan stored earlier
    assert NewRun.from_plan("old.plue.py", before, **NO_EVENT).concurrency_group is None


NO_EVENT: dict[str, Any] = {"event_name": "manual", "event": None, "inputs": {}}


def test_a_plan_stored_before_concurrency_existed_reads_back_current(store: Store) -> None:
    from plue import Plan, Step
    from plue.validation import validate_plan

    current = Plan("Old", steps=[Step.bash("a", "b")]).to_data()
    stored = {key: value for key, value in current.items() if key != "concurrency"}
    run_id = store.enqueue(NewRun("old.plue.py", "Old", content_hash(stored), stored, **NO_EVENT))
    run = store.get_run(run_id)
    assert run is not None and run.plan == current and validate_plan(run.plan) == []


# --- several processes ------------------------------------------------------------------------

CLAIMER = """
import sys
from plue.store import Store, process_owner

with Store.open(url=sys.argv[1]) as store:
    owner = process_owner(worker=sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    claimed = []
    while (run := store.claim_run(owner)) is not None:
        claimed.append(run.id)
    print(" ".join(map(str, claimed)), flush=True)
"""

ENQUEUER = """
import json, sys
from plue.store import NewRun, Store

with Store.open(url=sys.argv[1]) as store:
    plan = {"name": "Deploy", "steps": [{"id": "a"}], "triggers": []}
    run = NewRun("deploy.plue.py", "Deploy", "1" * 64, plan, "push", None, {}, concurrency_group="deploy")
    print("ready", flush=True)
    sys.stdin.readline()
    print(" ".join(str(store.enqueue(run)) for _ in range(int(sys.argv[2]))), flush=True)
"""


def test_four_claimers_never_run_two_runs_of_a_group(db_url: str) -> None:
    with Store.open(url=db_url) as opened:
        free = [opened.enqueue(queued()) for _ in range(40)]
        workflow_id = opened.upsert_workflow("deploy.plue.py", "Deploy", "1" * 64, queued().plan)
        # Several queued runs per group, as enqueue would never leave them: only the claim guards the group.
        grouped_ids: dict[str, list[int]] = {}
        with opened._write() as connection:
            for index in range(40):
                group = f"group-{index % 4}"
                run_id = run_queries.create_run(
                    connection,
                    workflow_id=workflow_id,
                    plan=queued().plan,
                    event_name="push",
                    event=None,
                    inputs={},
                    parent_run_id=None,
                    concurrency_group=group,
                )
                grouped_ids.setdefault(group, []).append(run_id)
    outputs = start_all([run_python(CLAIMER, db_url, f"worker-{index}") for index in range(4)])
    claimed = [int(word) for out in outputs for word in out.split()]
    assert len(claimed) == len(set(claimed))
    assert sorted(set(claimed) & set(free)) == free  # every run without a group
    for ids in grouped_ids.values():  # one run of each group (its oldest), as none of them finished
        assert set(claimed) & set(ids) == {ids[0]}


def test_concurrent_enqueuers_leave_one_queued_run_per_group(db_url: str) -> None:
    with Store.open(url=db_url):
        pass  # migrated once here
    outputs = start_all([run_python(ENQUEUER, db_url, "10") for _ in range(4)])
    queued_ids = sorted(int(word) for out in outputs for word in out.split())
    assert len(queued_ids) == 40
    with Store.open(url=db_url) as opened:
        runs = {run.id: run for run in opened.list_runs(limit=100)}
    newest = queued_ids[-1]
    assert [run_id for run_id, run in runs.items() if run.status == "queued"] == [newest]
    for run_id in queued_ids[:-1]:  # each superseded by a later run
        run = runs[run_id]
        assert run.status == "cancelled" and run.error is not None
        superseder = int(run.error.removeprefix("superseded by run "))
        assert superseder > run_id
