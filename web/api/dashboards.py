"""Levels, snapshots, metric values, the model and a dimension across teams, as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from maturity import dashboards, display, metrics
from maturity.store import scores
from web.api.schemas import BLANK_IS_NONE, PLAIN_TEXT, Problem
from web.cache import cache_this
from web.deps import ContextDep, SessionDep, ViewerDep
from web.export import CSV_RESPONSE, csv_response
from web.params import DimensionId, Since, Slug, TeamSlug, Until, check_period, team_filter

router = APIRouter(tags=["levels"], responses={401: {"model": Problem}})
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv to download")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PLAIN_TEXT)]
DimensionFilter = Annotated[
    Name | None, BLANK_IS_NONE, Query(description="Only this dimension (its id).")
]
MetricFilter = Annotated[
    Name | None, BLANK_IS_NONE, Query(description="Only this metric of the catalogue.")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}
LevelName = Annotated[
    str,
    Field(
        description="The level's name in the model, or 'no data' when none of the dimension's "
        "criteria had data (coverage 0; the stored level is then 0)."
    ),
]


class LevelPublic(BaseModel):
    """A team's newest stored level of one dimension."""

    team: str
    slug: str
    dimension: str
    level: int
    level_name: LevelName
    score: float
    coverage: float
    period_end: dt.date


class CriterionPublic(BaseModel):
    """A criterion's stored verdict with the evidence behind it."""

    id: str
    level: int
    verdict: str
    description: str
    rationale: str
    metric: dict[str, Any] | None
    survey: dict[str, Any] | None
    records: str | None


class DimensionLevelPublic(BaseModel):
    """A team's level of one dimension, its evidence and next steps."""

    dimension: str
    name: str
    level: int
    level_name: LevelName
    score: float
    coverage: float
    period_end: dt.date
    period_start: str | None
    window_days: int | None
    model_version: str
    criteria: list[CriterionPublic]
    next_steps: list[dict[str, Any]]


class TeamLevelsPublic(BaseModel):
    team: str
    slug: str
    levels: list[DimensionLevelPublic]


class SnapshotPublic(BaseModel):
    """One stored snapshot without its evidence (see /teams/{slug}/levels for evidence)."""

    team: str
    slug: str
    dimension: str
    period_end: dt.date
    level: int
    score: float
    coverage: float
    model_version: str


class MetricValuePublic(BaseModel):
    """One stored metric value (null = unknown) with its DORA tier when it is a DORA key."""

    team: str
    metric: str
    period_end: dt.date
    window_days: int
    value: float | None = Field(
        description="The stored value in `unit`, null when unknown: shares as 0-1, durations "
        "in hours or days, frequencies per week (docs/scoring.md)."
    )
    unit: str = Field(description="The metric's unit in the catalogue ('share', 'hours', ...).")
    text: str = Field(
        description="The value as the pages, the CLI and the reports show it: shares as "
        "percentages, durations in minutes, hours or days by size, frequencies per week."
    )
    sample_size: int | None
    tier: str | None


class CriterionModelPublic(BaseModel):
    id: str
    kind: str
    description: str
    rationale: str
    statement: str
    check: str | None
    question: str | None
    min_mean: float | None


class LevelModelPublic(BaseModel):
    number: int
    name: str
    text: str
    criteria: list[CriterionModelPublic]


class DimensionModelPublic(BaseModel):
    id: str
    name: str
    levels: list[LevelModelPublic]


class ModelPublic(BaseModel):
    """The maturity model in use."""

    name: str
    version: str
    dimensions: list[DimensionModelPublic]


class UnmetPublic(BaseModel):
    id: str
    level: int
    description: str
    unmet: int
    unknown: int


class DimensionTeamPublic(BaseModel):
    team: str
    slug: str
    level: int
    level_name: LevelName
    score: float
    coverage: float
    period_end: dt.date


class DimensionPublic(BaseModel):
    """One dimension across teams: newest levels, teams per level, criteria most often unmet."""

    id: str
    name: str
    teams: list[DimensionTeamPublic]
    distribution: dict[str, int] = Field(
        description="Teams per level name, and under 'no data' those without data."
    )
    most_unmet: list[UnmetPublic]


def _model(context: Any) -> Any:
    return dashboards.current_model(context.config.model_path())


@router.get("/levels", response_model=list[LevelPublic], responses=CSV_RESPONSE)
def levels(
    request: Request,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    until: Until = None,
    format: Format = "json",
) -> Any:
    """Every team's newest stored level per dimension (at or before ``to``)."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    model = _model(context)
    view = dashboards.memo(
        session,
        ("levels", model.version, until),
        lambda: dashboards.overview(session, model, until=until),
    )
    found = [
        {"team": t.team, "slug": t.slug, **c.__dict__} for t in view.teams for c in t.cells.values()
    ]
    if format == "csv":
        return csv_response(found, list(LevelPublic.model_fields), filename="levels.csv")
    return found


@router.get(
    "/teams/{slug}/levels",
    response_model=TeamLevelsPublic,
    responses={404: {"model": Problem}},
)
def team_levels(
    request: Request,
    slug: Slug,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    until: Until = None,
) -> Any:
    """A team's newest level per dimension with every criterion's evidence and next steps."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    team_id = team_filter(session, slug)
    assert team_id is not None
    found = dashboards.team_levels(session, _model(context), team_id, until=until)
    team = scores.team_names(session).set_index("team_id").loc[team_id]
    return {"team": team["name"], "slug": team["slug"], "levels": found}


@router.get(
    "/snapshots",
    response_model=list[SnapshotPublic],
    responses={**CSV_RESPONSE, **_NOT_FOUND},
)
def snapshots(
    request: Request,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
    dimension: DimensionFilter = None,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    """Stored snapshots (levels, scores, coverage) per team, dimension and week."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    check_period(since, until)
    team_id = team_filter(session, team)
    if dimension is not None and dimension not in {d.id for d in _model(context).dimensions}:
        raise HTTPException(404, f"no dimension {dimension!r}")
    frame = scores.list_scores(
        session, team_id=team_id, dimension=dimension, since=since, until=until
    )
    found = frame.to_dict("records")
    if format == "csv":
        return csv_response(found, list(SnapshotPublic.model_fields), filename="snapshots.csv")
    return found


@router.get(
    "/metrics",
    response_model=list[MetricValuePublic],
    responses={**CSV_RESPONSE, **_NOT_FOUND},
)
def metric_values(
    request: Request,
    session: SessionDep,
    _viewer: ViewerDep,
    team: TeamSlug = None,
    metric: MetricFilter = None,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    """Stored metric values per team and week (null = unknown), DORA keys with their tier."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    check_period(since, until)
    team_id = team_filter(session, team)
    if metric is not None and metric not in metrics.CATALOGUE:
        raise HTTPException(404, f"no metric {metric!r}")
    frame = scores.metric_series(
        session,
        metrics=[metric] if metric else None,
        team_id=team_id,
        since=since,
        until=until,
    )
    found = []
    for row in frame.itertuples(index=False):
        value = None if row.value is None or row.value != row.value else float(row.value)
        unit = metrics.CATALOGUE[row.metric].unit if row.metric in metrics.CATALOGUE else ""
        found.append(
            {
                "team": row.team,
                "metric": row.metric,
                "period_end": row.period_end,
                "window_days": int(row.window_days),
                "value": value,
                "unit": unit,
                "text": display.value(value, unit),
                "sample_size": None if row.sample_size is None else int(row.sample_size),
                "tier": metrics.tier(row.metric, value)
                if row.metric in metrics.DORA_TIERS
                else None,
            }
        )
    if format == "csv":
        return csv_response(found, list(MetricValuePublic.model_fields), filename="metrics.csv")
    return found


@router.get("/model", response_model=ModelPublic)
def get_model(request: Request, context: ContextDep, _viewer: ViewerDep) -> Any:
    """The maturity model in use: dimensions, levels, criteria."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    model = _model(context)
    return {
        "name": model.name,
        "version": model.version,
        "dimensions": dashboards.model_rows(model),
    }


@router.get(
    "/dimensions/{dim_id}",
    response_model=DimensionPublic,
    responses={**CSV_RESPONSE, 404: {"model": Problem}},
)
def get_dimension(
    request: Request,
    dim_id: DimensionId,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    until: Until = None,
    format: Format = "json",
) -> Any:
    """One dimension across teams (CSV: one row a team)."""
    cache_this(request)  # only 200 answers are kept; built from scored data only
    try:
        view = dashboards.dimension_view(session, _model(context), dim_id, until=until)
    except KeyError:
        raise HTTPException(404, f"no dimension {dim_id!r}") from None
    teams = [{"team": n, "slug": s, **c.__dict__} for n, s, c in view.teams]
    if format == "csv":
        return csv_response(
            teams, list(DimensionTeamPublic.model_fields), filename=f"{view.id}.csv"
        )
    return {
        "id": view.id,
        "name": view.name,
        "teams": teams,
        "distribution": {
            **{name: n for _, name, n in view.distribution},
            display.NO_DATA: view.no_data,
        },
        "most_unmet": [u.__dict__ for u in view.most_unmet],
    }
