"""`/api/tokens`: the API tokens (names and scopes; never the tokens themselves)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from plue.server.api import models
from plue.server.api.state import get_store
from plue.server.auth import require
from plue.store import Store

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=list[models.Token], dependencies=[Depends(require("admin"))])
def list_tokens(store: Annotated[Store, Depends(get_store)]) -> list[models.Token]:
    return [models.Token.model_validate(token.to_json()) for token in store.list_tokens()]
