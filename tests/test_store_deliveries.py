"""Webhook deliveries: recorded with their runs in one transaction, once per delivery id, even when raced."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from test_store_support import PLAN, db_url, run_python, start_all, store

from plue.store import NewDelivery, NewRun, Store, StoreError

__all__ = ["db_url", "store"]  # fixtures

PAYLOAD = {"ref": "refs/heads/main", "after": "b" * 40, "repository": {"full_name": "octo/hello"}}


def new_run(name: str, **kwargs: Any) -> NewRun:
    values: dict[str, Any] = {
        "workflow_path": f"{name.lower()}.plue.py",
        "workflow_name": name,
        "content_hash": "2" * 64,
        "plan": {**PLAN, "name": name},
        "event_name": "push",
        "event": PAYLOAD,
        "inputs": {},
        "repository": "octo/hello",
        "sha": "b" * 40,
        "ref": "refs/heads/main",
        "branch": "main",
    }
    return NewRun(**{**values, **kwargs})


def record(store: Store, delivery_id: str, runs: list[NewRun], **kwargs: Any) -> Any:
    values: dict[str, Any] = {
        "event": "push",
        "action": None,
        "repository": "octo/hello",
        "payload": PAYLOAD,
        "outcome": "queued" if runs else "ignored",
        "reason": None if runs else "no workflow matches",
        "runs": runs,
        "received_at": 1000.0,
    }
    given = {**values, **kwargs}
    return store.record_delivery(NewDelivery(delivery_id, **{**given, "runs": tuple(given["runs"])}))


def test_a_delivery_queues_its_runs(store: Store) -> None:
    delivery, created = record(store, "d-1", [new_run("CI"), new_run("Lint")])
    assert created is True
    assert (delivery.delivery_id, delivery.event, delivery.outcome, delivery.received_at) == (
        "d-1",
        "push",
        "queued",
        1000.0,
    )
    assert delivery.payload == PAYLOAD and len(delivery.run_ids) == 2
    runs = [store.get_run(run_id) for run_id in delivery.run_ids]
    assert [(run.workflow_name, run.status, run.delivery_id, run.sha) for run in runs if run is not None] == [
        ("CI", "queued", "d-1", "b" * 40),
        ("Lint", "queued", "d-1", "b" * 40),
    ]
    assert store.get_delivery("d-1") == delivery
    assert delivery.to_json() == {
        "id": delivery.id,
        "delivery_id": "d-1",
        "event": "push",
        "action": None,
        "repository": "octo/hello",
        "received_at": 1000.0,
        "outcome": "queued",
        "reason": None,
        "run_ids": list(delivery.run_ids),
    }


def test_a_delivery_seen_before_queues_nothing(store: Store) -> None:
    first, _ = record(store, "d-1", [new_run("CI")])
    again, created = record(store, "d-1", [new_run("CI"), new_run("Lint")], received_at=2000.0)
    assert created is False
    assert again == first and again.received_at == 1000.0
    assert [run.id for run in store.list_runs()] == list(first.run_ids)


def test_an_ignored_delivery_has_no_runs(store: Store) -> None:
    delivery, created = record(store, "ping-1", [], event="ping", payload=None, reason="ping")
    assert created is True
    assert (delivery.outcome, delivery.reason, delivery.run_ids, delivery.payload) == ("ignored", "ping", (), None)
    assert store.list_runs() == []
    assert store.get_delivery("unknown") is None


def test_a_delivery_whose_run_cannot_be_stored_leaves_nothing(store: Store) -> None:
    broken = new_run("Broken", plan={"name": "Broken", "steps": [{"no": "id"}]})
    with pytest.raises(StoreError, match="string 'id'"):
        record(store, "d-1", [new_run("CI"), broken])
    assert store.get_delivery("d-1") is None
    assert store.list_runs() == []
    delivery, created = record(store, "d-1", [new_run("CI")])  # a retry of the delivery is recorded
    assert created is True and len(delivery.run_ids) == 1


def test_an_unknown_outcome_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="queued, ignored, error"):
        record(store, "d-1", [], outcome="maybe")


def test_list_deliveries_newest_first_by_pages(store: Store) -> None:
    ids = [record(store, f"d-{index}", [])[0].id for index in range(5)]
    assert [delivery.id for delivery in store.list_deliveries()] == ids[::-1]
    page = store.list_deliveries(limit=2)
    assert [delivery.delivery_id for delivery in page] == ["d-4", "d-3"]
    rest = store.list_deliveries(limit=10, before=page[-1].id)
    assert [delivery.delivery_id for delivery in rest] == ["d-2", "d-1", "d-0"]
    assert store.list_deliveries(before=ids[0]) == []
    with pytest.raises(ValueError, match="at least 1"):
        store.list_deliveries(limit=0)


RECORDER = """
import sys
from plue.store import NewDelivery, NewRun, Store

plan = {"name": "CI", "steps": [{"id": "test"}, {"id": "build"}]}
runs = [
    NewRun(workflow_path=f"{name}.plue.py", workflow_name=name, content_hash="3" * 64, plan={**plan, "name": name},
           event_name="push", event={"after": "c" * 40}, inputs={}, repository="octo/hello", sha="c" * 40)
    for name in ("ci", "lint", "docs")
]
with Store.open(url=sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    delivery, created = store.record_delivery(NewDelivery(
        "raced", event="push", action=None, repository="octo/hello", payload={"after": "c" * 40},
        outcome="queued", reason=None, runs=tuple(runs), received_at=float(sys.argv[2]),
    ))
    print(int(created), " ".join(map(str, delivery.run_ids)), flush=True)
"""


def test_four_processes_record_one_delivery_once(db_url: str) -> None:
    with Store.open(url=db_url):
        pass  # migrated once here
    answers = []
    for out in start_all([run_python(RECORDER, db_url, str(index)) for index in range(4)]):
        created, *run_ids = out.split()
        answers.append((created, tuple(map(int, run_ids))))
    assert sorted(created for created, _ in answers) == ["0", "0", "0", "1"]
    assert len({run_ids for _, run_ids in answers}) == 1  # every caller is told the same runs
    with Store.open(url=db_url) as opened:
        (delivery,) = opened.list_deliveries()
        runs = opened.list_runs()
        assert sorted(run.id for run in runs) == sorted(delivery.run_ids) and len(runs) == 3
        assert {run.delivery_id for run in runs} == {"raced"}
        with opened._engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM workflows")).scalar() == 3


def item(delivery_id: str, runs: list[NewRun], **kwargs: Any) -> NewDelivery:
    values: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": "push",
        "action": None,
        "repository": "octo/hello",
        "payload": PAYLOAD,
        "outcome": "queued" if runs else "ignored",
        "reason": None if runs else "no workflow matches",
        "runs": tuple(runs),
        "received_at": 1000.0,
    }
    return NewDelivery(**{**values, **kwargs})


def _comparable(run: Any) -> dict[str, Any]:
    data = run.to_json()
    for varying in ("id", "created_at", "queued_at", "delivery_id", "workflow_id"):
        data.pop(varying, None)
    return data


def test_a_batch_records_each_delivery_as_one_by_one_would(store: Store) -> None:
    record(store, "seen", [new_run("CI")])
    single, _ = record(store, "single", [new_run("CI"), new_run("Lint", runs_on=("gpu",), max_attempts=3)])
    grouped = new_run("Deploy", concurrency_group="deploy", plan={**PLAN, "name": "Deploy"})
    batch = [
        item("b-1", [new_run("CI"), new_run("Lint", runs_on=("gpu",), max_attempts=3)]),
        item("seen", [new_run("CI")]),  # recorded before: nothing queued again
        item("b-2", []),
        item("b-1", [new_run("Other")]),  # twice in one batch: the first one counts
        item("b-3", [grouped]),
        item("b-4", [grouped]),  # same group: supersedes b-3's run, as one by one
    ]
    results = store.record_deliveries(batch)
    assert [(record.delivery_id, created) for record, created in results] == [
        ("b-1", True),
        ("seen", False),
        ("b-2", True),
        ("b-1", False),
        ("b-3", True),
        ("b-4", True),
    ]
    assert results[3][0] == results[0][0]  # the duplicate is told the first one's runs
    assert results[1][0] == store.get_delivery("seen")
    for record_, created in results:
        if created:
            assert store.get_delivery(record_.delivery_id) == record_  # what is returned is what is stored
    batch_runs = [store.get_run(run_id) for run_id in results[0][0].run_ids]
    single_runs = [store.get_run(run_id) for run_id in single.run_ids]
    assert [_comparable(run) for run in batch_runs] == [_comparable(run) for run in single_runs]
    assert [run.runs_on for run in batch_runs if run] == [(), ("gpu",)]
    b3_run, b4_run = (store.get_run(results[4][0].run_ids[0]), store.get_run(results[5][0].run_ids[0]))
    assert b3_run is not None and b3_run.status == "cancelled" and b4_run is not None and b4_run.status == "queued"
    assert [step.status for step in batch_runs[0].steps] == ["pending"] * len(PLAN["steps"])  # type: ignore[union-attr]
    assert store.record_deliveries([]) == []


def test_a_batch_that_cannot_be_stored_leaves_nothing(store: Store) -> None:
    broken = new_run("Broken", plan={"name": "Broken", "steps": [{"no": "id"}]})
    with pytest.raises(StoreError, match="string 'id'"):
        store.record_deliveries([item("ok", [new_run("CI")]), item("bad", [broken])])
    assert store.get_delivery("ok") is None and store.list_runs() == []
    with pytest.raises(ValueError, match="queued, ignored, error"):
        store.record_deliveries([item("x", [], outcome="maybe")])


BATCH_RECORDER = """
import sys
from plue.store import NewDelivery, NewRun, Store

plan = {"name": "CI", "steps": [{"id": "test"}]}
run = NewRun(workflow_path="ci.plue.py", workflow_name="CI", content_hash="3" * 64, plan=plan,
             event_name="push", event={"after": "c" * 40}, inputs={}, repository="octo/hello", sha="c" * 40)
ids = [f"d-{index}" for index in range(40)]
if sys.argv[2] == "1":
    ids.reverse()
with Store.open(url=sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    for start in range(0, 40, 8):
        batch = [NewDelivery(key, "push", None, "octo/hello", None, "queued", None, (run,), 1.0)
                 for key in ids[start:start + 8]]
        store.record_deliveries(batch)
    print("done", flush=True)
"""


def test_processes_recording_overlapping_batches_queue_each_delivery_once(db_url: str) -> None:
    with Store.open(url=db_url):
        pass
    # Four processes, two going through the ids forwards and two backwards, in batches of 8.
    outputs = start_all([run_python(BATCH_RECORDER, db_url, str(index % 2)) for index in range(4)])
    assert outputs == ["done"] * 4
    with Store.open(url=db_url) as opened:
        deliveries = opened.list_deliveries(limit=100)
        runs = opened.list_runs(limit=200)
        assert len(deliveries) == 40 and len(runs) == 40
        assert sorted(run.id for run in runs) == sorted(run_id for d in deliveries for run_id in d.run_ids)
