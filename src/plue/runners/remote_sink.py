"""`RemoteSink`: the engine's sink on a runner — events to the server in numbered batches, in order, until acked.

    sink = RemoteSink(client, attempt_id, on_stopped=engine_cancel)
    Engine(..., sink).run()
    sink.close()          # True once the server holds every event; False if fenced, refused or aborted

Events are encoded (`plue.runners.wire`) as they arrive and queued. One sender thread
forms batches — when the oldest queued event is `batch_seconds` old, when
`batch_events` are queued, at once after a `step_finished` or `run_finished` — and
posts `{"seq": n, "events": [...]}` for n = 1, 2, ...; a batch is resent, with
capped exponential backoff and jitter, until the server acks it. Once a batch has a
seq its content never changes, so a batch the server applied before the answer was
lost is recognised as a duplicate. One batch is in flight at a time: order is kept.

Nothing is dropped while the server is away (a restart, a partition): events stay
queued here, so the server gets every one once it answers. Memory is bounded by
`max_queued_bytes`: past it `emit` waits (the engine's emitter then slows the steps
that log — backpressure — instead of growing without bound).

The sink stops for good (`stopped` is set, `on_stopped(reason)` is called once, what
it holds is dropped, later events are ignored) when the server says the attempt is
fenced (no longer the run's current one), when it refuses a batch as invalid (then it
sends one last `run_finished` failed with the reason, so the run does not stay
running), or on `abort()` (the agent was told the attempt is not its own any more).

The engine's contract is that a transition is durable before `emit` returns; here
"durable" means held by this runner until the server has it: the server restarting
loses nothing the runner still holds, the runner dying loses what the server has
not acked (the run is then retried as a new attempt once the runner is declared lost).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

from plue.engine import EngineEvent, LogLine, RunFinished, RunStarted, RunStatus, StepFinished, StepLogs
from plue.runners.client import Backoff, Fenced, Rejected
from plue.runners.wire import encode

BATCH_SECONDS: Final = 0.05
BATCH_EVENTS: Final = 1000  # the server takes up to 5,000
MAX_BATCH_BYTES: Final = 4 * 1024 * 1024  # the server takes up to 8 MiB
MAX_EVENT_BYTES: Final = 1024 * 1024  # larger step_logs events are split (their lines keep their order)
MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024
RETRY_INITIAL_SECONDS: Final = 0.1
RETRY_CAP_SECONDS: Final = 5.0

log = logging.getLogger(__name__)


class EventPoster(Protocol):
    """What the sink needs of `RunnerClient`."""

    def send_events(self, attempt_id: int, body: bytes) -> int: ...


def _batch(seq: int, events: list[bytes]) -> bytes:
    return b'{"seq":%d,"events":[%b]}' % (seq, b",".join(events))


def to_json(data: Any) -> bytes:
    """Compact JSON; a lone surrogate in a string becomes a ``\\udXXX`` escape rather than an error."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


class RemoteSink:
    """See the module docstring. Thread-safe; `emit` may block (backpressure), the rest never for long."""

    def __init__(
        self,
        client: EventPoster,
        attempt_id: int,
        *,
        on_stopped: Callable[[str], None] | None = None,
        batch_seconds: float = BATCH_SECONDS,
        batch_events: int = BATCH_EVENTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        retry_initial: float = RETRY_INITIAL_SECONDS,
        retry_cap: float = RETRY_CAP_SECONDS,
    ) -> None:
        self._client = client
        self.attempt_id = attempt_id
        self._on_stopped = on_stopped
        self._batch_seconds = batch_seconds
        self._batch_events = batch_events
        self._max_batch_bytes = max_batch_bytes
        self._max_queued_bytes = max_queued_bytes
        self._retry = (retry_initial, retry_cap)
        self._cond = threading.Condition()
        # Guarded by _cond:
        self._queue: deque[bytes] = deque()  # encoded events without a batch yet
        self._queued_bytes = 0
        self._oldest = 0.0  # monotonic time the oldest queued event arrived
        self._urgent = False  # send what is queued now
        self._in_flight = False
        self._in_flight_events = 0
        self._closing = False  # no more events will come; the sender ends when everything is acked
        self._next_seq = 1
        self.acked = 0  # the highest batch seq the server holds
        self.sent_events = 0  # events the server acked
        self.stop_reason: str | None = None  # why the sink stopped for good (None: it did not)
        self._final_report: bytes | None = None  # a last run_finished after a refused batch
        self.stopped = threading.Event()  # fenced, refused or aborted
        self.run_started = False  # a RunStarted / RunFinished was emitted (a failure report adds what is missing)
        self.run_finished = False
        self.finish_acked = False  # the server holds every event up to and including RunFinished
        self._wake_sleep = threading.Event()  # interrupts a retry's backoff (abort)
        self._sender = threading.Thread(target=self._send_loop, name=f"plue-sink-{attempt_id}", daemon=True)
        self._sender.start()

    # --- the engine's side ----------------------------------------------------------------------

    def emit(self, event: EngineEvent) -> None:
        encoded = self._encode(event)
        urgent = isinstance(event, StepFinished | RunFinished)
        if isinstance(event, RunStarted):
            self.run_started = True
        elif isinstance(event, RunFinished):
            self.run_finished = True
        with self._cond:
            # Backpressure: wait for the server to take some (or for the sink to stop).
            while self._queued_bytes > self._max_queued_bytes and not self.stopped.is_set():
                self._cond.wait()
            if self.stopped.is_set() or self._closing:
                return
            if not self._queue:
                self._oldest = time.monotonic()
            for item in encoded:
                self._queue.append(item)
                self._queued_bytes += len(item)
            if urgent or len(self._queue) >= self._batch_events:
                self._urgent = True
            self._cond.notify_all()

    # --- the agent's side -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now and wait until the server has acked all of it (True) or the sink stopped or
        `timeout` passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while (self._queue or self._in_flight) and not self.stopped.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not self.stopped.is_set()

    def close(self, timeout: float | None = None) -> bool:
        """No more events: wait until every one is acked (True) or the sink stopped or `timeout` passed (False).

        After a timeout the sender keeps trying in the background until `abort()`.
        """
        acked = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if acked or self.stopped.is_set():
            self._sender.join(timeout)
        return acked

    def abort(self, reason: str = "aborted") -> None:
        """Stop now: drop everything unsent, send nothing more (the attempt is not this runner's any more)."""
        self._stop(reason)

    @property
    def pending(self) -> int:
        """Events not acked yet (queued, or in the batch in flight)."""
        with self._cond:
            return len(self._queue) + (1 if self._in_flight else 0)

    # --- the sender thread ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self.stopped.is_set():
                    if self._queue and (self._urgent or self._closing):
                        break
                    if self._queue:
                        due = self._oldest + self._batch_seconds - time.monotonic()
                        if due <= 0:
                            break
                        self._cond.wait(due)
                    elif self._closing:
                        return
                    else:
                        self._cond.wait()
                if self.stopped.is_set():
                    break
                seq, body = self._take_batch()
            self._deliver(seq, body)
            with self._cond:
                self._in_flight = False
                self._cond.notify_all()
        self._send_final_report()

    def _take_batch(self) -> tuple[int, bytes]:
        """The next batch from the queue (at least one event); called holding the lock."""
        events: list[bytes] = []
        size = 0
        while self._queue and len(events) < self._batch_events:
            item = self._queue[0]
            if events and size + len(item) > self._max_batch_bytes:
                break
            events.append(self._queue.popleft())
            size += len(item)
        self._queued_bytes -= size
        if not self._queue:
            self._urgent = False
        else:
            self._oldest = time.monotonic()
        self._in_flight = True
        seq = self._next_seq
        self._next_seq += 1
        self._in_flight_events = len(events)
        self._cond.notify_all()  # an emit waiting for room
        return seq, _batch(seq, events)

    def _deliver(self, seq: int, body: bytes) -> None:
        """Post the batch until the server acks it, or the sink stops."""
        backoff = Backoff(*self._retry)
        failures = 0
        while not self.stopped.is_set():
            try:
                acked = self._client.send_events(self.attempt_id, body)
            except Fenced as exc:
                self._stop(f"fenced: {exc}")
                return
            except Rejected as exc:
                self._refused(str(exc), seq)
                return
            except Exception as exc:  # Unreachable, or anything else: never lose the batch, try again
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("attempt %s: batch %s not delivered yet (%s); retrying", self.attempt_id, seq, exc)
                self._wake_sleep.wait(backoff.next())
                continue
            if acked >= seq:
                with self._cond:
                    self.acked = acked
                    self.sent_events += self._in_flight_events
                    self.finish_acked = self.run_finished and not self._queue
                return
            if acked < seq - 1:
                # The server lost batches it had acked (its database went back in time): nothing can mend that.
                self._refused(f"the server acked batch {acked} after batch {seq - 1} was acked", acked + 1)
                return
            # acked == seq - 1: not applied (the server was busy); send it again.
            self._wake_sleep.wait(backoff.next())

    def _refused(self, reason: str, seq: int) -> None:
        """The server will not store this attempt's events: end the run failed with the reason (as batch `seq`,
        the one the server expects next), stop."""
        error = f"the server refused the runner's events: {reason}"
        log.error("attempt %s: %s", self.attempt_id, error)
        final = to_json(encode(RunFinished(RunStatus.FAILED, time.time(), error)))
        with self._cond:
            self._final_report = _batch(seq, [final])
        self._stop(error)

    def _send_final_report(self) -> None:
        report = self._final_report
        if report is None:
            return
        backoff = Backoff(*self._retry)
        for _ in range(5):  # best effort: the server refused this attempt's events once already
            try:
                self._client.send_events(self.attempt_id, report)
                return
            except (Fenced, Rejected):
                return
            except Exception:
                threading.Event().wait(backoff.next())

    def _stop(self, reason: str) -> None:
        with self._cond:
            if self.stopped.is_set():
                return
            self.stop_reason = reason
            self.stopped.set()
            self._wake_sleep.set()
            self._queue.clear()
            self._queued_bytes = 0
            self._cond.notify_all()
        if self._on_stopped is not None:
            try:
                self._on_stopped(reason)
            except Exception:
                log.exception("attempt %s: the on_stopped callback failed", self.attempt_id)

    # --- encoding -------------------------------------------------------------------------------------

    @staticmethod
    def _encode(event: EngineEvent) -> list[bytes]:
        """The event as JSON, a step_logs event split into pieces of at most MAX_EVENT_BYTES."""
        encoded = to_json(encode(event))
        if len(encoded) <= MAX_EVENT_BYTES or not isinstance(event, StepLogs) or len(event.lines) < 2:
            return [encoded]
        half = len(event.lines) // 2
        pieces: tuple[tuple[LogLine, ...], ...] = (event.lines[:half], event.lines[half:])
        return [item for lines in pieces for item in RemoteSink._encode(StepLogs(lines))]
