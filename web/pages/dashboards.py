"""The score dashboards: the overview heat map, a team, a dimension across teams, the model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from markupsafe import Markup
from starlette.responses import Response

from maturity import dashboards, display, listings
from reports import charts
from web.cache import cache_this
from web.deps import ContextDep, SessionDep, SettingsDep, ViewerDep
from web.params import DimensionId, Since, Slug, TeamSlug, Until, check_period, team_filter
from web.templating import embed, render, templates

router = APIRouter()


def _overview_parts(
    session: Any, model: Any, team_id: int | None, since: dt.date | None, until: dt.date | None
) -> tuple[dashboards.Overview, Markup | None, Markup | None, Markup]:
    view = dashboards.overview(session, model, team_id=team_id, since=since, until=until)
    # 200 teams x 9 cells take ~20 ms to render: render them with the figures, once.
    tables = Markup(templates.env.get_template("_overview_tables.html").render(view=view))  # noqa: S704 (autoescaped template)
    if not view.teams:
        return view, None, None, tables
    heat = charts.level_heatmap(
        [t.team for t in view.teams],
        [n for _, n in view.dimensions],
        [
            [t.cells[d].level if d in t.cells else None for d, _ in view.dimensions]
            for t in view.teams
        ],
        title="Level per team and dimension",
        no_data=[
            [d in t.cells and not t.cells[d].has_data for d, _ in view.dimensions]
            for t in view.teams
        ],
    )
    trend = charts.organisation_trend(
        view.trend, dict(view.dimensions), title="Mean score of the teams with data per dimension"
    )
    return view, embed(heat), embed(trend), tables


def _team_parts(
    session: Any, model: Any, team_id: int, since: dt.date | None, until: dt.date | None
) -> tuple[dashboards.TeamView, dict[str, Markup]]:
    view = dashboards.team_view(session, model, team_id, since=since, until=until)
    figures = {}
    if not view.scores.empty:
        figures["levels"] = embed(
            charts.level_trend(
                view.scores,
                title=f"Score per dimension: {view.team}",
                names={d.id: d.name for d in model.dimensions},
            )
        )
    for tile in view.dora:
        if not view.series.empty and (view.series["metric"] == tile.metric).any():
            figures[tile.metric] = embed(
                charts.metric_trend(view.series, metric=tile.metric, title=tile.label)
            )
    return view, figures


@router.get("/overview")
def overview_page(
    request: Request,
    session: SessionDep,
    context: ContextDep,
    settings: SettingsDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
    since: Since = None,
    until: Until = None,
) -> Response:
    """Teams x dimensions, the DORA keys of each team, the organisation's trend, freshness."""
    check_period(since, until)
    model = dashboards.current_model(context.config.model_path())
    team_id = team_filter(session, team)
    # Figures are built once per store version (scoring writes weekly; pages are read often).
    view, heat, trend, tables = dashboards.memo(
        session,
        ("overview", model.version, team_id, since, until),
        lambda: _overview_parts(session, model, team_id, since, until),
    )
    stale_after = dt.timedelta(hours=settings.stale_hours)
    freshness = listings.source_freshness(session, stale_after=stale_after)
    # Kept until the store changes or the first fresh source turns stale, whichever is first.
    cache_this(request, until=listings.fresh_until(freshness, stale_after))
    return render(
        request,
        "overview.html",
        {
            "view": view,
            "heat": heat,
            "trend": trend,
            "tables": tables,
            "freshness": freshness,
            # the filter needs names only (list_teams also counts every team's records)
            "teams": dashboards.team_choices(session),
            "team": team,
            "since": since,
            "until": until,
        },
    )


@router.get("/teams/{slug}")
def team_page(
    request: Request,
    slug: Slug,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    since: Since = None,
    until: Until = None,
) -> Response:
    """A team's level per dimension with evidence, next steps, trends and coverage."""
    check_period(since, until)
    team_id = team_filter(session, slug)
    assert team_id is not None
    model = dashboards.current_model(context.config.model_path())
    view, figures = dashboards.memo(
        session,
        ("team", model.version, team_id, since, until),
        lambda: _team_parts(session, model, team_id, since, until),
    )
    cache_this(request)
    return render(
        request,
        "team.html",
        {"view": view, "figures": figures, "since": since, "until": until, "slug": slug},
    )


@router.get("/dimensions/{dim_id}")
def dimension_page(
    request: Request,
    dim_id: DimensionId,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    until: Until = None,
) -> Response:
    """One dimension across all teams."""
    model = dashboards.current_model(context.config.model_path())
    try:
        view = dashboards.dimension_view(session, model, dim_id, until=until)
    except KeyError:
        raise HTTPException(404, f"no dimension {dim_id!r}") from None
    cache_this(request)
    figure = None
    if view.teams:
        figure = embed(
            charts.level_distribution(
                [*view.distribution, (-1, display.NO_DATA, view.no_data)]
                if view.no_data
                else view.distribution,
                title="Teams per level",
            )
        )
    return render(
        request,
        "dimension.html",
        {"view": view, "figure": figure, "until": until, "dimensions": model.dimensions},
    )


@router.get("/model")
def model_page(request: Request, context: ContextDep, _viewer: ViewerDep) -> Response:
    """The model in use: the seed's table and every criterion."""
    model = dashboards.current_model(context.config.model_path())
    cache_this(request)
    return render(
        request,
        "model.html",
        {"model": model, "rows": dashboards.model_rows(model)},
    )
