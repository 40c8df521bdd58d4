"""What every route reaches through `request.app.state.plue`: the config, the store, the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from plue.store import Store

if TYPE_CHECKING:
    from plue.server.config import ServerConfig
    from plue.server.mirrors import Mirrors


@dataclass(frozen=True)
class StreamSettings:
    """How SSE streams follow the store: they wake on its change notifications, and poll every
    `poll_seconds` for changes it could not report (another process's, on SQLite)."""

    poll_seconds: float = 1.0
    keepalive_seconds: float = 15.0


@dataclass
class ServerState:
    config: ServerConfig
    store: Store
    mirrors: Mirrors | None = None
    ingestor: Any = None  # plue.server.ingest.Ingestor, when it could be built
    deliveries: Any = None  # plue.server.delivery_batcher.DeliveryBatcher: the ingestor's group commit
    service: Any = None  # what plue.server.service.start returned (workers + scheduler), if started
    streams: StreamSettings = field(default_factory=StreamSettings)
    extras: dict[str, Any] = field(default_factory=dict)


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.plue
    return state


StateDep = Annotated[ServerState, Depends(server_state)]


def wake_workers(state: ServerState) -> None:
    """A run was queued: idle workers of this process claim it now rather than at their next poll."""
    if state.service is not None:
        state.service.wake()
    else:  # no background service (tests, benchmarks): runner claims still wake at once
        from plue.server.queue_signal import queue_signal

        queue_signal(state).notify()


def get_store(request: Request) -> Store:
    return server_state(request).store


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=what)
