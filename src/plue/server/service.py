"""The server's background work — the worker pool, the scheduler, the reaper of lost runners — started
and stopped with the app.

`create_app`'s lifespan calls `start(state)` at startup and `stop(state)` at shutdown
(uvicorn runs the shutdown on SIGTERM or Ctrl-C after it stops accepting requests).
`start` also connects the webhook ingestor: runs it queues wake the workers and the
runner agents' waiting claims (`QueueSignal`) at once, and pushes to a default branch
make the scheduler re-read its schedules.

Stopping: waiting runner claims end, the scheduler stops (no new scheduled runs), then the
reaper, then the workers: claimed runs get `STOP_GRACE_SECONDS` to finish, then they are
cancelled (see `WorkerPool.stop`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from plue.sandbox import default_evaluator
from plue.server import pool_service
from plue.server.api.state import ServerState
from plue.server.mirrors import Mirrors
from plue.server.queue_signal import EXTRAS_KEY, QueueSignal
from plue.server.reaper import Reaper
from plue.server.scheduler import Scheduler
from plue.server.workers import WorkerPool

if TYPE_CHECKING:
    from plue.runners.pool import PoolController

STOP_GRACE_SECONDS: Final = 10.0  # how long running runs may go on after a stop is asked for

log = logging.getLogger(__name__)


@dataclass
class Service:
    workers: WorkerPool
    scheduler: Scheduler
    queue_signal: QueueSignal = field(default_factory=QueueSignal)
    reaper: Reaper | None = None
    pool: PoolController | None = None  # the warm pool's controller, when pools are configured

    def wake(self, run_ids: Sequence[int] = ()) -> None:
        """Runs were queued in this process (a delivery, a dispatch, a rerun): claim them now."""
        self.workers.wake()
        self.queue_signal.notify()
        if self.pool is not None:
            self.pool.wake()  # grow the pool now rather than at its next tick


def start(state: ServerState) -> Service:
    """Start the workers and the scheduler of the server `state` describes; wire the ingestor to them."""
    config = state.config
    if state.mirrors is None:
        state.mirrors = Mirrors.from_config(config)
    workers = WorkerPool(state.store, config, state.mirrors.get)
    scheduler = Scheduler(state.store, config, state.mirrors, evaluator=default_evaluator())
    signal = state.extras[EXTRAS_KEY] = QueueSignal()  # a fresh one: a stopped server's was closed
    reaper = Reaper(state.store, config.runners, on_requeued=signal.notify)
    service = Service(workers, scheduler, signal, reaper)
    scheduler.on_queued = service.wake
    workers.start()
    scheduler.start()
    reaper.start()
    service.pool = pool_service.start_pool(state)  # None without [[pool.pools]]; sets state.extras["pool"]
    if state.ingestor is not None:
        state.ingestor.on_queued = service.wake
        state.ingestor.on_push = scheduler.invalidate
    log.info("%d workers, the scheduler and the runner reaper started", workers.count)
    return service


def stop(state: ServerState, grace: float | None = None) -> None:
    """Stop what `start` started: nothing is left `running` in the store afterwards."""
    service: Service | None = state.service
    if service is None:
        return
    if state.ingestor is not None:
        state.ingestor.on_queued = None
        state.ingestor.on_push = None
    pool_service.stop_pool(state)
    service.queue_signal.close()
    service.scheduler.stop()
    if service.reaper is not None:
        service.reaper.stop()
    service.workers.stop(STOP_GRACE_SECONDS if grace is None else grace)
    state.service = None
    log.info("workers and scheduler stopped")
