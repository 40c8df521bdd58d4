"""`POST /webhooks/github`: a GitHub delivery in, runs queued (or the reason none were), 202 out.

Order matters, cheapest and least trusting first: the body is read with a size limit
(`Content-Length` checked before a byte is read, then counted while reading, so a
client cannot make the server buffer more than the limit), the signature is checked
over the raw bytes, and only then is anything parsed. Deciding what the delivery
means (git, the sandbox) runs in a worker thread so the event loop keeps serving;
recording it waits, without a thread, for the group commit (`DeliveryBatcher`). A bad
request gets a 4xx with one sentence in `detail`; 5xx only when the server itself
cannot work (no ingestor, database down), which GitHub shows as a failed delivery
that can be redelivered.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from plue.server.api.state import ServerState, server_state
from plue.server.deliveries import MAX_BODY_BYTES, DeliveryRefused, decode_body, verify_signature
from plue.server.ingest import PreparedDelivery
from plue.store import StoreUnavailable

# GitHub sends GUIDs; other senders use numbers. Anything else is not a delivery id.
DELIVERY_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,200}\Z")
EVENT_NAME_RE: Final = re.compile(r"[a-z_]{1,64}\Z")
WEBHOOK_PATH: Final = "/webhooks/github"
# Deliveries up to this size may be decided on the event loop (a push is typically 5-30 KiB); walking a
# larger payload there would hold up every other request, so it is decided in a thread.
INLINE_DECIDE_MAX_BYTES: Final = 512 * 1024

router = APIRouter(tags=["webhooks"])


class WebhookReply(BaseModel):
    """What came of a delivery."""

    delivery: str = Field(description="the X-GitHub-Delivery id")
    outcome: str = Field(description="queued | ignored | error")
    reason: str | None = Field(description="why nothing (or not everything) was queued")
    runs: list[int] = Field(description="ids of the runs this delivery queued")
    duplicate: bool = Field(description="true when this delivery id was handled before: nothing new was queued")


@router.post(
    WEBHOOK_PATH,
    status_code=202,
    response_model=WebhookReply,
    responses={
        400: {"description": "a header is missing or the payload is not a JSON object"},
        401: {"description": "the signature is missing or wrong"},
        413: {"description": "the body is larger than 25 MiB"},
        503: {"description": "the server cannot take deliveries now (database unavailable)"},
    },
)
async def github_webhook(request: Request, state: Annotated[ServerState, Depends(server_state)]) -> Response:
    """Take a signed GitHub delivery: queue the runs of the workflows it triggers, once per delivery id."""
    return await take_delivery(request, state)


class WebhookFastPath:
    """ASGI middleware: `POST /webhooks/github` goes straight to `take_delivery`, everything else on.

    The webhook is the hottest route by far (GitHub sends every push, pull request and comment),
    and FastAPI's router, dependency solving and exception wrappers cost about as much CPU as
    the delivery's own checks. The route above stays declared, so the OpenAPI schema documents
    it and a server without this middleware answers the same.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH and scope["method"] == "POST":
            request = Request(scope, receive)
            response = await take_delivery(request, request.app.state.plue)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def take_delivery(request: Request, state: ServerState) -> Response:
    """Check, decide and record one delivery; the answer (202 with a `WebhookReply`, or an error's `detail`)."""
    try:
        body = await read_limited_body(request, MAX_BODY_BYTES)
        verify_signature(state.config.webhook_secrets, body, request.headers.get("x-hub-signature-256"))
        event_name = required_header(request, "X-GitHub-Event", EVENT_NAME_RE)
        delivery_id = required_header(request, "X-GitHub-Delivery", DELIVERY_ID_RE)
        # Deciding a small delivery may run on the event loop; a huge payload is parsed and walked in a
        # thread, so the loop serves the other requests meanwhile.
        small = len(body) <= INLINE_DECIDE_MAX_BYTES
        content_type = request.headers.get("content-type")
        if small:
            payload = decode_body(body, content_type)
        else:
            payload = await anyio.to_thread.run_sync(decode_body, body, content_type)
    except DeliveryRefused as refused:
        return _error(refused.status, refused.reason)
    ingestor = state.ingestor
    if ingestor is None:
        return _error(503, "this server cannot ingest webhooks: the ingest module failed to load")
    try:
        if state.deliveries is None:
            result = await anyio.to_thread.run_sync(ingestor.handle, event_name, delivery_id, payload)
        else:
            # Deciding runs here when all it needs is remembered (the usual push to a known commit: CPU
            # only, which a thread would not run any sooner under the GIL, and a hand-off costs latency);
            # else in a thread (git, the sandbox). The commit is waited for without a thread, so deliveries
            # waiting for their group commit do not tie up the thread pool.
            remembered = ingestor.prepare_from_memory(event_name, delivery_id, payload) if small else None
            prepared: PreparedDelivery = (
                remembered
                if remembered is not None
                else await anyio.to_thread.run_sync(ingestor.prepare, event_name, delivery_id, payload)
            )
            record, created = await state.deliveries.record(prepared.delivery)
            result = ingestor.finish(prepared, record, created)
    except StoreUnavailable as exc:
        return _error(503, f"the database is unavailable, redeliver later: {exc}")
    # The reply's shape is `WebhookReply` (the documented response model); built directly, as the
    # hottest route's answer need not be validated again.
    reply = {
        "delivery": delivery_id,
        "outcome": result.outcome,
        "reason": result.reason,
        "runs": result.run_ids,
        "duplicate": not result.created,
    }
    return JSONResponse(reply, status_code=202)


def _error(status: int, detail: str) -> JSONResponse:
    """An error answer shaped as FastAPI's `HTTPException` answers are."""
    return JSONResponse({"detail": detail}, status_code=status)


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    too_large = DeliveryRefused(413, f"the body is larger than the {limit // (1024 * 1024)} MiB limit")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise DeliveryRefused(400, "malformed Content-Length header")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def required_header(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    value = request.headers.get(name)
    if not value:
        raise DeliveryRefused(400, f"missing {name} header")
    if not pattern.match(value):
        raise DeliveryRefused(400, f"malformed {name} header")
    return value
