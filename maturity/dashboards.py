"""Page-shaped views of stored snapshots and metric values: what the dashboards and the API show.

Nothing here computes a metric or a verdict: levels, scores, coverage and evidence are read as
``maturity score`` stored them (docs/scoring.md); this module only selects, groups for display
(latest per team, counts of teams per level, mean score of the organisation per week) and
attaches the model's text to criterion ids.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from maturity import display, metrics
from maturity import model as model_mod
from maturity.store import scores as scores_mod
from maturity.store import tables
from maturity.store import version as version_mod

_model_lock = threading.Lock()
_model_cache: dict[tuple[str, float], model_mod.Model] = {}


def current_model(path: Path | None) -> model_mod.Model:
    """The model in use, loaded once per file version (pages must not re-parse it per request)."""
    key = (str(path) if path else "", path.stat().st_mtime if path and path.exists() else 0.0)
    with _model_lock:
        found = _model_cache.get(key)
        if found is None:
            found = model_mod.load(path)
            _model_cache.clear()
            _model_cache[key] = found
        return found


# --- shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One team's stored level of one dimension (``level_name`` "no data" at coverage 0)."""

    dimension: str
    level: int
    level_name: str
    score: float
    coverage: float
    period_end: dt.date

    @property
    def has_data(self) -> bool:
        return self.coverage > 0


@dataclass(frozen=True)
class TeamRow:
    team: str
    slug: str
    cells: dict[str, Cell]


@dataclass(frozen=True)
class DoraTile:
    """One DORA key of one team at one period end, with its own tier (never averaged)."""

    metric: str
    label: str
    unit: str
    value: float | None
    sample_size: int | None
    tier: str
    period_end: dt.date | None

    @property
    def text(self) -> str:
        """The value in its unit as every page, the CLI and the reports show it."""
        return display.value(self.value, self.unit)


@dataclass(frozen=True)
class Overview:
    dimensions: list[tuple[str, str]]
    teams: list[TeamRow]
    dora: dict[str, list[DoraTile]]
    trend: pd.DataFrame  # period_end, dimension, score (mean over the teams with data), teams


@dataclass(frozen=True)
class CriterionView:
    """A criterion's stored verdict and evidence with the model's text for it."""

    id: str
    level: int
    verdict: str
    description: str
    rationale: str
    metric: dict[str, Any] | None
    survey: dict[str, Any] | None
    records: str | None


@dataclass(frozen=True)
class DimensionLevel:
    dimension: str
    name: str
    level: int
    level_name: str
    score: float
    coverage: float
    period_end: dt.date
    period_start: str | None
    window_days: int | None
    model_version: str
    criteria: list[CriterionView]
    next_steps: list[dict[str, Any]]

    @property
    def has_data(self) -> bool:
        return self.coverage > 0


@dataclass(frozen=True)
class TeamView:
    team: str
    slug: str
    levels: list[DimensionLevel]
    dora: list[DoraTile]
    scores: pd.DataFrame  # team_id, team, dimension, period_end, level, score, coverage
    series: pd.DataFrame  # metric_series of the DORA keys


@dataclass(frozen=True)
class UnmetCount:
    id: str
    level: int
    description: str
    unmet: int
    unknown: int


@dataclass(frozen=True)
class DimensionView:
    id: str
    name: str
    teams: list[tuple[str, str, Cell]]
    distribution: list[tuple[int, str, int]]
    most_unmet: list[UnmetCount] = field(default_factory=list)
    #: teams none of whose criteria of this dimension had data (not counted at any level)
    no_data: int = 0


# --- queries ------------------------------------------------------------------------------


def _cell(row: Any) -> Cell:
    return Cell(
        dimension=row.dimension,
        level=int(row.level),
        level_name=display.level_name(int(row.level), float(row.coverage)),
        score=float(row.score),
        coverage=float(row.coverage),
        period_end=row.period_end,
    )


@dataclass(frozen=True)
class TeamChoice:
    name: str
    slug: str


def team_choices(session: Session) -> list[TeamChoice]:
    """Every team's name and URL name, for a filter."""
    return [TeamChoice(t.name, t.slug) for t in scores_mod.team_names(session).itertuples()]


def _dora_latest(
    session: Session, *, team_id: int | None, until: dt.date | None
) -> dict[int, list[DoraTile]]:
    """Per team, the DORA keys at its newest period end with metric values (each key's tier)."""
    found: dict[int, dict[str, Any]] = {}
    for row in scores_mod.latest_metric_values(
        session, metrics.DORA_TILES, team_id=team_id, until=until
    ):
        found.setdefault(int(row.team_id), {})[row.metric] = row
    return {
        tid: [_tile(key, by_metric.get(key)) for key in metrics.DORA_TILES]
        for tid, by_metric in found.items()
    }


def _tile(key: str, row: Any | None) -> DoraTile:
    value = None if row is None or row.value is None else float(row.value)
    return DoraTile(
        metric=key,
        label=display.DORA_LABELS[key],
        unit=metrics.CATALOGUE[key].unit,
        value=value,
        sample_size=None if row is None else row.sample_size,
        tier=metrics.tier(key, value),
        period_end=None if row is None else row.period_end,
    )


# --- views --------------------------------------------------------------------------------


def overview(
    session: Session,
    model: model_mod.Model,
    *,
    team_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Overview:
    """Teams x dimensions (newest level at or before ``until``), DORA keys, organisation trend."""
    teams: dict[str, TeamRow] = {}
    for row in scores_mod.latest_levels(session, team_id=team_id, until=until):
        entry = teams.setdefault(row.slug, TeamRow(row.name, row.slug, {}))
        entry.cells[row.dimension] = _cell(row)
    dora_by_id = _dora_latest(session, team_id=team_id, until=until)
    names = {int(t.team_id): t.slug for t in scores_mod.team_names(session).itertuples()}
    dora = {names[tid]: tiles for tid, tiles in dora_by_id.items() if tid in names}
    return Overview(
        dimensions=[(d.id, d.name) for d in model.dimensions],
        teams=list(teams.values()),
        dora=dora,
        trend=scores_mod.score_trend(session, team_id=team_id, since=since, until=until),
    )


def _criteria(model: model_mod.Model, evidence: dict[str, Any]) -> list[CriterionView]:
    text = {c.id: c for _, _, c in model.criteria()}
    out = []
    for item in evidence.get("criteria", []):
        known = text.get(item.get("id", ""))
        metric = item.get("metric")
        name = metric.get("name") if isinstance(metric, dict) else None
        out.append(
            CriterionView(
                id=str(item.get("id")),
                level=int(item.get("level", 0)),
                verdict=str(item.get("verdict", "unknown")),
                description=known.description if known else "",
                rationale=known.rationale if known else "",
                metric=metric,
                survey=item.get("survey"),
                records=metrics.CATALOGUE[name].records if name in metrics.CATALOGUE else None,
            )
        )
    return out


def team_levels(
    session: Session, model: model_mod.Model, team_id: int, *, until: dt.date | None = None
) -> list[DimensionLevel]:
    """A team's newest level per dimension with its evidence and next steps."""
    names = {d.id: d.name for d in model.dimensions}
    order = {d.id: i for i, d in enumerate(model.dimensions)}
    rows = sorted(
        scores_mod.latest_levels(session, team_id=team_id, until=until, evidence=True),
        key=lambda r: order.get(r.dimension, 99),
    )
    out = []
    for row in rows:
        ev = row.evidence or {}
        out.append(
            DimensionLevel(
                dimension=row.dimension,
                name=names.get(row.dimension, row.dimension),
                level=int(row.level),
                level_name=display.level_name(int(row.level), float(row.coverage)),
                score=float(row.score),
                coverage=float(row.coverage),
                period_end=row.period_end,
                period_start=ev.get("period_start"),
                window_days=ev.get("window_days"),
                model_version=row.model_version,
                criteria=_criteria(model, ev),
                next_steps=list(ev.get("next_steps", [])),
            )
        )
    return out


def team_view(
    session: Session,
    model: model_mod.Model,
    team_id: int,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> TeamView:
    """Everything the team page shows."""
    team = session.get(tables.Team, team_id)
    assert team is not None
    levels = team_levels(session, model, team_id, until=until)
    dora = _dora_latest(session, team_id=team_id, until=until).get(
        team_id, [_tile(k, None) for k in metrics.DORA_TILES]
    )
    return TeamView(
        team=team.name,
        slug=team.slug,
        levels=levels,
        dora=dora,
        scores=scores_mod.list_scores(session, team_id=team_id, since=since, until=until),
        series=scores_mod.metric_series(
            session, metrics=list(metrics.DORA_TILES), team_id=team_id, since=since, until=until
        ),
    )


def dimension_view(
    session: Session, model: model_mod.Model, dim_id: str, *, until: dt.date | None = None
) -> DimensionView:
    """One dimension across teams: newest levels, teams per level, criteria most often unmet."""
    dim = model.dimension(dim_id)
    rows = scores_mod.latest_levels(session, dimension=dim_id, until=until, evidence=True)
    counts = [0] * len(display.LEVELS)
    no_data = 0
    unmet: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for row in rows:
        if float(row.coverage) <= 0:
            no_data += 1
        else:
            counts[int(row.level)] += 1
        for item in (row.evidence or {}).get("criteria", []):
            verdict = item.get("verdict")
            if verdict == "unmet":
                unmet[item["id"]] = unmet.get(item["id"], 0) + 1
            elif verdict == "unknown":
                unknown[item["id"]] = unknown.get(item["id"], 0) + 1
    ranked = [
        UnmetCount(c.id, lv.number, c.description, unmet.get(c.id, 0), unknown.get(c.id, 0))
        for lv, c in dim.criteria()
        if unmet.get(c.id)
    ]
    ranked.sort(key=lambda u: (-u.unmet, u.level))
    return DimensionView(
        id=dim.id,
        name=dim.name,
        teams=[(r.name, r.slug, _cell(r)) for r in rows],
        distribution=[(i, display.LEVELS[i], n) for i, n in enumerate(counts)],
        most_unmet=ranked,
        no_data=no_data,
    )


def model_rows(model: model_mod.Model) -> list[dict[str, Any]]:
    """The model as data: dimensions with their levels' text and criteria."""
    return [
        {
            "id": d.id,
            "name": d.name,
            "levels": [
                {
                    "number": lv.number,
                    "name": lv.name,
                    "text": lv.text,
                    "criteria": [
                        {
                            "id": c.id,
                            "kind": c.kind,
                            "description": c.description,
                            "rationale": c.rationale,
                            "statement": c.statement,
                            "check": c.metric.text() if c.metric else None,
                            "question": c.survey.question if c.survey else None,
                            "min_mean": c.survey.min_mean if c.survey else None,
                        }
                        for c in lv.criteria
                    ],
                }
                for lv in d.levels
            ],
        }
        for d in model.dimensions
    ]


# --- memo ---------------------------------------------------------------------------------

_memo_lock = threading.Lock()
_memo: dict[Any, Any] = {}
_MEMO_SIZE = 512


def store_version(session: Session) -> tuple[Any, ...]:
    """The store's URL (one process may serve, or test, several stores) and the version of its
    scores: views built from snapshots, metric values and teams hold until scoring writes."""
    return (str(session.get_bind().engine.url), *version_mod.store_version(session).scores)


def memo(session: Session, key: Any, build: Any) -> Any:
    """``build()`` once per store version and ``key``: pages read scored data far more often
    than scoring writes it, and a full scan of two years of snapshots costs hundreds of ms."""
    full = (store_version(session), key)
    with _memo_lock:
        if full in _memo:
            return _memo[full]
    value = build()
    with _memo_lock:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[full] = value
    return value
