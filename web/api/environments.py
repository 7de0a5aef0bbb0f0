"""Environments: which version of which service runs where, and deployments per week."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from maturity import environments
from web.api.schemas import EnvironmentsPublic, Problem, WeekCountPublic
from web.deps import ContextDep, SessionDep, ViewerDep
from web.export import CSV_RESPONSE, csv_response
from web.params import TeamSlug, team_filter

router = APIRouter(tags=["environments"], responses={401: {"model": Problem}})
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv to download")]
Weeks = Annotated[int, Query(ge=1, le=260, description="How many weeks back, this one included.")]
PLACEMENT_COLUMNS = [
    "service",
    "environment",
    "tier",
    "team",
    "version",
    "commit_sha",
    "commit_subject",
    "deployed_at",
    "finished_at",
    "source",
    "trigger",
    "build_job",
    "build_number",
    "build_result",
    "build_started_at",
    "via_staging",
    "staging_deployed_at",
    "url",
]
WEEK_COLUMNS = ["week", "environment", "tier", "deployments"]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


def placement_row(p: environments.Placement) -> dict[str, Any]:
    """A placement as a CSV row, its build flattened into ``build_*`` columns."""
    row = asdict(p)
    build = row.pop("build") or {}
    for key in ("job", "number", "result", "started_at"):
        row[f"build_{key}"] = build.get(key)
    return row


@router.get(
    "/environments",
    response_model=EnvironmentsPublic,
    responses={**CSV_RESPONSE, **_NOT_FOUND},
)
def current_versions(
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
    format: Format = "json",
) -> Any:
    """The latest successful deployment of every service to every environment.

    With the commit it came from, the build of that commit, and for production whether the
    same version went through staging first.
    """
    matrix = environments.current_versions(
        session, config=context.config.environments, team_id=team_filter(session, team)
    )
    if format == "csv":
        return csv_response(
            map(placement_row, matrix.placements), PLACEMENT_COLUMNS, filename="environments.csv"
        )
    return matrix


@router.get(
    "/deployments/weekly",
    response_model=list[WeekCountPublic],
    responses={**CSV_RESPONSE, **_NOT_FOUND},
)
def deployments_per_week(
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
    weeks: Weeks = 26,
    format: Format = "json",
) -> Any:
    """Successful deployments per week (starting Monday, UTC) and environment."""
    found = environments.deployments_per_week(
        session,
        config=context.config.environments,
        team_id=team_filter(session, team),
        weeks=weeks,
    )
    if format == "csv":
        return csv_response(map(asdict, found), WEEK_COLUMNS, filename="deployments-weekly.csv")
    return found
