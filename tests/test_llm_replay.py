"""Record and replay of LLM calls (`plue.llm.recording`) through the llm step executor.

A step runs once against the fake server with recording on; then the server is
stopped and the step runs again from the recording: the same lines and result,
with no HTTP request and no API key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from anthropic_server import API_KEY, FakeAnthropic, HttpError, Reply, Text, ToolUse
from llm_support import MODEL, StepRun, run_step

from plue.engine import StepStatus, Stream
from plue.llm.recording import request_hash
from plue.steps import LlmOptions

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"verdict": {"type": "string"}}, "required": ["verdict"]}
NO_KEY_ENV = {"PATH": "/usr/bin:/bin"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    (path / "a.txt").write_text("alpha\n")
    return path


def recording(directory: Path) -> LlmOptions:
    return LlmOptions(record_dir=directory, max_retries=2, stream_retry_delay=0.0)


def replaying(directory: Path) -> LlmOptions:
    return LlmOptions(replay_dir=directory, max_retries=2, stream_retry_delay=0.0)


def comparable(run: StepRun) -> list[tuple[Stream, str]]:
    """The lines without what differs from run to run: latencies."""
    return [(stream, re.sub(r", [\d.]+ s, stop:", ", _ s, stop:", text)) for stream, text in run.lines]


def comparable_extra(run: StepRun) -> dict[str, Any]:
    extra = json.loads(json.dumps(run.result.extra))
    for call in extra["llm"]["calls"]:
        del call["latency_ms"], call["at"]
    return dict(extra)


def test_a_recorded_step_replays_with_the_same_lines_and_result_without_network_or_key(
    workspace: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    script = [
        Reply([Text("Reading.\n"), ToolUse("read_file", {"path": "a.txt"})], stop_reason="tool_use"),
        Reply([Text('Done.\n{"verdict": "approve"}')], cache_read_tokens=7),
    ]
    step = {"prompt": "Review a.txt", "model": MODEL, "output_schema": SCHEMA}
    with FakeAnthropic(script) as server:
        recorded = run_step(workspace, step, server=server, options=recording(records))
        url = server.url
    assert recorded.result.status is StepStatus.SUCCESS and len(server.requests) == 2
    output_file = workspace.parent / "review.out"
    recorded_output = output_file.read_text()
    output_file.unlink()

    files = sorted(path.name for path in (records / "review").iterdir())
    assert files == ["001.json", "002.json"]
    first = json.loads((records / "review" / "001.json").read_text())
    assert first["call"] == 1 and first["request"]["method"] == "POST" and first["request"]["path"] == "/v1/messages"
    assert first["request"]["body"] == server.requests[0].body
    assert first["request_hash"] == request_hash("POST", "/v1/messages", server.requests[0].body)
    response = first["response"]
    assert response["status"] == 200 and response["complete"] is True and response["error"] is None
    assert response["headers"]["request-id"] == "req_fake_1"
    assert response["headers"]["content-type"].startswith("text/event-stream")
    assert response["body"].startswith("event: message_start\ndata: ")
    for path in (records / "review").iterdir():
        text = path.read_text()
        assert API_KEY not in text and "authorization" not in text.lower() and "x-api-key" not in text.lower()

    # The server is gone and there is no key: the replay must not need either.
    replayed = run_step(workspace, step, env={**NO_KEY_ENV, "ANTHROPIC_BASE_URL": url}, options=replaying(records))
    assert replayed.result.status is StepStatus.SUCCESS
    assert comparable(replayed) == comparable(recorded)
    assert comparable_extra(replayed) == comparable_extra(recorded)
    assert replayed.result.extra["output"] == {"verdict": "approve"}
    assert output_file.read_text() == recorded_output


def test_replay_without_a_recording_fails_clearly(workspace: Path, tmp_path: Path) -> None:
    records = tmp_path / "empty"
    run = run_step(workspace, {"prompt": "hi", "model": MODEL}, env=NO_KEY_ENV, options=replaying(records))
    assert run.result.status is StepStatus.FAILED
    assert run.result.error == (
        f"no recorded LLM exchange for step review call 1 in {records}; record one with --llm-record {records}"
    )


def test_a_replay_that_runs_past_the_recording_fails_clearly(workspace: Path, tmp_path: Path) -> None:
    records = tmp_path / "records"
    script = [Reply([ToolUse("list_files", {"pattern": "*"})], stop_reason="tool_use")]
    with FakeAnthropic(script) as server:
        short = run_step(workspace, {"prompt": "hi", "model": MODEL, "max_turns": 1}, server=server,
                         options=recording(records))  # fmt: skip
    assert short.result.status is StepStatus.FAILED  # max_turns=1: one call recorded
    (records / "review" / "002.json").write_text("not json")
    run = run_step(workspace, {"prompt": "hi", "model": MODEL, "max_turns": 2}, env=NO_KEY_ENV,
                   options=replaying(records))  # fmt: skip
    assert run.result.status is StepStatus.FAILED
    assert run.result.error == (
        f"no recorded LLM exchange for step review call 2 in {records} (002.json could not be read);"
        f" record one with --llm-record {records}"
    )
    assert run.texts(Stream.LLM_TOOL_CALL) == ['list_files {"pattern":"*"}']


def test_a_request_that_differs_from_the_recording_is_answered_in_order_with_a_notice(
    workspace: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    with FakeAnthropic([Reply([Text("recorded answer")])]) as server:
        run_step(workspace, {"prompt": "the old prompt", "model": MODEL}, server=server, options=recording(records))
    run = run_step(workspace, {"prompt": "a new prompt", "model": MODEL}, env=NO_KEY_ENV, options=replaying(records))
    assert run.result.status is StepStatus.SUCCESS and run.result.extra["text"] == "recorded answer"
    assert "replay: call 1 of step review differs from the recording; answering with recorded call 1 (in order)" in (
        run.texts(Stream.SYSTEM)
    )


def test_retries_and_a_dropped_stream_are_recorded_and_replayed_alike(workspace: Path, tmp_path: Path) -> None:
    records = tmp_path / "records"
    script = [
        HttpError(429, "rate_limit_error", retry_after="0"),
        Reply([Text("first line\nsecond line\nthird")], disconnect_after=6),
        Reply([Text("first line\nsecond line\nthird")]),
    ]
    with FakeAnthropic(script) as server:
        recorded = run_step(workspace, {"prompt": "hi", "model": MODEL}, server=server, options=recording(records))
    assert recorded.result.status is StepStatus.SUCCESS and len(server.requests) == 3
    statuses = [json.loads(path.read_text())["response"] for path in sorted((records / "review").iterdir())]
    assert [(item["status"], item["complete"]) for item in statuses] == [(429, True), (200, False), (200, True)]
    assert statuses[0]["headers"]["retry-after"] == "0"
    assert statuses[1]["error"].startswith("peer closed connection")

    replayed = run_step(workspace, {"prompt": "hi", "model": MODEL}, env=NO_KEY_ENV, options=replaying(records))
    assert replayed.result.status is StepStatus.SUCCESS
    assert comparable(replayed) == comparable(recorded)
    assert replayed.texts(Stream.LLM_TOKEN) == ["first line", "second line", "third"]
    notices = replayed.texts(Stream.SYSTEM)
    assert "the API answered HTTP 429 (rate limited); retrying (retry 1 of 2)" in notices
    assert any(notice.startswith("the connection dropped mid-reply (RemoteProtocolError: peer") for notice in notices)


def test_secrets_are_masked_in_recordings_and_replays_still_match(workspace: Path, tmp_path: Path) -> None:
    records = tmp_path / "records"
    secret = "hunter2-very-secret"

    def mask(text: str) -> str:
        return text.replace(secret, "***")

    step = {"prompt": f"Use the token {secret}", "model": MODEL}
    with FakeAnthropic([Reply([Text(f"I will not repeat {secret}.")])]) as server:
        run_step(workspace, step, server=server, options=recording(records), mask=mask)
    text = (records / "review" / "001.json").read_text()
    assert secret not in text and "Use the token ***" in text and "I will not repeat ***." in text

    run = run_step(workspace, step, env=NO_KEY_ENV, options=replaying(records))
    assert run.result.status is StepStatus.SUCCESS
    assert not any("differs from the recording" in line for line in run.texts(Stream.SYSTEM))


def test_recording_again_replaces_the_step_s_old_recording(workspace: Path, tmp_path: Path) -> None:
    records = tmp_path / "records"
    script = [Reply([ToolUse("list_files", {"pattern": "*"})], stop_reason="tool_use"), Reply([Text("two turns")])]
    with FakeAnthropic(script) as server:
        run_step(workspace, {"prompt": "hi", "model": MODEL}, server=server, options=recording(records))
    with FakeAnthropic([Reply([Text("one turn")])]) as server:
        run_step(workspace, {"prompt": "hi", "model": MODEL}, server=server, options=recording(records))
    assert sorted(path.name for path in (records / "review").iterdir()) == ["001.json"]
