"""A Plue app under uvicorn in a thread of the bench process (for benchmarks whose clients share its GIL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from plue.server.queue_signal import queue_signal


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # the thread cannot take signals
        pass


@contextmanager
def serve(app: FastAPI, port: int = 0) -> Iterator[str]:
    """Run `app` (its lifespan too) under uvicorn in a thread on 127.0.0.1:`port` (0: any); its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="bench-server", daemon=True)
    thread.start()
    if not server.ready.wait(60) or not server.started:
        server.should_exit = True
        raise SystemExit("bench: the server did not start")
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        queue_signal(app.state.plue).close()  # runner claims waiting in a long poll would hold the shutdown up
        server.should_exit = True
        thread.join(60)
