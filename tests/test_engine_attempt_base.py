"""`Engine(attempt_base=...)`: a later run attempt numbers a step's attempts after the ones already stored.

Real processes, a recording sink; retries still count from the engine's own first attempt.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from plue import Plan, Step
from plue.engine import Engine, EngineEvent, RunStatus, StepFinished, StepLogs, StepStarted, StepStatus
from plue.steps import default_executors


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


def run(plan: dict[str, Any], workspace: Path, **options: Any) -> tuple[RunStatus, RecordingSink]:
    sink = RecordingSink()
    engine = Engine(
        plan, default_executors(kill_grace=1.0), sink, run_id="r", workspace=workspace, retry_delay_scale=0, **options
    )
    return engine.run(), sink


def test_attempts_are_numbered_after_the_base_in_events_logs_and_env(tmp_path: Path) -> None:
    plan = Plan(
        "p",
        steps=[
            Step.bash("build", cmd='echo "attempt $PLUE_ATTEMPT"'),
            Step.bash("test", cmd='echo "attempt $PLUE_ATTEMPT"', depends_on=["build"]),
        ],
    ).to_data()
    status, sink = run(plan, tmp_path, attempt_base={"build": 2})
    assert status is RunStatus.SUCCESS
    started = {event.step_id: event.attempt for event in sink.of(StepStarted)}
    assert started == {"build": 3, "test": 1}  # a step without a base starts at 1 as before
    finished = {event.step_id: event.attempt for event in sink.of(StepFinished)}
    assert finished == {"build": 3, "test": 1}
    lines = {(line.step_id, line.attempt, line.seq): line.text for batch in sink.of(StepLogs) for line in batch.lines}
    assert lines == {("build", 3, 1): "attempt 3", ("test", 1, 1): "attempt 1"}


def test_retries_count_from_the_engines_first_attempt(tmp_path: Path) -> None:
    # retries=1: two attempts in this engine, numbered 5 and 6, whatever the base.
    plan = Plan("p", steps=[Step.bash("flaky", cmd="exit 3", retries=1)]).to_data()
    status, sink = run(plan, tmp_path, attempt_base={"flaky": 4})
    assert status is RunStatus.FAILED
    attempts = [(event.attempt, event.status, event.will_retry) for event in sink.of(StepFinished)]
    assert attempts == [(5, StepStatus.FAILED, True), (6, StepStatus.FAILED, False)]
    notes = [line.text for batch in sink.of(StepLogs) for line in batch.lines if line.stream == "system"]
    assert any("attempt 5 failed" in note and "(attempt 6 of 6)" in note for note in notes), notes


def test_a_negative_base_is_refused(tmp_path: Path) -> None:
    plan = Plan("p", steps=[Step.bash("a", cmd="true")]).to_data()
    with pytest.raises(ValueError, match="attempt_base must not be negative: a"):
        Engine(plan, default_executors(), RecordingSink(), run_id="r", workspace=tmp_path, attempt_base={"a": -1})
