"""`LogWriter`: log lines to the store from a background thread, in batches, in order, nothing lost.

Memory is bounded: `write` blocks while `max_queue` lines wait (backpressure slows
the step's reader, never drops a line), so at most `max_queue + max_batch` lines
are held. Each batch is one transaction; a batch that fails because the database is
unavailable is retried (inserts are idempotent), and an error that persists is
raised by the next `write`, `flush` or `close`.

Give each step attempt's lines in seq order (read_logs pages in commit order), and
`close()` the writer (or use it as a context manager): its thread is a daemon, and
lines still queued when the process exits are lost.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from plue.store.errors import StoreError, StoreUnavailable
from plue.store.logs import LogLineTuple

if TYPE_CHECKING:
    from plue.store.store import Store

RETRY_DELAYS = (0.1, 0.3, 1.0, 3.0)  # seconds, for a database that is briefly unavailable


class LogWriter:
    def __init__(self, store: Store, run_id: int, *, max_batch: int = 5_000, max_queue: int = 50_000) -> None:
        if not 1 <= max_batch <= max_queue:
            raise ValueError("need 1 <= max_batch <= max_queue")
        self.run_id = run_id
        self._store = store
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._changed = threading.Condition()
        # Guarded by _changed:
        self._chunks: deque[list[LogLineTuple]] = deque()
        self._queued = 0  # lines in _chunks
        self._given = 0  # lines accepted by write() so far
        self._committed = 0  # lines committed so far (a prefix of those given)
        self._closed = False
        self._error: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name=f"plue-log-writer-{run_id}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """How many lines wait for the writer thread."""
        with self._changed:
            return self._queued

    @property
    def committed(self) -> int:
        """How many lines are committed (in the order given)."""
        with self._changed:
            return self._committed

    def write(self, lines: Iterable[LogLineTuple]) -> None:
        """Queue `(step_id, attempt, seq, stream, at, text)` lines; blocks while the queue is full."""
        iterator = iter(lines)
        while chunk := list(itertools.islice(iterator, self._max_batch)):
            with self._changed:
                if self._queued + len(chunk) > self._max_queue:
                    self._wait_for_room(len(chunk))
                self._check()
                self._chunks.append(chunk)
                self._queued += len(chunk)
                self._given += len(chunk)
                self._changed.notify_all()

    def flush(self) -> None:
        """Wait until every line given so far is committed."""
        with self._changed:
            target = self._given
            while self._committed < target and self._error is None:
                self._changed.wait()
            if self._error is not None:
                raise self._error

    def close(self) -> None:
        """Commit what is queued, then stop the thread. Idempotent."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _wait_for_room(self, lines: int) -> None:
        """Backpressure: block the producer (with `_changed` held) until `lines` more fit in the queue."""
        while self._queued + lines > self._max_queue and self._error is None:
            self._changed.wait()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StoreError(f"the log writer of run {self.run_id} is closed")

    def _run(self) -> None:
        while batch := self._take():
            try:
                self._store_batch(batch)
            except Exception as exc:
                with self._changed:
                    lost = self._given - self._committed
                    self._error = StoreError(f"{lost} log lines of run {self.run_id} could not be stored: {exc}")
                    self._error.__cause__ = exc
                    self._changed.notify_all()
                return
            with self._changed:
                self._committed += len(batch)
                self._changed.notify_all()

    def _take(self) -> list[LogLineTuple]:
        """The next batch: whole chunks up to max_batch lines; empty once closed and drained."""
        with self._changed:
            while not self._chunks and not self._closed:
                self._changed.wait()
            batch: list[LogLineTuple] = []
            while self._chunks and len(batch) + len(self._chunks[0]) <= self._max_batch:
                batch.extend(self._chunks.popleft())
            # The queue has room again while this batch is written: the producer keeps going.
            self._queued -= len(batch)
            self._changed.notify_all()
            return batch

    def _store_batch(self, batch: Sequence[LogLineTuple]) -> None:
        for delay in (*RETRY_DELAYS, None):
            try:
                self._store.append_logs(self.run_id, batch)
                return
            except StoreUnavailable:
                if delay is None:
                    raise
                time.sleep(delay)
