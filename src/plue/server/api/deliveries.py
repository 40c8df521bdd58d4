"""`/api/deliveries`: the webhook deliveries received and what came of each, and redelivering one.

A redelivery ingests a stored delivery's payload again as a new delivery, `<id>-redelivery-N`
(N counting the redeliveries of the first delivery), exactly as the webhook route would: the
workflows of the event's commit as they are now, queued with the new delivery in one transaction.
Its reason starts with `redelivery of <id>`, so the list of deliveries says what it repeats.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Final

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query

from plue.server.api import models
from plue.server.api.state import ServerState, StateDep, get_store, not_found
from plue.server.auth import require
from plue.server.ingest import IngestResult
from plue.server.webhooks import DELIVERY_ID_RE, WebhookReply
from plue.store import Store, StoreUnavailable

router = APIRouter(prefix="/deliveries", tags=["deliveries"])

REDELIVERY_RE: Final = re.compile(r"(?P<first>.+)-redelivery-\d+\Z")
MAX_REDELIVERIES: Final = 10_000


@router.get("", response_model=models.DeliveryList, dependencies=[Depends(require("read"))])
def list_deliveries(
    store: Annotated[Store, Depends(get_store)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="the `next` of the previous page")] = None,
) -> models.DeliveryList:
    """Deliveries, newest first, a page at a time."""
    found = store.list_deliveries(limit=limit + 1, before=before)
    page = found[:limit]
    return models.DeliveryList(
        deliveries=[models.Delivery.model_validate(delivery.to_json()) for delivery in page],
        next=page[-1].id if len(found) > limit else None,
    )


@router.post(
    "/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookReply,
    dependencies=[Depends(require("write"))],
    responses={
        404: {"description": "no delivery has this id"},
        409: {"description": "the delivery's payload was not stored"},
        503: {"description": "the server cannot ingest now (database unavailable)"},
    },
)
async def redeliver(delivery_id: str, state: StateDep) -> WebhookReply:
    """Ingest a stored delivery's payload again as a new delivery (`<id>-redelivery-N`); answered like a webhook."""
    if state.ingestor is None:
        raise HTTPException(503, "this server cannot ingest deliveries: the ingest module failed to load")
    try:
        return await anyio.to_thread.run_sync(_redeliver, state, delivery_id)
    except StoreUnavailable as exc:
        raise HTTPException(503, f"the database is unavailable, try again later: {exc}") from None


def _redeliver(state: ServerState, delivery_id: str) -> WebhookReply:
    original = state.store.get_delivery(delivery_id)
    if original is None:
        raise not_found(f"no delivery {delivery_id}")
    if original.payload is None:
        raise HTTPException(409, f"delivery {delivery_id} has no stored payload to deliver again")
    matched = REDELIVERY_RE.match(original.delivery_id)
    first = matched.group("first") if matched else original.delivery_id
    note = f"redelivery of {original.delivery_id}"
    for number in range(1, MAX_REDELIVERIES + 1):
        new_id = f"{first}-redelivery-{number}"
        if not DELIVERY_ID_RE.match(new_id):  # too long for a delivery id: a fresh one
            new_id = f"redelivery-{uuid.uuid4()}"
        elif state.store.get_delivery(new_id) is not None:
            continue
        result: IngestResult = state.ingestor.handle(original.event, new_id, original.payload, note=note)
        if result.created:  # else another request took this id a moment ago: take the next one
            return WebhookReply(
                delivery=new_id, outcome=result.outcome, reason=result.reason, runs=result.run_ids, duplicate=False
            )
    raise HTTPException(409, f"delivery {delivery_id} was redelivered {MAX_REDELIVERIES} times already")
