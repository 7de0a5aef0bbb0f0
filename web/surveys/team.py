"""A team's survey page: answers per dimension over rounds, comments, and perception gaps."""

from __future__ import annotations

import plotly.graph_objects as go
from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from maturity import listings
from reports import charts
from web.deps import SessionDep, ViewerDep
from web.params import Slug
from web.surveys import form, view
from web.templating import embed, render

router = APIRouter(include_in_schema=False)


def _figure(views: list[view.RoundView]) -> go.Figure | None:
    shown = [v for v in reversed(views) if v.results is not None]
    if not shown:
        return None
    fig = go.Figure(
        layout={
            "margin": {"l": 48, "r": 16, "t": 16, "b": 48},
            "height": 320,
            "legend": {"orientation": "h", "y": -0.25},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        }
    )
    groups = list(dict.fromkeys(g for v in shown for g in v.by_dimension))
    for group in groups:
        fig.add_scatter(
            x=[v.summary.opened_on.isoformat() for v in shown],
            y=[v.by_dimension.get(group) for v in shown],
            name=charts.label(group),
            mode="lines+markers",
        )
    fig.update_xaxes(title_text="round opened", type="date")
    fig.update_yaxes(title_text="mean answer (1-5)", range=[1, 5])
    return fig


@router.get("/teams/{slug}/surveys")
def team_surveys_page(
    request: Request, slug: Slug, session: SessionDep, _viewer: ViewerDep
) -> Response:
    """The team's survey rounds; results of a round only once it has k responses."""
    team = listings.get_team(session, slug)
    team_id = listings.team_id_of(session, slug)
    if team is None or team_id is None:
        raise HTTPException(404, f"no team {slug!r}")
    views = view.team_rounds(session, team_id, held=form.holder(request).held)
    shown = [v for v in views if v.results is not None]
    groups = list(dict.fromkeys(g for v in shown for g in v.by_dimension))
    figure = _figure(views)
    return render(
        request,
        "team_surveys.html",
        {
            "team": team,
            "rounds": views,
            "shown": shown,
            "groups": groups,
            "gaps": view.gaps(session, team_id),
            "figure": embed(figure) if figure is not None else None,
        },
    )
