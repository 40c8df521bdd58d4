"""`api_router`: every `/api` router, for `create_app` to include."""

from __future__ import annotations

from fastapi import APIRouter

from plue.server.api import deliveries, repos, runners, runs, tokens

api_router = APIRouter(prefix="/api")
api_router.include_router(runs.router)
api_router.include_router(repos.router)
api_router.include_router(deliveries.router)
api_router.include_router(tokens.router)
api_router.include_router(runners.router)
