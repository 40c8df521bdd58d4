"""The reaper: a server thread that declares runner agents lost when they fall silent.

Every `heartbeat_seconds` it calls `Store.reap_lost_runners(lost_after_seconds)`: a runner whose last
heartbeat is older than that is `lost`, its running attempts too, and their runs are queued again as a
new attempt (or finished, after the plan's `max_attempts`); see `plue.store.attempts`. Each lost attempt
is logged; when runs went back to the queue, `on_requeued()` wakes the claimers waiting in this process.
Several servers on one database may all reap: the store hands each silent runner to one of them.
A server that starts waits `lost_after_seconds` before its first pass: runners could not report while
it was down, and must get the time to reach it before they are judged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from plue.server.config import RunnerSettings
from plue.store import LostAttempt, Store, StoreError

MIN_INTERVAL_SECONDS: Final = 0.05

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, store: Store, settings: RunnerSettings, on_requeued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.on_requeued = on_requeued
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the reaper is already started")
        self._thread = threading.Thread(target=self._loop, name="plue-runner-reaper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def reap(self, at: float | None = None) -> list[LostAttempt]:
        """One pass: the attempts declared lost (logged, claimers woken when runs were queued again)."""
        lost = self.store.reap_lost_runners(self.settings.lost_after_seconds, at=at)
        for item in lost:
            outcome = f"run {item.run_id} queued again" if item.requeued else f"run {item.run_id} ended"
            log.warning("attempt %d (%s) lost: %s; %s", item.attempt_id, item.runner_name, item.reason, outcome)
        if any(item.requeued for item in lost) and self.on_requeued is not None:
            self.on_requeued()
        return lost

    def _loop(self) -> None:
        interval = max(MIN_INTERVAL_SECONDS, self.settings.heartbeat_seconds)
        # No runner could report while no server ran: give them lost_after_seconds from this start before
        # declaring any lost, or a restart after a long outage would retry (and fence) every run in flight.
        quiet_until = time.monotonic() + self.settings.lost_after_seconds
        while not self._stopping.wait(interval):
            if time.monotonic() < quiet_until:
                continue
            try:
                self.reap()
            except StoreError as exc:
                log.warning("cannot look for lost runners: %s", exc)
            except Exception:  # the thread must survive anything one pass does
                log.exception("the runner reaper failed")
