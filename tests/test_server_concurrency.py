"""Concurrency groups with the server's workers: a group's runs never overlap, other runs pass a waiting
one, a newer run supersedes a queued one, and cancel-in-progress stops the running one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest_support import Upstream, push_payload
from test_server_ingest import Harness, harness
from test_server_workers import Finished, config, fifo, finished, pool, store, upstream

from plue import Plan, Step
from plue.engine import RunStatus
from plue.server.api.shaping import run_summary
from plue.server.workers import WorkerPool
from plue.store import NewRun, Store

__all__ = ["config", "finished", "harness", "pool", "store", "upstream"]  # fixtures

DEPLOY = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    branch = ctx.event.branch if ctx.event else "none"
    return Plan(
        "Deploy",
        steps=[Step.bash("deploy", "./deploy.sh")],
        triggers=[Trigger.on_push(branch="main")],
        concurrency={"group": "deploy-" + branch, "cancel_in_progress": True},
    )
"""


def run_of(cmd: str, concurrency: Any = None) -> NewRun:
    plan = Plan("Deploy", steps=[Step.bash("deploy", cmd)], concurrency=concurrency).to_data()
    return NewRun.from_plan("deploy.plue.py", plan, event_name="manual", event=None, inputs={})


def started_and_finished(store: Store, run_id: int) -> tuple[float, float]:
    run = store.get_run(run_id)
    assert run is not None and run.started_at is not None and run.finished_at is not None
    return run.started_at, run.finished_at


def test_a_groups_runs_wait_their_turn_and_the_newest_waiting_one_wins(
    store: Store, pool: WorkerPool, finished: Finished, tmp_path: Path
) -> None:
    started, go = fifo(tmp_path / "started"), fifo(tmp_path / "go")
    first = store.enqueue(run_of(f"echo up > {started}; read line < {go}; echo first", "deploy"))
    pool.start()  # two workers
    pool.wake()
    assert started.read_text() == "up\n"  # blocks until the first run is running

    superseded = store.enqueue(run_of("echo superseded", "deploy"))
    unrelated = store.enqueue(run_of("echo unrelated"))
    pool.wake()
    assert finished.wait_for(1) == {unrelated: RunStatus.SUCCESS}  # the idle worker passed the waiting run
    waiting = store.enqueue(run_of("echo latest", "deploy"))
    pool.wake()
    waiting_run, superseded_run = store.get_run(waiting), store.get_run(superseded)
    assert waiting_run is not None and waiting_run.status == "queued"
    assert superseded_run is not None
    assert (superseded_run.status, superseded_run.error) == ("cancelled", f"superseded by run {waiting}")

    go.write_text("go\n")
    statuses = finished.wait_for(3)

    assert statuses == {first: RunStatus.SUCCESS, unrelated: RunStatus.SUCCESS, waiting: RunStatus.SUCCESS}
    assert started_and_finished(store, waiting)[0] >= started_and_finished(store, first)[1]
    assert [log.text for log in store.read_logs(waiting)] == ["latest"]
    assert store.read_logs(superseded) == []


def test_cancel_in_progress_stops_the_running_run_for_the_new_one(
    store: Store, pool: WorkerPool, finished: Finished, tmp_path: Path
) -> None:
    group = {"group": "deploy-main", "cancel_in_progress": True}
    started = fifo(tmp_path / "started")
    first = store.enqueue(run_of(f"echo up > {started}; sleep 600", group))
    pool.start()
    pool.wake()
    assert started.read_text() == "up\n"

    second = store.enqueue(run_of("echo second", group))
    pool.wake()
    statuses = finished.wait_for(2)

    assert statuses == {first: RunStatus.CANCELLED, second: RunStatus.SUCCESS}
    first_run = store.get_run(first)
    assert first_run is not None and [step.status for step in first_run.steps] == ["cancelled"]
    assert started_and_finished(store, second)[0] >= started_and_finished(store, first)[1]
    second_run = store.get_run(second)
    assert second_run is not None and second_run.concurrency_group == "deploy-main"


def test_pushes_queue_runs_of_the_plans_group_and_the_newest_supersedes(harness: Harness, upstream: Upstream) -> None:
    first_sha = upstream.push({"deploy.plue.py": DEPLOY})
    first = harness.handle("push", "d-1", push_payload(upstream.name, first_sha))
    second_sha = upstream.push({"README": "again\n"})
    second = harness.handle("push", "d-2", push_payload(upstream.name, second_sha))

    [first_id], [second_id] = first.run_ids, second.run_ids
    first_run, second_run = harness.store.get_run(first_id), harness.store.get_run(second_id)
    assert first_run is not None and second_run is not None
    assert (first_run.status, first_run.error) == ("cancelled", f"superseded by run {second_id}")
    assert (second_run.status, second_run.concurrency_group, second_run.sha) == ("queued", "deploy-main", second_sha)
    assert second_run.plan["concurrency"] == {"group": "deploy-main", "cancel_in_progress": True}
    assert run_summary(second_run)["concurrency_group"] == "deploy-main"  # the API shows it
