"""A protocol-faithful runner server for fault injection (no tests here): a real HTTP server in a thread.

It speaks the runner protocol of the design (register, long-poll claim, heartbeat, numbered event
batches with acks and fencing, the source tarball, deregister) with state a test sets and reads,
and it can misbehave on purpose: drop a connection without answering, answer 503, apply a batch
and then drop the answer (so the runner resends a batch that is already stored), fence an
attempt, declare a runner lost, drain it, refuse the token.

    state = ProtocolState(token="t")
    with protocol_server(state) as url:
        state.queue_claim(plan=..., source=tarball_bytes)
        ... run an agent against url ...
        state.wait_for(lambda: state.finished(attempt_id), "the run to end")

Events are decoded with `plue.runners.wire.decode_batch` (a 400 for what it refuses), kept per
attempt in the order applied, exactly once per batch seq.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plue.engine import EngineEvent, RunFinished
from plue.runners.wire import WireError, decode_batch


@dataclass
class FakeRunner:
    id: str
    body: dict[str, Any]
    status: str = "idle"  # idle | busy | draining | lost | offline
    heartbeats: int = 0
    cancel: set[int] = field(default_factory=set)
    abort: set[int] = field(default_factory=set)


@dataclass
class FakeAttempt:
    id: int
    runner_id: str
    claim: dict[str, Any]
    status: str = "running"  # running | success | failed | cancelled | lost | aborted
    acked: int = 0
    events: list[EngineEvent] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # every seq received, duplicates included


class ProtocolState:
    """Everything the fake server knows; every method is thread-safe."""

    def __init__(
        self,
        token: str = "runner-token",
        *,
        heartbeat_seconds: float = 0.2,
        lost_after_seconds: float = 30.0,
        claim_wait_seconds: float = 1.0,
    ) -> None:
        self.token = token
        self.timings = {
            "heartbeat_seconds": heartbeat_seconds,
            "lost_after_seconds": lost_after_seconds,
            "claim_wait_seconds": claim_wait_seconds,
        }
        self.cond = threading.Condition()
        self.runners: dict[str, FakeRunner] = {}
        self.deregistered: list[str] = []
        self.attempts: dict[int, FakeAttempt] = {}
        self.queued: deque[dict[str, Any]] = deque()  # claims not handed out yet
        self.sources: dict[int, bytes] = {}
        self.faults: dict[str, deque[str]] = {}  # route -> actions for its next requests
        self.requests: list[tuple[str, str]] = []
        self._next_attempt = 100

    # --- what a test sets ---------------------------------------------------------------

    def queue_claim(
        self,
        plan: dict[str, Any],
        *,
        run_id: int = 1,
        needs: tuple[str, ...] = (),
        source: bytes | None = None,
        secrets: dict[str, str] | None = None,
        attempt_base: dict[str, int] | None = None,
        reuse: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> int:
        """Queue a run; its attempt id (the claim is handed to the first runner with all `needs` labels)."""
        with self.cond:
            attempt_id = self._next_attempt
            self._next_attempt += 1
            claim = raw or {
                "attempt_id": attempt_id,
                "attempt": 1 + max(attempt_base.values(), default=0) if attempt_base else 1,
                "run": {
                    "id": run_id,
                    "workflow_path": "ci.plue.py",
                    "workflow_name": plan.get("name", "test"),
                    "plan": plan,
                    "event_name": "manual",
                    "event": None,
                    "inputs": {},
                    "repository": "acme/app" if source is not None else None,
                    "sha": "0" * 40 if source is not None else None,
                    "ref": None,
                    "branch": None,
                },
                "secrets": secrets or {},
                "attempt_base": attempt_base or {},
                "reuse": reuse or {},
                "source": f"/api/attempts/{attempt_id}/source" if source is not None else None,
            }
            if source is not None:
                self.sources[attempt_id] = source
            self.queued.append({"needs": set(needs), "claim": claim, "attempt_id": attempt_id})
            self.cond.notify_all()
            return attempt_id

    def fault(self, route: str, *actions: str) -> None:
        """The next requests on `route` (register, claim, heartbeat, events, source, deregister) misbehave:
        "drop" (close without answering), "503", "apply_then_drop" (events: store, then drop the answer),
        "401", "410"."""
        with self.cond:
            self.faults.setdefault(route, deque()).extend(actions)

    def clear_faults(self, route: str) -> None:
        with self.cond:
            self.faults.pop(route, None)

    def fence(self, attempt_id: int, status: str = "aborted") -> None:
        with self.cond:
            self.attempts[attempt_id].status = status

    def lose(self, runner_id: str) -> None:
        """The reaper's verdict: the runner is lost, its running attempts too."""
        with self.cond:
            self.runners[runner_id].status = "lost"
            for attempt in self.attempts.values():
                if attempt.runner_id == runner_id and attempt.status == "running":
                    attempt.status = "lost"
            self.cond.notify_all()

    def cancel(self, attempt_id: int) -> None:
        with self.cond:
            attempt = self.attempts[attempt_id]
            self.runners[attempt.runner_id].cancel.add(attempt_id)

    def drain(self, runner_id: str) -> None:
        with self.cond:
            self.runners[runner_id].status = "draining"
            self.cond.notify_all()

    # --- what a test reads -----------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"timed out waiting for {what}")
                self.cond.wait(remaining)

    def events(self, attempt_id: int) -> list[EngineEvent]:
        with self.cond:
            attempt = self.attempts.get(attempt_id)
            return list(attempt.events) if attempt else []

    def finished(self, attempt_id: int) -> RunFinished | None:
        for event in self.events(attempt_id):
            if isinstance(event, RunFinished):
                return event
        return None

    def only_runner(self) -> FakeRunner:
        with self.cond:
            (runner,) = [runner for runner in self.runners.values() if runner.status not in ("lost", "offline")]
            return runner

    # --- the protocol ------------------------------------------------------------------------

    def next_fault(self, route: str) -> str | None:
        with self.cond:
            actions = self.faults.get(route)
            return actions.popleft() if actions else None

    def register(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self.cond:
            runner = FakeRunner(uuid.uuid4().hex, body)
            self.runners[runner.id] = runner
            self.cond.notify_all()
            return 201, {"runner_id": runner.id, **self.timings}

    def claim(self, runner_id: str) -> tuple[int, Any]:
        deadline = time.monotonic() + self.timings["claim_wait_seconds"]
        with self.cond:
            while True:
                runner = self.runners.get(runner_id)
                if runner is None or runner.status in ("lost", "offline"):
                    return 410, {"detail": f"runner {runner_id} is not registered"}
                if runner.status == "draining":
                    return 409, {"detail": "the runner is draining"}
                labels = set(runner.body.get("labels", []))
                for item in self.queued:
                    if item["needs"] <= labels:
                        self.queued.remove(item)
                        claim = item["claim"]
                        self.attempts[item["attempt_id"]] = FakeAttempt(item["attempt_id"], runner_id, claim)
                        runner.status = "busy"
                        self.cond.notify_all()
                        return 200, {"claim": claim}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return 204, None
                self.cond.wait(remaining)

    def heartbeat(self, runner_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.cond:
            runner = self.runners.get(runner_id)
            if runner is None:
                return 410, {"detail": "unknown runner"}
            runner.heartbeats += 1
            reported = set(body.get("attempts", []))
            mine = {attempt.id for attempt in self.attempts.values() if attempt.runner_id == runner_id}
            running = {a.id for a in self.attempts.values() if a.runner_id == runner_id and a.status == "running"}
            answer = {
                "status": runner.status,
                "cancel": sorted(runner.cancel & reported),
                "abort": sorted((reported - running) & mine | (runner.abort & reported)),
                "drain": runner.status == "draining",
            }
            self.cond.notify_all()
            return 200, answer

    def apply(self, attempt_id: int, body: Any) -> tuple[int, Any]:
        with self.cond:
            attempt = self.attempts.get(attempt_id)
            if attempt is None:
                return 404, {"detail": "unknown attempt"}
            if not isinstance(body, dict) or type(body.get("seq")) is not int:
                return 400, {"detail": "a batch is {seq, events}"}
            seq = body["seq"]
            attempt.batches.append(seq)
            if seq <= attempt.acked:
                return 200, {"acked": attempt.acked}  # a duplicate: stored once already
            if attempt.status != "running":
                return 409, {"detail": f"attempt {attempt_id} is {attempt.status}", "fenced": True}
            if seq > attempt.acked + 1:
                return 200, {"acked": attempt.acked}
            try:
                events = decode_batch(body.get("events"))
            except WireError as exc:
                return 400, {"detail": str(exc)}
            attempt.events.extend(events)
            attempt.acked = seq
            for event in events:
                if isinstance(event, RunFinished):
                    attempt.status = str(event.status)
            self.cond.notify_all()
            return 200, {"acked": attempt.acked}

    def source(self, attempt_id: int) -> tuple[int, bytes | None]:
        with self.cond:
            attempt = self.attempts.get(attempt_id)
            if attempt is not None and attempt.status != "running":
                return 409, None
            return (200, self.sources[attempt_id]) if attempt_id in self.sources else (404, None)

    def deregister(self, runner_id: str) -> tuple[int, Any]:
        with self.cond:
            runner = self.runners.get(runner_id)
            if runner is None:
                return 410, {"detail": "unknown runner"}
            runner.status = "offline"
            for attempt in self.attempts.values():
                if attempt.runner_id == runner_id and attempt.status == "running":
                    attempt.status = "lost"
            self.deregistered.append(runner_id)
            self.cond.notify_all()
            return 204, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = self.path.strip("/").split("/")
        with state.cond:
            state.requests.append((method, self.path))
            state.cond.notify_all()
        route = _route(method, parts)
        fault = state.next_fault(route)
        if fault == "drop":
            self.close_connection = True
            return
        if fault in ("503", "401", "410"):
            self._answer(int(fault), {"detail": f"injected {fault}"})
            return
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._answer(401, {"detail": "a valid token is needed"})
            return
        body: Any = json.loads(raw) if raw else {}
        if route == "register":
            status, answer = state.register(body)
        elif route == "claim":
            status, answer = state.claim(parts[2])
        elif route == "heartbeat":
            status, answer = state.heartbeat(parts[2], body)
        elif route == "events":
            status, answer = state.apply(int(parts[2]), body)
            if fault == "apply_then_drop":
                self.close_connection = True
                return
        elif route == "source":
            status, data = state.source(int(parts[2]))
            self._answer_bytes(status, data or b"", "application/gzip")
            return
        elif route == "deregister":
            status, answer = state.deregister(parts[2])
        else:
            status, answer = 404, {"detail": "no such route"}
        self._answer(status, answer)

    def _answer(self, status: int, data: Any) -> None:
        self._answer_bytes(status, b"" if data is None else json.dumps(data).encode(), "application/json")

    def _answer_bytes(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204:
            self.wfile.write(data)


def _route(method: str, parts: list[str]) -> str:
    if parts[:2] == ["api", "runners"]:
        if len(parts) == 2 and method == "POST":
            return "register"
        if len(parts) == 3 and method == "DELETE":
            return "deregister"
        if len(parts) == 4:
            return parts[3]  # claim | heartbeat
    if parts[:2] == ["api", "attempts"] and len(parts) == 4:
        return parts[3]  # events | source
    return "unknown"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ProtocolState) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away is not news
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection (keep-alive ones too): the server is really gone."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@contextmanager
def protocol_server(state: ProtocolState, port: int = 0) -> Iterator[str]:
    """Serve `state` on 127.0.0.1 (port 0: any free one) until the block ends; yields the base URL."""
    server = _Server(("127.0.0.1", port), state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join(10)
