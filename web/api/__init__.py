"""The JSON API under ``/api/v1``: every figure of the pages, as JSON and as CSV."""

from __future__ import annotations

from fastapi import APIRouter

from web.api import actions, collection, dashboards, environments, events, teams

#: where the API lives; the survey API (``web.surveys.api``) is mounted under it too
PREFIX = "/api/v1"
router = APIRouter(prefix=PREFIX)
router.include_router(teams.router)
router.include_router(dashboards.router)
router.include_router(actions.router)
router.include_router(collection.router)
router.include_router(environments.router)
router.include_router(events.router)
