"""`plue.runners.local`: a claimed run executed to its end, cancelled from the store or by the caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plue import Plan, Step
from plue.engine import EngineEvent, RunFinished, RunStatus, StepLogs
from plue.runners import RunExecution, execute_run
from plue.store import RunRecord, Store


def plan_data(*steps: Step) -> dict[str, Any]:
    return Plan("Test", steps=list(steps)).to_data()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(url=f"sqlite:///{tmp_path / 'plue.db'}") as opened:
        yield opened


def claimed_run(store: Store, plan: dict[str, Any]) -> RunRecord:
    """A run made `running` by an owner other than the engine (as a worker's claim does)."""
    workflow_id = store.upsert_workflow("test.plue.py", "Test", "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name="manual", event=None, inputs={})
    store.start_run(run_id, "host:1:1/worker-0")
    run = store.get_run(run_id)
    assert run is not None and run.status == "running"
    return run


def test_a_claimed_run_is_executed_and_stored(store: Store, tmp_path: Path) -> None:
    plan = plan_data(
        Step.bash("make", 'echo made > out.txt; echo "value=42" >> "$PLUE_OUTPUT"'),
        Step.bash("use", "echo got {{ steps.make.outputs.value }} $TOKEN", depends_on="make"),
    )
    run = claimed_run(store, plan)

    status = execute_run(store, run, tmp_path, secrets={"TOKEN": "hunter22"})

    assert status == RunStatus.SUCCESS
    stored = store.get_run(run.id)
    assert stored is not None and stored.status == "success"
    assert stored.owner == "host:1:1/worker-0"  # the claim's owner, not replaced on RunStarted
    assert [step.status for step in stored.steps] == ["success", "success"]
    assert (tmp_path / "out.txt").read_text() == "made\n"
    assert [log.text for log in store.read_logs(run.id, step_id="use")] == ["got 42 ***"]


def test_a_plan_the_engine_refuses_ends_the_run_failed(store: Store, tmp_path: Path) -> None:
    run = claimed_run(store, plan_data(Step.bash("a", "true")))
    broken = replace(run, plan={"name": "Test", "steps": [{"id": "a", "type": "nope"}]})

    status = execute_run(store, broken, tmp_path)

    assert status == RunStatus.FAILED
    stored = store.get_run(run.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error is not None and stored.error.startswith("cannot run:")


def test_setting_the_cancel_event_cancels_the_run(store: Store, tmp_path: Path) -> None:
    plan = plan_data(Step.bash("wait", "echo started; sleep 60"), Step.bash("after", "true", depends_on="wait"))
    run = claimed_run(store, plan)
    cancel = threading.Event()
    started = threading.Event()

    def observe(event: EngineEvent) -> None:
        if isinstance(event, StepLogs):
            started.set()

    execution = RunExecution(store, run.id, run.plan, workspace=tmp_path, observer=observe, claimed=True)
    result: list[RunStatus] = []
    thread = threading.Thread(target=lambda: result.append(execution.run(cancel)))
    thread.start()
    assert started.wait(30)
    cancel.set()
    thread.join(60)

    assert result == [RunStatus.CANCELLED]
    stored = store.get_run(run.id)
    assert stored is not None and stored.status == "cancelled"
    assert [step.status for step in stored.steps] == ["cancelled", "cancelled"]


def test_a_cancel_requested_in_the_store_cancels_the_run(store: Store, tmp_path: Path) -> None:
    run = claimed_run(store, plan_data(Step.bash("wait", "echo started; sleep 60")))
    told = threading.Event()
    finished: list[RunFinished] = []

    def observe(event: EngineEvent) -> None:
        if isinstance(event, StepLogs):
            store.request_cancel(run.id)  # as `plue run cancel` or the API does, from elsewhere
        if isinstance(event, RunFinished):
            finished.append(event)

    execution = RunExecution(store, run.id, run.plan, workspace=tmp_path, observer=observe, claimed=True)
    status = execution.run(on_cancel_requested=told.set)

    assert status == RunStatus.CANCELLED and told.is_set()
    assert [event.status for event in finished] == [RunStatus.CANCELLED]
