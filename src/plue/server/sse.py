"""`GET /api/runs/{id}/events`: a run as a Server-Sent Events stream.

Events:
    step   a step attempt's transition: {"step", "attempt", "status", "at", ...} (running, then its end)
    log    a log line, as in `/api/runs/{id}/logs`
    end    the run finished: {"status", "error"}; the stream then closes

Event ids are a cursor `L:T`: L the id of the last log line sent (the store's log row id), T the
number of step transitions sent. Each event raises exactly one of the two, so ids increase in
(L, T) order, and `Last-Event-ID: L:T` resumes exactly after that event: the lines after L and the
transitions after the first T. Transitions are numbered in the order of their time (then plan
order), derived from the stored step attempts, so every stream of a run numbers them alike. (Two
parallel steps whose transitions are stored in the opposite order of their times within one poll
interval could be numbered differently by a stream that saw only the first: the price of deriving
the numbering instead of storing it.)

The store is the only channel between the server and whoever executes the run, so the stream works
whichever process runs it: it reads the store again as soon as the store reports a change of the run
(`Store.watch_changes`: a PostgreSQL notification from any process, or a commit of this process on
SQLite), and every `poll_seconds` (1 s) in case a change went unreported (another process on SQLite).
A `: keep-alive` comment goes out when nothing else did for `keepalive_seconds` (15 s), so proxies keep
the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import StreamingResponse

from plue.server.api.shaping import ordered_plan_steps
from plue.server.api.state import ServerState, StreamSettings, not_found, server_state
from plue.server.auth import require
from plue.store import LogRecord, RunRecord, Store

router = APIRouter(tags=["runs"])

FINISHED = ("success", "failed", "cancelled", "interrupted")
LOG_PAGE = 1000


@dataclass(frozen=True)
class Cursor:
    log: int = 0  # the last log row id sent
    transitions: int = 0  # how many transitions were sent

    def text(self) -> str:
        return f"{self.log}:{self.transitions}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        log, sep, transitions = text.strip().partition(":")
        if not sep or not log.isdigit() or not transitions.isdigit():
            raise ValueError(f"Last-Event-ID {text[:40]!r} is not an event id of this stream (LOG:TRANSITIONS)")
        return cls(int(log), int(transitions))


@dataclass(frozen=True)
class Transition:
    at: float
    data: dict[str, Any]


def transitions(run: RunRecord) -> list[Transition]:
    """Every step transition stored so far, in the stream's order: time, then start before end, then plan."""
    order = {str(spec["id"]): index for index, spec in enumerate(ordered_plan_steps(run))}
    keyed: list[tuple[tuple[float, int, int, int], Transition]] = []
    for attempt in run.attempts:
        place = order.get(attempt.id, len(order))
        if attempt.started_at is not None:
            start = {"step": attempt.id, "attempt": attempt.attempt, "status": "running", "at": attempt.started_at}
            keyed.append(((attempt.started_at, 0, place, attempt.attempt), Transition(attempt.started_at, start)))
        if attempt.status not in ("pending", "running") and attempt.finished_at is not None:
            end = {
                "step": attempt.id,
                "attempt": attempt.attempt,
                "status": attempt.status,
                "at": attempt.finished_at,
                "exit_code": attempt.exit_code,
                "outputs": attempt.outputs,
                "error": attempt.error,
                "reason": attempt.reason,
                "reused": attempt.reused,
            }
            keyed.append(((attempt.finished_at, 1, place, attempt.attempt), Transition(attempt.finished_at, end)))
    keyed.sort(key=lambda item: item[0])
    return [transition for _, transition in keyed]


def format_event(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))  # one line: JSON escapes newlines
    return ("\n".join(lines) + "\n\n").encode()


class RunStream:
    """The events of one run from `cursor` on."""

    def __init__(self, store: Store, run_id: int, cursor: Cursor, settings: StreamSettings) -> None:
        self.store = store
        self.run_id = run_id
        self.cursor = cursor
        self.settings = settings

    async def events(self) -> AsyncIterator[bytes]:
        changed = ChangeSignal()
        unwatch = await anyio.to_thread.run_sync(self.store.watch_changes, self.run_id, changed.set)
        try:
            async for chunk in self._follow(changed):
                yield chunk
        finally:
            unwatch()

    async def _follow(self, changed: ChangeSignal) -> AsyncIterator[bytes]:
        last_sent = time.monotonic()
        while True:
            changed.clear()  # before reading: a change committed from here on ends the next wait
            # The state is read before the lines: a run stores all its lines before it ends, so
            # once it is seen finished, the lines read after are all there are.
            run = await anyio.to_thread.run_sync(self.store.get_run, self.run_id)
            if run is None:
                return
            sent = False
            async for chunk in self._new_events(run):
                sent = True
                yield chunk
            if run.status in FINISHED:
                yield format_event("end", {"status": run.status, "error": run.error})
                return
            now = time.monotonic()
            if sent:
                last_sent = now
            elif now - last_sent >= self.settings.keepalive_seconds:
                last_sent = now
                yield b": keep-alive\n\n"
            await changed.wait(self.settings.poll_seconds)

    async def _new_events(self, run: RunRecord) -> AsyncIterator[bytes]:
        pending = transitions(run)[self.cursor.transitions :]
        while True:
            lines = await anyio.to_thread.run_sync(self._read_logs)
            # Merge by time, each sequence kept in its own order: a step's start comes before its
            # lines, its end after them.
            for line in lines:
                while pending and _before(pending[0], line):
                    yield self._transition(pending.pop(0))
                yield self._line(line)
            if len(lines) < LOG_PAGE:
                break
        while pending:
            yield self._transition(pending.pop(0))

    def _read_logs(self) -> list[LogRecord]:
        return self.store.read_logs(self.run_id, after=self.cursor.log, limit=LOG_PAGE)

    def _transition(self, transition: Transition) -> bytes:
        self.cursor = Cursor(self.cursor.log, self.cursor.transitions + 1)
        return format_event("step", transition.data, self.cursor.text())

    def _line(self, line: LogRecord) -> bytes:
        self.cursor = Cursor(line.id, self.cursor.transitions)
        return format_event("log", line.to_json(), self.cursor.text())


class ChangeSignal:
    """Set from any thread (the store's notifier) when the run changed; the stream's task waits on it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody follows the stream any more
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        """Until set, or `timeout` seconds at most."""
        with anyio.move_on_after(timeout):
            await self._event.wait()


def _before(transition: Transition, line: LogRecord) -> bool:
    if transition.data["status"] == "running":
        return transition.at <= line.at
    return transition.at < line.at


@router.get(
    "/api/runs/{run_id}/events",
    dependencies=[Depends(require("read"))],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "step, log and end events"}},
)
async def run_events(
    run_id: int,
    state: Annotated[ServerState, Depends(server_state)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The run's step transitions and log lines as they are stored; `Last-Event-ID` resumes after an event."""
    try:
        cursor = Cursor.parse(last_event_id)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if await anyio.to_thread.run_sync(state.store.get_run, run_id) is None:
        raise not_found(f"no run {run_id}")
    stream = RunStream(state.store, run_id, cursor, state.streams)
    return StreamingResponse(
        stream.events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
