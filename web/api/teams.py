"""Teams: who they are and what they own."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from maturity import listings
from web.api.schemas import PLAIN_TEXT, Problem, TeamPublic
from web.deps import SessionDep, ViewerDep
from web.export import CSV_RESPONSE, csv_response

router = APIRouter(tags=["teams"], responses={401: {"model": Problem}})
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv to download")]
Slug = Annotated[
    str,
    Path(min_length=1, max_length=200, pattern=PLAIN_TEXT, description="The team's URL name."),
]
_COLUMNS = ["name", "slug", "ownership", "repositories", "builds", "deployments", "incidents"]


def _flat(team: listings.TeamSummary) -> dict[str, Any]:
    row = asdict(team)
    row["ownership"] = "; ".join(f"{s}: {', '.join(p)}" for s, p in team.ownership.items())
    row["repositories"] = ", ".join(team.repositories)
    return row


@router.get("/teams", response_model=list[TeamPublic], responses=CSV_RESPONSE)
def list_teams(session: SessionDep, _viewer: ViewerDep, format: Format = "json") -> Any:
    """Every team in the store, with what it owns and how many records it has."""
    found = listings.list_teams(session)
    if format == "csv":
        return csv_response(
            map(_flat, found), [*_COLUMNS, "last_deployment_at"], filename="teams.csv"
        )
    return found


@router.get("/teams/{slug}", response_model=TeamPublic, responses={404: {"model": Problem}})
def get_team(slug: Slug, session: SessionDep, _viewer: ViewerDep) -> Any:
    """One team by its URL name."""
    team = listings.get_team(session, slug)
    if team is None:
        raise HTTPException(404, f"no team {slug!r}")
    return team
