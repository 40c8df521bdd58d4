"""Bearer-token authentication for `/api`: `Depends(require("write"))` on a route.

Scopes are levels: read < write < admin (a write token may read; an admin token may do
everything). The `runner` scope stands apart: a `plue runner` agent's token is accepted by the
runner routes only (`Depends(require_runner())`), which also accept admin tokens. Without a
token or with an unknown/revoked one: 401 with `WWW-Authenticate: Bearer`; with a token whose
scope does not allow the route: 403. Tokens are made by `plue token create`; the store keeps
only their SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plue.server.api.state import get_store
from plue.store import TOKEN_SCOPES, Store

RUNNER_SCOPE: Final = "runner"
SCOPES: Final = tuple(scope for scope in TOKEN_SCOPES if scope != RUNNER_SCOPE)  # in increasing order of power
_LEVEL: Final = {scope: level for level, scope in enumerate(SCOPES)}

# auto_error=False: the 401 is ours (one sentence, with WWW-Authenticate), not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="An API token made with `plue token create NAME --scope S`.")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(scope: str) -> Callable[..., Any]:
    """A dependency that lets the request through only with a valid token of at least `scope`;
    it returns the token's record (name, scope)."""
    if scope not in _LEVEL:
        raise ValueError(f"unknown scope {scope!r} (scopes: {', '.join(SCOPES)})")

    def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        store: Store = Depends(get_store),  # noqa: B008
    ) -> Any:
        token = _verified(request, credentials, store)
        if _LEVEL.get(token.scope, -1) < _LEVEL[scope]:
            raise HTTPException(
                status_code=403,
                detail=f"this needs a token with {scope} scope; token {token.name!r} has {token.scope} scope",
            )
        return token

    return check


def require_runner() -> Callable[..., Any]:
    """A dependency for the routes runner agents call: a valid token of `runner` (or `admin`) scope;
    it returns the token's record."""

    def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        store: Store = Depends(get_store),  # noqa: B008
    ) -> Any:
        token = _verified(request, credentials, store)
        if token.scope not in (RUNNER_SCOPE, "admin"):
            raise HTTPException(
                status_code=403,
                detail=f"this needs a token with runner (or admin) scope; token {token.name!r} has {token.scope} scope",
            )
        return token

    return check


def _verified(request: Request, credentials: HTTPAuthorizationCredentials | None, store: Store) -> Any:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("an API token is required: send Authorization: Bearer TOKEN")
    token = store.verify_token(credentials.credentials.strip())
    if token is None:
        raise _unauthorized("the API token is unknown or revoked; create one with plue token create NAME")
    request.state.token = token
    return token
