"""`QueueSignal`: "runs were queued" in this process, for the long-polling claims of runner agents.

Whoever queues runs (the ingestor, the scheduler, a dispatch, a rerun) calls `Service.wake`, which
`notify()`s the signal from its own thread; a claim request waiting in the event loop wakes at once and
tries to claim. Runs queued by other processes are not announced here: claimers also poll (see
`plue.server.api.runners`). `close()` (the server stops) ends every wait and every later one at once.

The signal is a version counter: a claimer takes `version()` *before* it tries to claim, then waits for
a version above it, so a run queued between the claim and the wait is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from plue.server.api.state import ServerState

EXTRAS_KEY: Final = "queue_signal"


class QueueSignal:
    """Thread-safe to notify; awaited by coroutines of any event loop."""

    def __init__(self) -> None:
        # Re-entrant: `close` may be called from a signal handler that interrupted this thread inside it.
        self._lock = threading.RLock()
        self._version = 0  # guarded by _lock, as are the two below
        self._closed = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def version(self) -> int:
        with self._lock:
            return self._version

    def waiting(self) -> int:
        """How many claims wait right now."""
        with self._lock:
            return len(self._waiters)

    def notify(self) -> None:
        """Runs were queued (or put back in the queue): wake every waiting claimer."""
        with self._lock:
            self._version += 1
            waiters = list(self._waiters)
        _wake(waiters)

    def close(self) -> None:
        """The server stops: end every wait now and refuse to wait from now on."""
        with self._lock:
            self._closed = True
            self._version += 1
            waiters = list(self._waiters)
        _wake(waiters)

    async def wait(self, after: int, timeout: float) -> int:
        """Until the version is above `after` (or the signal is closed), `timeout` seconds at most; the version."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._version > after or self._closed:
                return self._version
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        return self.version()


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    for loop, event in waiters:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there any more
            loop.call_soon_threadsafe(event.set)


def queue_signal(state: ServerState) -> QueueSignal:
    """The server's signal (made on first use; kept in `state.extras`)."""
    signal = state.extras.get(EXTRAS_KEY)
    if not isinstance(signal, QueueSignal):
        signal = state.extras.setdefault(EXTRAS_KEY, QueueSignal())
    assert isinstance(signal, QueueSignal)
    return signal
