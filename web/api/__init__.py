"""The JSON API under ``/api/v1``: every figure of the pages, as JSON and as CSV."""

from __future__ import annotations

from fastapi import APIRouter

from web.api import actions, collection, dashboards, environments, events, teams
from web.surveys import api as surveys_api

router = APIRouter(prefix="/api/v1")
router.include_router(teams.router)
router.include_router(dashboards.router)
router.include_router(actions.router)
router.include_router(collection.router)
router.include_router(environments.router)
router.include_router(events.router)
router.include_router(surveys_api.router)
