"""The server's background work — the worker pool and the scheduler — started and stopped with the app.

`create_app`'s lifespan calls `start(state)` at startup and `stop(state)` at shutdown
(uvicorn runs the shutdown on SIGTERM or Ctrl-C after it stops accepting requests).
`start` also connects the webhook ingestor: runs it queues wake the workers at once,
and pushes to a default branch make the scheduler re-read its schedules.

Stopping: the scheduler first (no new scheduled runs), then the workers: claimed
runs get `STOP_GRACE_SECONDS` to finish, then they are cancelled (see `WorkerPool.stop`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from plue.sandbox import default_evaluator
from plue.server.api.state import ServerState
from plue.server.mirrors import Mirrors
from plue.server.scheduler import Scheduler
from plue.server.workers import WorkerPool

STOP_GRACE_SECONDS: Final = 10.0  # how long running runs may go on after a stop is asked for

log = logging.getLogger(__name__)


@dataclass
class Service:
    workers: WorkerPool
    scheduler: Scheduler

    def wake(self, run_ids: Sequence[int] = ()) -> None:
        """Runs were queued in this process (a delivery, a dispatch, a rerun): claim them now."""
        self.workers.wake()


def start(state: ServerState) -> Service:
    """Start the workers and the scheduler of the server `state` describes; wire the ingestor to them."""
    config = state.config
    if state.mirrors is None:
        state.mirrors = Mirrors.from_config(config)
    workers = WorkerPool(state.store, config, state.mirrors.get)
    scheduler = Scheduler(state.store, config, state.mirrors, evaluator=default_evaluator())
    service = Service(workers, scheduler)
    scheduler.on_queued = service.wake
    workers.start()
    scheduler.start()
    if state.ingestor is not None:
        state.ingestor.on_queued = service.wake
        state.ingestor.on_push = scheduler.invalidate
    log.info("%d workers and the scheduler started", workers.count)
    return service


def stop(state: ServerState, grace: float | None = None) -> None:
    """Stop what `start` started: nothing is left `running` in the store afterwards."""
    service: Service | None = state.service
    if service is None:
        return
    if state.ingestor is not None:
        state.ingestor.on_queued = None
        state.ingestor.on_push = None
    service.scheduler.stop()
    service.workers.stop(STOP_GRACE_SECONDS if grace is None else grace)
    state.service = None
    log.info("workers and scheduler stopped")
