"""The SSE stream of a run, read by a real HTTP client while the run executes (engine + store, no mocks)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import RunningServer, bearer, make_config, serve

from plue import Plan, Step
from plue.plan import content_hash
from plue.runners.local import execute_run
from plue.server.api.state import StreamSettings
from plue.server.app import create_app
from plue.store import Store, process_owner
from plue.store.records import NewRun

# `first` waits on a FIFO the test opens only once the stream has shown its first line: the client
# demonstrably reads the run while it executes.
FIRST = Step.bash("first", "echo one; read line < gate; echo two")
PLAN: dict[str, Any] = Plan("Streamed", steps=[FIRST, Step.bash("second", "echo three", depends_on=[FIRST])]).to_data()


def parse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """SSE events ({"event", "id", "data"}) and comments ({"comment"}) as they arrive."""
    import json

    event: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif not line:
            if event:
                yield event
                event = {}
        else:
            field, _, value = line.partition(": ")
            event[field] = json.loads(value) if field == "data" else value


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RunningServer, Store, dict[str, str]]]:
    app = create_app(make_config(tmp_path / "data"), start_background=False)
    app.state.plue.streams = StreamSettings(poll_seconds=0.02, keepalive_seconds=0.2)
    store: Store = app.state.plue.store
    with serve(app) as running:
        yield running, store, bearer(store.create_token("reader", "read"))


def queue(store: Store) -> int:
    return store.enqueue(
        NewRun("streamed.plue.py", "Streamed", content_hash(PLAN), PLAN, event_name="manual", event=None, inputs={})
    )


def order(event_id: str) -> tuple[int, int]:
    log, transitions = event_id.split(":")
    return int(log), int(transitions)


def test_the_stream_shows_a_run_live_and_resumes_exactly_after_last_event_id(
    server: tuple[RunningServer, Store, dict[str, str]], tmp_path: Path
) -> None:
    running, store, headers = server
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    os.mkfifo(workspace / "gate")
    run_id = queue(store)
    claimed = store.claim_run(process_owner(worker="test"))
    assert claimed is not None and claimed.id == run_id
    executor = threading.Thread(target=execute_run, args=(store, claimed, workspace), daemon=True)

    received: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=running.url, timeout=60) as client,
        client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        executor.start()
        for event in parse_events(response.iter_lines()):
            if "comment" in event:
                continue
            received.append(event)
            if event["event"] == "log" and event["data"]["text"] == "one":
                with open(workspace / "gate", "w") as gate:  # lets `first` go on
                    gate.write("go\n")
            if event["event"] == "end":
                break
    executor.join(60)

    summary = [
        (event["event"], event["data"].get("step") or event["data"].get("step_id"), event["data"].get("status"))
        for event in received
    ]
    texts = [event["data"]["text"] for event in received if event["event"] == "log"]
    assert texts == ["one", "two", "three"]
    steps = [item for item in summary if item[0] == "step"]
    assert steps == [
        ("step", "first", "running"),
        ("step", "first", "success"),
        ("step", "second", "running"),
        ("step", "second", "success"),
    ]
    # Each step's lines come between its start and its end.
    first_lines = [
        i for i, event in enumerate(received) if event["event"] == "log" and event["data"]["step_id"] == "first"
    ]
    assert summary.index(("step", "first", "running")) < min(first_lines)
    assert max(first_lines) < summary.index(("step", "first", "success"))
    assert received[-1] == {"event": "end", "data": {"status": "success", "error": None}}
    ids = [order(event["id"]) for event in received[:-1]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # Resuming after any event gives exactly the events that followed it.
    with httpx.Client(base_url=running.url, timeout=60) as client:
        for index in (0, 2, len(received) - 2):
            resumed_headers = {**headers, "Last-Event-ID": received[index]["id"]}
            with client.stream("GET", f"/api/runs/{run_id}/events", headers=resumed_headers) as response:
                again = [event for event in parse_events(response.iter_lines()) if "comment" not in event]
            assert again == received[index + 1 :]


def test_a_waiting_stream_sends_keep_alive_comments(server: tuple[RunningServer, Store, dict[str, str]]) -> None:
    running, store, headers = server
    run_id = queue(store)  # never claimed: nothing happens, the stream keeps the connection alive
    with (
        httpx.Client(base_url=running.url, timeout=60) as client,
        client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as response,
    ):
        first = next(parse_events(response.iter_lines()))
    assert first == {"comment": "keep-alive"}


def test_bad_requests_are_refused(server: tuple[RunningServer, Store, dict[str, str]]) -> None:
    running, store, headers = server
    run_id = queue(store)
    with httpx.Client(base_url=running.url, timeout=60) as client:
        assert client.get("/api/runs/999/events", headers=headers).status_code == 404
        bad = client.get(f"/api/runs/{run_id}/events", headers={**headers, "Last-Event-ID": "nonsense"})
        assert bad.status_code == 400
        assert "Last-Event-ID" in bad.json()["detail"]
        assert client.get(f"/api/runs/{run_id}/events").status_code == 401
