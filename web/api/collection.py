"""Collection: collector runs and the freshness of every source."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from maturity import listings
from web.api.schemas import FreshnessPublic, Problem, RunPublic
from web.deps import SessionDep, SettingsDep, ViewerDep
from web.export import CSV_RESPONSE, csv_response
from web.params import Source, Status

router = APIRouter(tags=["collection"], responses={401: {"model": Problem}})
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv to download")]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many runs, newest first.")]
StaleHours = Annotated[
    float | None,
    Query(gt=0, le=24 * 366, description="Stale after this many hours without success."),
]
RUN_COLUMNS = [
    "id",
    "source",
    "scope",
    "started_at",
    "finished_at",
    "duration_s",
    "status",
    "records",
    "counts",
    "error",
]
FRESHNESS_COLUMNS = [
    "source",
    "scopes",
    "failed_scopes",
    "last_run_at",
    "last_success_at",
    "age_hours",
    "stale",
]


def run_row(run: listings.Run) -> dict[str, Any]:
    """A run as a CSV row: counts as ``kind=n`` pairs."""
    row = asdict(run)
    row["counts"] = " ".join(f"{k}={v}" for k, v in sorted(run.counts.items()))
    return row


@router.get("/collector-runs", response_model=list[RunPublic], responses=CSV_RESPONSE)
def list_runs(
    session: SessionDep,
    _viewer: ViewerDep,
    source: Source = None,
    status: Status = None,
    limit: Limit = 200,
    format: Format = "json",
) -> Any:
    """Collector runs, newest first: what was collected, when, how much, and what failed."""
    runs = listings.list_runs(session, source=source, status=status, limit=limit)
    if format == "csv":
        return csv_response(map(run_row, runs), RUN_COLUMNS, filename="collector-runs.csv")
    return runs


@router.get("/freshness", response_model=list[FreshnessPublic], responses=CSV_RESPONSE)
def freshness(
    session: SessionDep,
    settings: SettingsDep,
    _viewer: ViewerDep,
    stale_hours: StaleHours = None,
    format: Format = "json",
) -> Any:
    """Per source: scopes, failed scopes, last run, last success, and whether it is stale."""
    hours = stale_hours or settings.stale_hours
    found = listings.source_freshness(session, stale_after=dt.timedelta(hours=hours))
    if format == "csv":
        return csv_response(map(asdict, found), FRESHNESS_COLUMNS, filename="freshness.csv")
    return found
