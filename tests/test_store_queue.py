"""The run queue and schedule ticks: enqueue, claim (once per run, across processes), filters, ticks fired once."""

from __future__ import annotations

import os
from typing import Any

import pytest
from test_store_support import PLAN, STEP_IDS, db_url, new_run, run_python, start_all, store

from plue.store import NewRun, Store, StoreError, process_owner
from plue.store.queue import CANCELLED_WHILE_QUEUED
from plue.store.recovery import hostname

__all__ = ["db_url", "store"]  # fixtures


def queued(name: str = "CI", **kwargs: Any) -> NewRun:
    values: dict[str, Any] = {
        "workflow_path": f"{name.lower()}.plue.py",
        "workflow_name": name,
        "content_hash": "1" * 64,
        "plan": {**PLAN, "name": name},
        "event_name": "push",
        "event": {"ref": "refs/heads/main"},
        "inputs": {},
        "repository": "octo/hello",
        "sha": "a" * 40,
        "ref": "refs/heads/main",
        "branch": "main",
    }
    return NewRun(**{**values, **kwargs})


def test_enqueued_runs_are_claimed_oldest_first(store: Store) -> None:
    first = store.enqueue(queued())
    second = store.enqueue(queued("Nightly", event_name="schedule", branch=None, ref=None))
    waiting = store.get_run(first)
    assert waiting is not None
    assert (waiting.status, waiting.repository, waiting.sha, waiting.branch) == (
        "queued",
        "octo/hello",
        "a" * 40,
        "main",
    )
    assert waiting.queued_at is not None and waiting.started_at is None
    assert [step.status for step in waiting.steps] == ["pending"] * 3

    owner = process_owner(worker="worker-1")
    claimed = store.claim_run(owner)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.owner) == (first, "running", owner)
    assert claimed.started_at is not None and [step.id for step in claimed.steps] == STEP_IDS
    again = store.claim_run(owner)
    assert again is not None and (again.id, again.workflow_name, again.ref) == (second, "Nightly", None)
    assert store.claim_run(owner) is None


def test_a_claimed_run_is_finished_like_any_other(store: Store) -> None:
    run_id = store.enqueue(queued())
    claimed = store.claim_run(process_owner(worker="worker-1"))
    assert claimed is not None and claimed.id == run_id
    with pytest.raises(StoreError, match="only a queued run can start"):
        store.start_run(run_id)
    store.finish_run(run_id, "success", None, at=2.0)
    finished = store.get_run(run_id)
    assert finished is not None and finished.status == "success"


def test_an_enqueued_rerun_has_the_next_attempt(store: Store) -> None:
    first = store.enqueue(queued())
    rerun = store.enqueue(queued(), parent_run_id=first)
    run = store.get_run(rerun)
    assert run is not None and (run.attempt, run.parent_run_id) == (2, first)


def test_a_run_cancelled_while_queued_is_never_claimed(store: Store) -> None:
    cancelled = store.enqueue(queued())
    waiting = store.enqueue(queued())
    assert store.request_cancel(cancelled) is True
    claimed = store.claim_run(process_owner(worker="worker-1"))
    assert claimed is not None and claimed.id == waiting
    run = store.get_run(cancelled)
    assert run is not None
    assert (run.status, run.error, run.owner) == ("cancelled", CANCELLED_WHILE_QUEUED, None)
    assert run.finished_at is not None
    assert {(step.status, step.reason) for step in run.steps} == {("cancelled", CANCELLED_WHILE_QUEUED)}
    assert store.claim_run(process_owner(worker="worker-1")) is None


def test_worker_owners_are_recovered_by_their_process(store: Store) -> None:
    alive = store.enqueue(queued())
    dead = store.enqueue(queued())
    assert store.claim_run(process_owner(worker="worker-2")) is not None
    dead_owner = f"{hostname()}:{2**22 + 12345}:5/worker-1"  # above pid_max: no such process
    assert store.claim_run(dead_owner) is not None
    assert store.recover_interrupted() == [dead]
    statuses = {run.id: (run.status, run.owner) for run in store.list_runs()}
    assert statuses == {alive: ("running", process_owner(worker="worker-2")), dead: ("interrupted", dead_owner)}


def test_process_owner_with_a_worker_suffix() -> None:
    assert process_owner(worker="worker-3") == f"{process_owner()}/worker-3"
    assert process_owner(os.getpid(), worker="w").startswith(f"{hostname()}:{os.getpid()}:")


def test_list_runs_filters_by_event_branch_repository_and_pages(store: Store) -> None:
    local = new_run(store, start=False)  # no repository, event push
    main_push = store.enqueue(queued())
    feature_pr = store.enqueue(queued(event_name="pull_request", branch="feature", ref="refs/pull/1/merge"))
    other_repo = store.enqueue(queued(repository="octo/other"))

    def ids(**filters: Any) -> list[int]:
        return [run.id for run in store.list_runs(**filters)]

    assert ids() == [other_repo, feature_pr, main_push, local]
    assert ids(event="push") == [other_repo, main_push, local]
    assert ids(event="pull_request") == [feature_pr]
    assert ids(branch="main") == [other_repo, main_push]
    assert ids(repository="octo/hello") == [feature_pr, main_push]
    assert ids(repository="octo/hello", branch="main", event="push") == [main_push]
    assert ids(repository="nobody/nothing") == []
    assert ids(limit=2) == [other_repo, feature_pr]
    assert ids(limit=2, before=feature_pr) == [main_push, local]
    assert ids(before=local) == []
    assert ids(before=other_repo, event="push") == [main_push, local]


# --- schedules ------------------------------------------------------------------------------


def test_a_schedule_tick_fires_once(store: Store) -> None:
    key = "octo/hello:nightly.plue.py:0"
    assert store.last_schedule_tick(key) is None
    assert store.fire_schedule(key, 1000.0) is True
    assert store.fire_schedule(key, 1000.0) is False
    assert store.fire_schedule(key, 4600.0) is True
    assert store.fire_schedule("another schedule", 1000.0) is True
    assert store.last_schedule_tick(key) == 4600.0


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
        assert run.owner == owner and run.status == "running"
        claimed.append(run.id)
    print(" ".join(map(str, claimed)), flush=True)
"""

FIRER = """
import sys
from plue.store import Store

with Store.open(url=sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    fired = [tick for tick in range(20) if store.fire_schedule("nightly", float(tick))]
    print(" ".join(map(str, fired)), flush=True)
"""


def test_four_processes_claim_each_run_exactly_once(db_url: str) -> None:
    with Store.open(url=db_url) as opened:
        run_ids = [opened.enqueue(queued()) for _ in range(200)]
    outputs = start_all([run_python(CLAIMER, db_url, f"worker-{index}") for index in range(4)])
    claims = [[int(word) for word in out.split()] for out in outputs]
    everything = [run_id for claimed in claims for run_id in claimed]
    assert sorted(everything) == run_ids  # each run once, none twice, none left
    for claimed in claims:
        assert claimed == sorted(claimed)  # each claimer takes the oldest queued run
    with Store.open(url=db_url) as opened:  # which marks the runs of the exited claimers interrupted
        runs = {run.id: run for run in opened.list_runs(limit=1000)}
    assert {run.status for run in runs.values()} == {"interrupted"}
    for index, claimed in enumerate(claims):
        # A loaded machine may let one claimer take nothing; what it took is recorded as its own.
        owners = {runs[run_id].owner for run_id in claimed}
        assert all(owner is not None and owner.endswith(f"/worker-{index}") for owner in owners)


def test_four_processes_fire_each_tick_once(db_url: str) -> None:
    with Store.open(url=db_url):
        pass  # migrated once here
    outputs = start_all([run_python(FIRER, db_url) for _ in range(4)])
    fired = [int(word) for out in outputs for word in out.split()]
    assert sorted(fired) == list(range(20))
    with Store.open(url=db_url) as opened:
        assert opened.last_schedule_tick("nightly") == 19.0


def test_a_tick_and_its_run_are_stored_together_once(store: Store) -> None:
    run = queued()
    first = store.fire_schedule_run("nightly", 120.0, run)
    assert first is not None
    assert store.fire_schedule_run("nightly", 120.0, run) is None  # fired already: nothing more queued
    assert store.last_schedule_tick("nightly") == 120.0
    assert [r.id for r in store.list_runs(limit=10)] == [first]
    fired = store.get_run(first)
    assert fired is not None and fired.status == "queued"
