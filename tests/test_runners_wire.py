"""The wire format of engine events: every event survives encode → JSON → decode; anything else is a WireError."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plue.engine import (
    EngineEvent,
    LogLine,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.runners.wire import (
    EVENT_TYPES,
    MAX_MESSAGE_CHARS,
    MAX_TEXT_CHARS,
    WireError,
    decode,
    decode_batch,
    encode,
)

EVENTS: list[EngineEvent] = [
    RunStarted(run_id="7", at=1000.5),
    StepStarted(step_id="build", attempt=2, at=1001.0),
    StepLogs(
        (
            LogLine("build", 2, 1, Stream.STDOUT, 1001.1, "compiling"),
            LogLine("build", 2, 2, Stream.STDERR, 1001.2, "warning: ünïcödé ✓"),
            LogLine("review", 1, 1, Stream.LLM_TOKEN, 1001.3, ""),
            LogLine("review", 1, 2, Stream.LLM_TOOL_CALL, 1001.4, "read_file {}"),
            LogLine("review", 1, 3, Stream.LLM_TOOL_RESULT, 1001.5, "ok"),
            LogLine("review", 1, 4, Stream.SYSTEM, 1001.6, "turn 1"),
        )
    ),
    StepFinished(
        step_id="build",
        attempt=2,
        status=StepStatus.SUCCESS,
        started_at=1001.0,
        finished_at=1002.0,
        exit_code=0,
        outputs={"version": "1.2.3", "multi": "a\nb"},
        error=None,
        will_retry=False,
        extra={"llm": {"calls": [{"model": "m", "input_tokens": 3, "cost_usd": 0.5}], "turns": 1}, "text": "hi"},
    ),
    StepFinished("test", 1, StepStatus.FAILED, 1.0, 2.0, exit_code=-9, error="killed", will_retry=True),
    StepFinished("test", 3, StepStatus.TIMED_OUT, 1.0, 2.0),
    StepFinished("test", 4, StepStatus.CANCELLED, 1.0, 2.0, error="cancelled"),
    StepSkipped("deploy", "dependency 'build' failed", 1003.0),
    StepSkipped("deploy", "the run was cancelled", 1003.0, status=StepStatus.CANCELLED),
    StepReused("lint", {"ok": "yes"}, 0, 1000.6),
    StepReused("lint", {}, None, 1000.6),
    RunFinished(RunStatus.SUCCESS, 1004.0),
    RunFinished(RunStatus.FAILED, 1004.0, error="step build failed"),
    RunFinished(RunStatus.CANCELLED, 1004.0),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_every_event_round_trips_through_json(event: EngineEvent) -> None:
    data = json.loads(json.dumps(encode(event)))
    assert decode(data, run_id="7") == event


def test_every_event_type_is_covered() -> None:
    assert {encode(event)["type"] for event in EVENTS} == set(EVENT_TYPES)


def test_run_started_takes_the_run_id_from_the_caller() -> None:
    assert encode(RunStarted(run_id="anything", at=1.0)) == {"type": "run_started", "at": 1.0}
    assert decode({"type": "run_started", "at": 5}, run_id="42") == RunStarted(run_id="42", at=5.0)


def test_encode_cuts_text_so_that_it_always_decodes() -> None:
    huge = "x" * (MAX_TEXT_CHARS * 2)
    event = StepLogs((LogLine("build", 1, 1, Stream.STDOUT, 1.0, huge),))
    decoded = decode(json.loads(json.dumps(encode(event))))
    assert isinstance(decoded, StepLogs)
    assert len(decoded.lines[0].text) == MAX_TEXT_CHARS and decoded.lines[0].text.endswith("…")
    finished = decode(encode(RunFinished(RunStatus.FAILED, 1.0, error="e" * (MAX_MESSAGE_CHARS + 5))))
    assert isinstance(finished, RunFinished) and finished.error is not None
    assert len(finished.error) == MAX_MESSAGE_CHARS


def test_encode_makes_extra_plain_json() -> None:
    event = StepFinished("a", 1, StepStatus.SUCCESS, 1.0, 2.0, extra={"t": (1, 2), 3: float("nan"), "o": object})
    data = encode(event)
    assert data["extra"]["t"] == [1, 2] and data["extra"]["3"] is None and isinstance(data["extra"]["o"], str)
    assert decode(json.loads(json.dumps(data))) is not None


def test_a_batch_decodes_in_order_and_names_the_bad_event() -> None:
    good = [encode(event) for event in EVENTS]
    assert decode_batch(good, run_id="7") == EVENTS
    with pytest.raises(WireError, match=r"^event 2: unknown event type 'nope'"):
        decode_batch([good[0], good[1], {"type": "nope"}])
    with pytest.raises(WireError, match="events must be a list"):
        decode_batch({"type": "run_started"})


def finished(**changes: Any) -> dict[str, Any]:
    data = encode(StepFinished("build", 1, StepStatus.SUCCESS, 1.0, 2.0, exit_code=0, outputs={"a": "b"}))
    return {**data, **changes}


def logs(*line: Any) -> dict[str, Any]:
    return {"type": "step_logs", "lines": [list(line)]}


HOSTILE: list[tuple[object, str]] = [
    (None, "must be a JSON object"),
    ([], "must be a JSON object"),
    ("run_started", "must be a JSON object"),
    ({}, "needs a string 'type'"),
    ({"type": 3}, "needs a string 'type'"),
    ({"type": "boom", "at": 1}, "unknown event type 'boom'"),
    ({"type": "__class__"}, "unknown event type"),
    ({"type": "run_started"}, "'at' is missing"),
    ({"type": "run_started", "at": "now"}, "at must be a time"),
    ({"type": "run_started", "at": True}, "at must be a time"),
    ({"type": "run_started", "at": float("inf")}, "at must be a time"),
    ({"type": "run_started", "at": -1}, "at must be a time"),
    ({"type": "run_started", "at": 1, "run_id": "9"}, "unknown key 'run_id'"),
    ({"type": "step_started", "step_id": "Build!", "attempt": 1, "at": 1}, "must be a step id"),
    ({"type": "step_started", "step_id": "../etc", "attempt": 1, "at": 1}, "must be a step id"),
    ({"type": "step_started", "step_id": "a" * 201, "attempt": 1, "at": 1}, "must be a step id"),
    ({"type": "step_started", "step_id": 5, "attempt": 1, "at": 1}, "must be a step id"),
    ({"type": "step_started", "step_id": "a", "attempt": 0, "at": 1}, "attempt must be a whole number"),
    ({"type": "step_started", "step_id": "a", "attempt": 1.0, "at": 1}, "attempt must be a whole number"),
    ({"type": "step_started", "step_id": "a", "attempt": True, "at": 1}, "attempt must be a whole number"),
    ({"type": "step_logs", "lines": "x"}, "lines must be a list"),
    (logs("a", 1, 1, "stdout", 1.0), r"must be \[step_id"),
    (logs("a", 1, 1, "stdin", 1.0, "x"), "stream must be one of"),
    (logs("a", 1, 0, "stdout", 1.0, "x"), "seq must be a whole number"),
    (logs("a", 1, 2**63, "stdout", 1.0, "x"), "seq must be a whole number"),
    (logs("a", 1, 1, "stdout", 1.0, b"x".decode() * (MAX_TEXT_CHARS + 1)), "longer than"),
    (logs("a", 1, 1, "stdout", 1.0, None), "text must be a string"),
    ({"type": "step_logs", "lines": ["a"]}, r"line 0 must be \[step_id"),
    (finished(status="skipped"), "status must be one of"),
    (finished(status="SUCCESS"), "status must be one of"),
    (finished(status=None), "status must be one of"),
    (finished(outputs=["a"]), "outputs must be an object of strings"),
    (finished(outputs={"a": 1}), "must map strings to strings"),
    (finished(outputs={"a": "x" * (3 * 1024 * 1024)}), "outputs are larger than"),
    (finished(exit_code="0"), "exit_code must be a whole number"),
    (finished(exit_code=2**40), "exit_code must be a whole number"),
    (finished(will_retry=1), "will_retry must be true or false"),
    (finished(extra=[]), "extra must be an object"),
    (finished(extra={"x": float("nan")}), "not finite"),
    (finished(extra={"x": "y" * (5 * 1024 * 1024)}), "extra is larger than"),
    (finished(extra={"x": {"y": set()}}), "not JSON data"),
    (finished(error=["e"]), "error must be a string"),
    (finished(error="e" * (MAX_MESSAGE_CHARS + 1)), "longer than"),
    ({k: v for k, v in finished().items() if k != "finished_at"}, "'finished_at' is missing"),
    ({"type": "step_skipped", "step_id": "a", "reason": "r", "at": 1, "status": "success"}, "status must be one of"),
    ({"type": "step_skipped", "step_id": "a", "reason": 3, "at": 1, "status": "skipped"}, "reason must be a string"),
    ({"type": "step_reused", "step_id": "a", "outputs": {}, "exit_code": None}, "'at' is missing"),
    ({"type": "run_finished", "status": "running", "at": 1, "error": None}, "status must be one of"),
    ({"type": "run_finished", "status": "interrupted", "at": 1, "error": None}, "status must be one of"),
    ({"type": "run_finished", "status": "success", "at": 1, "error": 5}, "error must be a string"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE, ids=[message for _, message in HOSTILE])
def test_hostile_input_raises_only_wire_errors(data: object, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode(data)


def test_deeply_nested_extra_is_refused_without_recursion() -> None:
    nested: Any = {}
    for _ in range(10_000):
        nested = {"x": nested}
    with pytest.raises(WireError, match="nested deeper"):
        decode(finished(extra=nested))


def test_many_lines_are_refused() -> None:
    line = ["a", 1, 1, "stdout", 1.0, "x"]
    with pytest.raises(WireError, match="more than"):
        decode({"type": "step_logs", "lines": [line] * 100_001})
