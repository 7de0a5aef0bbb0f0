"""The Collection page: collector runs with status, counts and errors; stale sources stand out."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.responses import Response

from maturity import listings
from web.deps import SessionDep, SettingsDep, ViewerDep
from web.params import Source, Status
from web.templating import render

router = APIRouter()


@router.get("/collection")
def collection(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _viewer: ViewerDep,
    source: Source = None,
    status: Status = None,
) -> Response:
    """Freshness of every source, then the newest 200 runs (filtered by source or status)."""
    freshness = listings.source_freshness(
        session, stale_after=dt.timedelta(hours=settings.stale_hours)
    )
    runs = listings.list_runs(session, source=source, status=status, limit=200)
    return render(
        request,
        "collection.html",
        {
            "freshness": freshness,
            "runs": runs,
            "source": source,
            "status": status,
            "statuses": listings.RUN_STATUSES,
            "stale_hours": settings.stale_hours,
        },
    )
