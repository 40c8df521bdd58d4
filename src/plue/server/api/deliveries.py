"""`/api/deliveries`: the webhook deliveries received and what came of each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from plue.server.api import models
from plue.server.api.state import get_store
from plue.server.auth import require
from plue.store import Store

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


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
