"""The home page: the teams in the store, what they own, and how fresh every source is."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.responses import Response

from maturity import listings
from web.deps import SessionDep, SettingsDep, ViewerDep
from web.templating import render

router = APIRouter()


@router.get("/")
def home(
    request: Request, session: SessionDep, settings: SettingsDep, _viewer: ViewerDep
) -> Response:
    """Teams and sources, exactly as the store holds them."""
    teams = listings.list_teams(session)
    freshness = listings.source_freshness(
        session, stale_after=dt.timedelta(hours=settings.stale_hours)
    )
    return render(request, "home.html", {"teams": teams, "freshness": freshness})
