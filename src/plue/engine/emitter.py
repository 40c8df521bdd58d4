"""The one place events leave the engine: in order, one at a time, with log lines batched.

Every event goes through one lock, so the sink is never called concurrently and
sees events in the order they happened. Log lines are buffered (across steps)
and sent as `StepLogs` batches when the buffer holds `batch_lines` lines or
`batch_chars` characters, when the engine's loop finds the oldest line older
than `flush_seconds`, and always before any other event: a sink sees every line
of an attempt before its `StepFinished`. A full buffer is sent by the thread
that filled it, while holding the lock: a slow sink slows the steps that log
(backpressure) instead of letting memory grow.

A sink that raises is a broken sink: its first exception is kept in `failure`,
`on_failure` is called (the engine cancels the run), later events are dropped,
and the engine re-raises the exception when the run has ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from plue.engine.events import EngineEvent, LogLine, Sink, StepLogs, Stream
from plue.engine.masking import Masker

BATCH_LINES: Final = 2000
BATCH_CHARS: Final = 1024 * 1024
FLUSH_SECONDS: Final = 0.1


class Emitter:
    def __init__(
        self,
        sink: Sink,
        masker: Masker,
        on_failure: Callable[[], None],
        *,
        batch_lines: int = BATCH_LINES,
        batch_chars: int = BATCH_CHARS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._sink = sink
        self._mask = masker
        self._masking = bool(masker)  # the hot path skips a call when there are no secrets
        self._on_failure = on_failure
        self._batch_lines = batch_lines
        self._batch_chars = batch_chars
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._buffer: list[LogLine] = []
        self._buffered_chars = 0
        self._oldest = 0.0  # time.monotonic() of the first buffered line
        self.failure: Exception | None = None

    def emit(self, event: EngineEvent) -> None:
        """Send a transition, after every line logged before it."""
        with self._lock:
            self._flush_locked()
            self._send(event)

    def attempt_log(self, step_id: str, attempt: int) -> AttemptLog:
        return AttemptLog(self, step_id, attempt)

    def flush_if_stale(self) -> None:
        with self._lock:
            if self._buffer and time.monotonic() - self._oldest >= self.flush_seconds:
                self._flush_locked()

    def append_line(self, log: AttemptLog, stream: Stream, text: str) -> None:
        if self._masking:
            text = self._mask(text)
        at = time.time()
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            log.seq += 1
            self._buffer.append(LogLine(log.step_id, log.attempt, log.seq, stream, at, text))
            self._buffered_chars += len(text)
            if len(self._buffer) >= self._batch_lines or self._buffered_chars >= self._batch_chars:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffer:
            batch = StepLogs(tuple(self._buffer))
            self._buffer.clear()
            self._buffered_chars = 0
            self._send(batch)

    def _send(self, event: EngineEvent) -> None:
        if self.failure is not None:
            return
        try:
            self._sink.emit(event)
        except Exception as exc:
            self.failure = exc
            self._on_failure()


class AttemptLog:
    """`StepContext.log` of one attempt: masks the text and numbers the line (``seq`` from 1)."""

    __slots__ = ("_emitter", "attempt", "seq", "step_id")

    def __init__(self, emitter: Emitter, step_id: str, attempt: int) -> None:
        self._emitter = emitter
        self.step_id = step_id
        self.attempt = attempt
        self.seq = 0  # written under the emitter's lock

    def __call__(self, stream: Stream, text: str) -> None:
        self._emitter.append_line(self, stream, text)
