"""`create_app`: the server as one FastAPI application.

    POST /webhooks/github          signed GitHub deliveries (plue.server.webhooks)
    /api/...                       the JSON API, bearer tokens (plue.server.api, plue.server.auth)
    GET  /api/runs/{id}/events     a run as Server-Sent Events (plue.server.sse)
    GET  /healthz                  the server and its database answer
    GET  /openapi.json, /docs      the API's schema and its browsable documentation

The lifespan starts the workers and the scheduler (plue.server.service) unless
`start_background=False` (API tests), and closes the store it opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, HTTPException

from plue import __version__
from plue.sandbox import default_evaluator
from plue.server import service, sse, webhooks
from plue.server.api import models
from plue.server.api.routes import api_router
from plue.server.api.state import ServerState, server_state
from plue.server.config import ServerConfig
from plue.server.delivery_batcher import DeliveryBatcher
from plue.server.ingest import Ingestor
from plue.server.mirrors import Mirrors
from plue.store import Store, StoreError


def create_app(config: ServerConfig, *, store: Store | None = None, start_background: bool = True) -> FastAPI:
    """The server application for `config`; it uses `store` (left open) or opens its own (closed at shutdown)."""
    owns_store = store is None
    if store is None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(url=config.store_url)
    mirrors = Mirrors.from_config(config)
    state = ServerState(config=config, store=store, mirrors=mirrors)
    deliveries = state.deliveries = DeliveryBatcher(store)  # group commit of webhook deliveries
    state.ingestor = Ingestor(config, deliveries, mirrors, default_evaluator())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            if start_background:
                state.service = await anyio.to_thread.run_sync(service.start, state)
            yield
        finally:
            try:
                if state.service is not None:
                    await anyio.to_thread.run_sync(service.stop, state)
                await anyio.to_thread.run_sync(deliveries.close)
            finally:
                if owns_store:
                    state.store.close()

    app = FastAPI(
        title="Plue",
        version=__version__,
        description="Workflows written in Python: webhooks in, runs out. Every /api route needs a bearer token.",
        lifespan=lifespan,
    )
    app.state.plue = state
    app.add_middleware(webhooks.WebhookFastPath)
    app.include_router(webhooks.router)
    app.include_router(api_router)
    app.include_router(sse.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], response_model=models.Health, tags=["server"])
    return app


def healthz(state: Annotated[ServerState, Depends(server_state)]) -> models.Health:
    """200 when the database answers, else 503."""
    try:
        state.store.list_runs(limit=1)
    except StoreError as exc:
        raise HTTPException(503, f"the database does not answer: {exc}") from None
    return models.Health(status="ok", database=state.store.url)
