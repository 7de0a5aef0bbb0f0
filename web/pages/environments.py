"""The Environments page: the service x environment matrix and deployments per week."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from maturity import environments, listings
from reports import charts
from web.deps import ContextDep, SessionDep, ViewerDep
from web.params import TeamSlug, team_filter
from web.templating import embed, render

router = APIRouter()


@router.get("/environments")
def environments_page(
    request: Request,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
) -> Response:
    """What runs where now, how it got there, and how often each environment is deployed to."""
    team_id = team_filter(session, team)
    tiers = context.config.environments
    matrix = environments.current_versions(session, config=tiers, team_id=team_id)
    weeks = environments.deployments_per_week(session, config=tiers, team_id=team_id)
    return render(
        request,
        "environments.html",
        {
            "matrix": matrix,
            "weeks": weeks,
            "figure": embed(charts.deployments_per_week(weeks)) if weeks else None,
            "teams": listings.list_teams(session),
            "team": team,
        },
    )
