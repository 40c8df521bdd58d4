"""Runner agents in the store, on SQLite and PostgreSQL: registration, heartbeats, drains, label matching,
capacity, claims (exactly once across processes), fenced idempotent event batches, and the reaper of lost
runners (the run queued again as a new attempt that keeps the first one's steps and log lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from test_store_support import PLAN, db_url, run_python, start_all, store

from plue.store import (
    BatchRefused,
    NewRun,
    RunnerDraining,
    RunnerGone,
    RunnerRecord,
    Store,
    migrate,
    process_owner,
    runner_owner,
)
from plue.store.records import ReusedStep

__all__ = ["db_url", "store"]  # fixtures

T0 = 1_000_000.0  # the clock of these tests: every call passes `at`


def queued(runs_on: tuple[str, ...] = (), max_attempts: int = 2, **kwargs: Any) -> NewRun:
    values: dict[str, Any] = {
        "workflow_path": "ci.plue.py",
        "workflow_name": "CI",
        "content_hash": "1" * 64,
        "plan": PLAN,
        "event_name": "push",
        "event": None,
        "inputs": {},
        "repository": "octo/hello",
        "sha": "a" * 40,
        "runs_on": runs_on,
        "max_attempts": max_attempts,
    }
    return NewRun(**{**values, **kwargs})


def register(store: Store, name: str = "r1", labels: tuple[str, ...] = ("linux",), **kwargs: Any) -> RunnerRecord:
    host = {"hostname": "box", "os": "Linux", "arch": "x86_64", "python": "3.11", "cpus": 2}
    return store.register_runner(name, list(labels), "0.1.0", host, kwargs.pop("capacity", 1), at=T0, **kwargs)


def step_logs(step_id: str, attempt: int, *seqs: int) -> dict[str, Any]:
    return {
        "type": "step_logs",
        "lines": [[step_id, attempt, seq, "stdout", T0 + seq, f"{step_id} #{attempt} line {seq}"] for seq in seqs],
    }


def started(step_id: str, attempt: int = 1) -> dict[str, Any]:
    return {"type": "step_started", "step_id": step_id, "attempt": attempt, "at": T0 + 1}


def finished(step_id: str, attempt: int = 1, status: str = "success", **extra: Any) -> dict[str, Any]:
    return {
        "type": "step_finished",
        "step_id": step_id,
        "attempt": attempt,
        "status": status,
        "started_at": T0 + 1,
        "finished_at": T0 + 2,
        "exit_code": 0 if status == "success" else 1,
        "outputs": {"built": step_id},
        "error": None if status == "success" else "boom",
        "will_retry": False,
        "extra": extra,
    }


def run_finished(status: str = "success") -> dict[str, Any]:
    return {"type": "run_finished", "status": status, "at": T0 + 3, "error": None}


# --- the plan's needs --------------------------------------------------------------------------------------


def test_a_new_run_takes_its_labels_and_max_attempts_from_the_plan() -> None:
    plan = {
        **PLAN,
        "runs_on": ["linux"],
        "max_attempts": 3,
        "steps": [{**PLAN["steps"][0], "runs_on": ["gpu", "linux"]}, *PLAN["steps"][1:]],
    }
    run = NewRun.from_plan("ci.plue.py", plan, event_name=None, event=None, inputs={})
    assert (run.runs_on, run.max_attempts) == (("gpu", "linux"), 3)
    old = NewRun.from_plan("ci.plue.py", PLAN, event_name=None, event=None, inputs={})  # a plan from before
    assert (old.runs_on, old.max_attempts) == ((), 2)
    odd = NewRun.from_plan(
        "ci.plue.py", {**PLAN, "max_attempts": True, "runs_on": "gpu"}, event_name=None, event=None, inputs={}
    )
    assert (odd.runs_on, odd.max_attempts) == ((), 2)


def test_a_queued_run_keeps_its_labels(store: Store) -> None:
    labelled = store.enqueue(queued(("linux", "gpu"), max_attempts=3))
    plain = store.enqueue(queued())
    run = store.get_run(labelled)
    assert run is not None and (run.runs_on, run.max_attempts) == (("gpu", "linux"), 3)
    run = store.get_run(plain)
    assert run is not None and (run.runs_on, run.max_attempts) == ((), 2)


# --- registration, heartbeats, drains ------------------------------------------------------------------------


def test_register_heartbeat_list_drain_and_leave(store: Store) -> None:
    runner = register(store, labels=("linux", "gpu", "linux"), pool="warm", token_name="runner:r1")
    assert (runner.status, runner.labels, runner.capacity, runner.pool, runner.drain) == (
        "idle",
        ("gpu", "linux"),
        1,
        "warm",
        False,
    )
    assert (runner.registered_at, runner.last_heartbeat, runner.idle_since, runner.current_runs) == (T0, T0, T0, ())
    assert runner.host["hostname"] == "box" and runner.token_name == "runner:r1"
    other = register(store, "r2")
    assert other.id != runner.id
    assert [item.id for item in store.list_runners()] == [runner.id, other.id]

    answer = store.runner_heartbeat(runner.id, [], at=T0 + 5)
    assert (answer.status, answer.cancel, answer.abort, answer.drain) == ("idle", [], [], False)
    refreshed = store.get_runner(runner.id)
    assert refreshed is not None and refreshed.last_heartbeat == T0 + 5

    assert store.drain_runner(runner.id) is True
    assert store.runner_heartbeat(runner.id, [], at=T0 + 6).drain is True
    with pytest.raises(RunnerDraining, match="draining"):
        store.claim_for_runner(runner.id, at=T0 + 6)

    assert store.deregister_runner(runner.id) == []
    assert [item.id for item in store.list_runners()] == [other.id]
    gone = {item.id: item.status for item in store.list_runners(include_gone=True)}
    assert gone == {runner.id: "offline", other.id: "idle"}
    assert store.drain_runner(runner.id) is False
    assert store.runner_heartbeat(runner.id, [7], at=T0 + 7).status == "offline"
    with pytest.raises(RunnerGone, match="offline"):
        store.claim_for_runner(runner.id)
    with pytest.raises(RunnerGone, match="register again"):
        store.runner_heartbeat("nobody", [])
    assert store.get_runner("nobody") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ("has space",)}, "not a runner label"),
        ({"labels": ("-dash",)}, "not a runner label"),
        ({"name": " "}, "name is a non-empty string"),
        ({"capacity": 0}, "capacity is a whole number"),
        ({"capacity": True}, "capacity is a whole number"),
    ],
)
def test_registration_refuses_bad_input(store: Store, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register(store, **change)
    assert store.list_runners(include_gone=True) == []


# --- claims ---------------------------------------------------------------------------------------------------


def test_a_claim_is_a_new_attempt_owned_by_the_runner(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(runner.id, at=T0 + 1)
    assert claim is not None
    assert (claim.run.id, claim.run.status, claim.run.owner, claim.attempt) == (
        run_id,
        "running",
        runner_owner(runner.id),
        1,
    )
    assert (claim.attempt_base, claim.reuse) == ({}, {})
    (attempt,) = store.attempts(run_id)
    assert (attempt.id, attempt.number, attempt.runner_id, attempt.runner_name, attempt.status) == (
        claim.attempt_id,
        1,
        runner.id,
        "r1",
        "running",
    )
    assert (attempt.claimed_at, attempt.acked_seq) == (T0 + 1, 0)
    busy = store.get_runner(runner.id)
    assert busy is not None and (busy.status, busy.current_runs, busy.idle_since, busy.last_claim_at) == (
        "busy",
        (run_id,),
        None,
        T0 + 1,
    )
    assert store.claim_for_runner(runner.id) is None  # capacity 1
    # The store's process recovery leaves runner-owned runs to the reaper.
    assert store.recover_interrupted() == []


def test_runs_are_claimed_only_by_runners_with_their_labels(store: Store) -> None:
    gpu_run = store.enqueue(queued(("gpu", "linux")))
    plain_run = store.enqueue(queued())
    linux = register(store, "linux-box", ("linux",))
    # The built-in workers never take a run that needs labels; a runner without gpu neither.
    claimed = store.claim_run(process_owner(worker="worker-1"))
    assert claimed is not None and claimed.id == plain_run
    assert store.claim_run(process_owner(worker="worker-1")) is None
    assert store.claim_for_runner(linux.id) is None
    gpu = register(store, "gpu-box", ("linux", "gpu", "cuda"))
    claim = store.claim_for_runner(gpu.id)
    assert claim is not None and claim.run.id == gpu_run


def test_a_runner_without_labels_takes_runs_that_need_none_in_queue_order(store: Store) -> None:
    store.enqueue(queued(("gpu",)))
    first = store.enqueue(queued())
    second = store.enqueue(queued())
    runner = register(store, labels=(), capacity=3)
    taken = [store.claim_for_runner(runner.id) for _ in range(3)]
    assert [claim.run.id if claim else None for claim in taken] == [first, second, None]


def test_capacity_bounds_running_attempts(store: Store) -> None:
    run_ids = [store.enqueue(queued()) for _ in range(3)]
    runner = register(store, capacity=2)
    first, second = store.claim_for_runner(runner.id), store.claim_for_runner(runner.id)
    assert first is not None and second is not None
    assert store.claim_for_runner(runner.id) is None
    store.apply_attempt_batch(first.attempt_id, 1, [run_finished()])
    third = store.claim_for_runner(runner.id)
    assert third is not None and [first.run.id, second.run.id, third.run.id] == run_ids


def test_claims_respect_concurrency_groups_and_queued_cancels(store: Store) -> None:
    deploy = {**PLAN, "concurrency": {"group": "deploy", "cancel_in_progress": False}}
    one = store.enqueue(queued(plan=deploy, concurrency_group="deploy"))
    runner = register(store, capacity=4)
    claim = store.claim_for_runner(runner.id)
    assert claim is not None and claim.run.id == one
    store.enqueue(queued(plan=deploy, concurrency_group="deploy"))  # waits for the group
    assert store.claim_for_runner(runner.id) is None
    cancelled = store.enqueue(queued(("gpu",)))  # no runner here has gpu...
    assert store.request_cancel(cancelled)
    assert store.claim_for_runner(runner.id) is None  # ...yet its cancel is applied by any claimer
    run = store.get_run(cancelled)
    assert run is not None and run.status == "cancelled"


def test_a_queued_labelled_run_cancelled_is_finished_by_the_builtin_workers_too(store: Store) -> None:
    cancelled = store.enqueue(queued(("gpu",)))
    store.request_cancel(cancelled)
    assert store.claim_run(process_owner(worker="worker-1")) is None
    run = store.get_run(cancelled)
    assert run is not None and run.status == "cancelled"


def test_queue_demand_counts_queued_runs_per_label_set(store: Store) -> None:
    store.enqueue(queued())
    store.enqueue(queued(("gpu",)))
    store.enqueue(queued(("gpu",)))
    store.enqueue(queued(("gpu", "linux")))
    store.request_cancel(store.enqueue(queued(("arm",))))
    assert store.queue_demand() == {(): 1, ("gpu",): 2, ("gpu", "linux"): 1}


# --- event batches -----------------------------------------------------------------------------------------------


def test_batches_are_stored_once_and_in_order(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(runner.id)
    assert claim is not None
    usage = {"llm": {"calls": [{"model": "claude", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01}]}}
    first = [
        {"type": "run_started", "at": T0},
        started("install"),
        step_logs("install", 1, 1, 2),
        finished("install", **usage),
    ]
    assert store.apply_attempt_batch(claim.attempt_id, 1, first).acked == 1
    again = store.apply_attempt_batch(claim.attempt_id, 1, first)  # the answer was lost: sent again
    assert (again.acked, again.fenced) == (1, False)
    assert [(line.step_id, line.seq) for line in store.read_logs(run_id)] == [("install", 1), ("install", 2)]
    assert len(store.llm_usage(run_id)) == 1
    gap = store.apply_attempt_batch(claim.attempt_id, 3, [run_finished()])
    assert (gap.acked, gap.fenced) == (1, False)  # batch 2 is missing: nothing done
    run = store.get_run(run_id)
    assert run is not None and run.status == "running"

    second = [
        {"type": "step_reused", "step_id": "test", "outputs": {"k": "v"}, "exit_code": 0, "at": T0 + 2},
        {"type": "step_skipped", "step_id": "build", "reason": "not needed", "at": T0 + 2, "status": "skipped"},
        run_finished(),
    ]
    assert store.apply_attempt_batch(claim.attempt_id, 2, second, at=T0 + 4).acked == 2
    run = store.get_run(run_id)
    assert run is not None
    assert run.status == "success"
    assert [(step.id, step.status, step.reused) for step in run.steps] == [
        ("install", "success", False),
        ("test", "success", True),
        ("build", "skipped", False),
    ]
    assert run.steps[0].outputs == {"built": "install"}
    (attempt,) = store.attempts(run_id)
    assert (attempt.status, attempt.acked_seq, attempt.ended_at) == ("success", 2, T0 + 4)
    idle = store.get_runner(runner.id)
    assert idle is not None and (idle.status, idle.current_runs) == ("idle", ())
    # The last batch again (its answer lost) is acked; anything after it is fenced: the attempt ended.
    assert store.apply_attempt_batch(claim.attempt_id, 2, second).fenced is False
    late = store.apply_attempt_batch(claim.attempt_id, 3, [step_logs("install", 1, 3)])
    assert late.fenced and late.reason is not None and "ended" in late.reason
    assert store.apply_attempt_batch(987654, 1, []).fenced
    assert store.apply_attempt_batch(2**40, 1, []).fenced  # beyond PostgreSQL's integers: no such attempt
    assert store.get_attempt(2**40) is None and store.attempts(2**40) == []


def test_a_batch_with_an_event_that_cannot_be_applied_stores_nothing(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(runner.id)
    assert claim is not None
    with pytest.raises(BatchRefused, match=r"event 1 \(step_started\): run \d+ has no step 'nope'"):
        store.apply_attempt_batch(claim.attempt_id, 1, [step_logs("install", 1, 1), started("nope")])
    with pytest.raises(BatchRefused, match="event 0"):
        store.apply_attempt_batch(claim.attempt_id, 1, [{"type": "run_finished", "status": "weird", "at": 1.0}])
    with pytest.raises(ValueError, match="seq"):
        store.apply_attempt_batch(claim.attempt_id, 0, [])
    assert store.read_logs(run_id) == []
    assert store.attempts(run_id)[0].acked_seq == 0


def test_heartbeats_relay_cancels_and_abort_what_the_runner_should_not_hold(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(runner.id, at=T0)
    assert claim is not None
    answer = store.runner_heartbeat(runner.id, [claim.attempt_id, 424242], at=T0 + 1)
    assert (answer.status, answer.cancel, answer.abort) == ("busy", [], [424242])
    store.request_cancel(run_id)
    answer = store.runner_heartbeat(runner.id, [claim.attempt_id], at=T0 + 2)
    assert answer.cancel == [claim.attempt_id]


def test_an_attempt_the_runner_does_not_hold_is_lost_after_a_grace(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(runner.id, at=T0)
    assert claim is not None
    # Just claimed: the answer may still be on its way to the runner.
    assert store.runner_heartbeat(runner.id, [], at=T0 + 5, orphan_after=30).status == "busy"
    assert store.attempts(run_id)[0].status == "running"
    assert store.runner_heartbeat(runner.id, [], at=T0 + 31, orphan_after=30).status == "idle"
    (attempt,) = store.attempts(run_id)
    assert attempt.status == "lost" and attempt.error is not None and "no longer had the run" in attempt.error
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.owner) == ("queued", None)


# --- lost runners ---------------------------------------------------------------------------------------------


def test_a_lost_runner_s_run_is_retried_as_a_new_attempt_keeping_the_first(store: Store) -> None:
    lost = register(store, "lost-one")
    run_id = store.enqueue(queued())
    claim = store.claim_for_runner(lost.id, at=T0)
    assert claim is not None
    batch = [started("install"), step_logs("install", 1, 1, 2), finished("install"), started("test")]
    assert store.apply_attempt_batch(claim.attempt_id, 1, [*batch, step_logs("test", 1, 1)], at=T0 + 2).acked == 1

    assert store.reap_lost_runners(30.0, at=T0 + 30) == []  # not silent long enough
    (gone,) = store.reap_lost_runners(30.0, at=T0 + 31)
    assert (gone.run_id, gone.attempt_id, gone.number, gone.runner_name, gone.requeued) == (
        run_id,
        claim.attempt_id,
        1,
        "lost-one",
        True,
    )
    assert store.reap_lost_runners(30.0, at=T0 + 32) == []  # idempotent
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.owner, run.error) == ("queued", None, None)
    assert [(step.id, step.status) for step in run.steps] == [
        ("install", "success"),
        ("test", "cancelled"),
        ("build", "cancelled"),
    ]
    assert run.steps[1].reason == "runner lost-one was lost"
    assert store.attempts(run_id)[0].status == "lost"

    # The lost runner comes back: told it is lost and to abort; its late reports are fenced.
    answer = store.runner_heartbeat(lost.id, [claim.attempt_id], at=T0 + 40)
    assert (answer.status, answer.abort) == ("lost", [claim.attempt_id])
    late = store.apply_attempt_batch(claim.attempt_id, 2, [step_logs("test", 1, 2), run_finished()])
    assert late.fenced and late.reason is not None and "lost" in late.reason
    with pytest.raises(RunnerGone):
        store.claim_for_runner(lost.id)

    other = register(store, "other")
    retry = store.claim_for_runner(other.id, at=T0 + 50)
    assert retry is not None
    assert (retry.run.id, retry.attempt) == (run_id, 2)
    assert retry.attempt_base == {"install": 1, "test": 1, "build": 1}
    assert retry.reuse == {"install": ReusedStep({"built": "install"}, 0)}
    second = [
        {"type": "step_reused", "step_id": "install", "outputs": {"built": "install"}, "exit_code": 0, "at": T0 + 51},
        started("test", 2),
        step_logs("test", 2, 1),
        finished("test", 2),
        started("build", 2),
        finished("build", 2),
        run_finished(),
    ]
    assert store.apply_attempt_batch(retry.attempt_id, 1, second).acked == 1
    run = store.get_run(run_id)
    assert run is not None and run.status == "success"
    assert [(step.id, step.attempt, step.status) for step in run.steps] == [
        ("install", 1, "success"),
        ("test", 2, "success"),
        ("build", 2, "success"),
    ]
    logs = [(line.step_id, line.attempt, line.seq) for line in store.read_logs(run_id)]
    assert logs == [("install", 1, 1), ("install", 1, 2), ("test", 1, 1), ("test", 2, 1)]
    assert [(item.number, item.status) for item in store.attempts(run_id)] == [(1, "lost"), (2, "success")]


def test_after_max_attempts_a_lost_run_fails(store: Store) -> None:
    run_id = store.enqueue(queued(max_attempts=2))
    for number, name in enumerate(["first", "second"], start=1):
        runner = register(store, name)
        claim = store.claim_for_runner(runner.id, at=T0)
        assert claim is not None and claim.attempt == number
        (gone,) = store.reap_lost_runners(10.0, at=T0 + 11)
        assert gone.requeued is (number < 2)
    run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.error) == ("failed", "runner second was lost (attempt 2 of 2)")
    assert {step.status for step in run.steps} == {"cancelled"}


def test_a_lost_run_whose_cancel_was_requested_ends_cancelled(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    assert store.claim_for_runner(runner.id, at=T0) is not None
    store.request_cancel(run_id)
    (gone,) = store.reap_lost_runners(10.0, at=T0 + 11)
    assert gone.requeued is False
    run = store.get_run(run_id)
    assert run is not None and run.status == "cancelled"


def test_a_runner_that_leaves_loses_its_attempts_at_once(store: Store) -> None:
    runner = register(store)
    run_id = store.enqueue(queued())
    assert store.claim_for_runner(runner.id, at=T0) is not None
    (gone,) = store.deregister_runner(runner.id, at=T0 + 1)
    assert gone.requeued and "left" in gone.reason
    run = store.get_run(run_id)
    assert run is not None and run.status == "queued"
    assert store.deregister_runner(runner.id) == []


def test_heartbeats_keep_a_runner_from_being_reaped(store: Store) -> None:
    runner = register(store)
    store.runner_heartbeat(runner.id, [], at=T0 + 25)
    assert store.reap_lost_runners(30.0, at=T0 + 40) == []
    assert store.runner_heartbeat(runner.id, [], at=T0 + 41).status == "idle"
    store.reap_lost_runners(30.0, at=T0 + 80)
    record = store.get_runner(runner.id)
    assert record is not None and record.status == "lost"
    assert store.list_runners() == []


# --- several processes --------------------------------------------------------------------------------------

RUNNER = """
import sys
from plue.store import Store

with Store.open(url=sys.argv[1]) as store:
    runner = store.register_runner(sys.argv[2], ["linux"], "0", {}, 1)
    print("ready", flush=True)
    sys.stdin.readline()
    claimed = []
    while (claim := store.claim_for_runner(runner.id)) is not None:
        assert claim.run.owner == "runner:" + runner.id and claim.attempt == 1
        claimed.append(claim.run.id)
        answer = store.apply_attempt_batch(claim.attempt_id, 1, [{"type": "run_finished", "status": "success",
                                                                   "at": 1.0, "error": None}])
        assert answer.acked == 1 and not answer.fenced
    print(" ".join(map(str, claimed)), flush=True)
"""


def test_four_runner_processes_claim_each_run_exactly_once(db_url: str) -> None:
    with Store.open(url=db_url) as opened:
        run_ids = [opened.enqueue(queued(("linux",) if index % 2 else ())) for index in range(120)]
    outputs = start_all([run_python(RUNNER, db_url, f"runner-{index}") for index in range(4)])
    claims = [[int(word) for word in out.split()] for out in outputs]
    everything = [run_id for claimed in claims for run_id in claimed]
    assert sorted(everything) == run_ids  # each run once, none twice, none left
    for claimed in claims:
        assert claimed == sorted(claimed)  # each runner takes the oldest queued run
    with Store.open(url=db_url) as opened:
        assert {run.status for run in opened.list_runs(limit=1000)} == {"success"}
        assert all(len(opened.attempts(run_id)) == 1 for run_id in run_ids[:10])


# --- the migration -----------------------------------------------------------------------------------------


def test_a_0004_database_is_upgraded_with_its_runs_and_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text("INSERT INTO workflows VALUES (1, 'a.plue.py', 'A', 'h', '{}', 1.0)"))
        connection.execute(
            text(
                "INSERT INTO runs (id, workflow_id, workflow_path, workflow_name, plan, inputs, status, attempt,"
                " created_at, cancel_requested) VALUES (1, 1, 'a.plue.py', 'A', '{}', '{}', 'queued', 1, 1.0, 0)"
            )
        )
        connection.execute(text("INSERT INTO api_tokens VALUES (1, 'admin', 'hash', 'admin', 1.0, NULL, 0)"))
    engine.dispose()
    with Store.open(url=url) as opened:
        run = opened.get_run(1)
        assert run is not None and (run.runs_on, run.max_attempts, run.status) == ((), 2, "queued")
        assert [token.name for token in opened.list_tokens()] == ["admin"]
        assert opened.create_token("agent", "runner").startswith("plue_")
        runner = register(opened)
        claim = opened.claim_for_runner(runner.id)
        assert claim is not None and claim.run.id == 1
    with pytest.raises(Exception, match="CHECK constraint failed"), create_engine(url).begin() as connection:
        connection.execute(text("UPDATE api_tokens SET scope = 'root'"))
