"""The stored scores as pages, reports and the API read them.

Snapshots (levels and scores per team, dimension and period end, with or without evidence),
the newest of each, the trend of the mean score, stored metric values; and what is listed
beside them: the teams, a team's last report and its survey rounds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from maturity.store import tables


def team_names(session: Session) -> pd.DataFrame:
    """Every team: id, name, slug."""
    rows = session.execute(
        select(tables.Team.id, tables.Team.name, tables.Team.slug).order_by(tables.Team.name)
    ).all()
    return pd.DataFrame(rows, columns=["team_id", "name", "slug"])


_SNAPSHOT_COLUMNS = [
    "team_id",
    "team",
    "dimension",
    "period_end",
    "level",
    "score",
    "coverage",
    "evidence",
    "model_version",
    "computed_at",
]


def _snapshot_select() -> Select[Any]:
    S = tables.Snapshot
    return select(
        S.team_id,
        tables.Team.name,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.evidence,
        S.model_version,
        S.computed_at,
    ).join(tables.Team, tables.Team.id == S.team_id)


def list_snapshots(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Snapshots (with their evidence) ordered by team, dimension and period end."""
    S = tables.Snapshot
    stmt = _filter_snapshots(
        _snapshot_select(), team_id=team_id, dimension=dimension, since=since, until=until
    )
    rows = session.execute(stmt.order_by(S.team_id, S.dimension, S.period_end)).all()
    return pd.DataFrame(rows, columns=_SNAPSHOT_COLUMNS)


def list_scores(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Stored levels and scores without their evidence (trends need no evidence), by team name."""
    S = tables.Snapshot
    stmt = select(
        S.team_id,
        tables.Team.name,
        tables.Team.slug,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.model_version,
    ).join(tables.Team, tables.Team.id == S.team_id)
    stmt = _filter_snapshots(stmt, team_id=team_id, dimension=dimension, since=since, until=until)
    rows = session.execute(stmt.order_by(tables.Team.name, S.dimension, S.period_end)).all()
    columns = ["team_id", "team", "slug", "dimension", "period_end", "level", "score"]
    return pd.DataFrame(rows, columns=[*columns, "coverage", "model_version"])


def _filter_snapshots(
    stmt: Any,
    *,
    team_id: int | None,
    dimension: str | None,
    since: dt.date | None,
    until: dt.date | None,
) -> Any:
    S = tables.Snapshot
    if team_id is not None:
        stmt = stmt.where(S.team_id == team_id)
    if dimension is not None:
        stmt = stmt.where(S.dimension == dimension)
    if since is not None:
        stmt = stmt.where(S.period_end >= since)
    if until is not None:
        stmt = stmt.where(S.period_end <= until)
    return stmt


def _newest_periods(*, team_id: int | None, dimension: str | None, until: dt.date | None) -> Any:
    """Subquery: each team's newest period end per dimension, at or before ``until``."""
    S = tables.Snapshot
    newest = _filter_snapshots(
        select(S.team_id, S.dimension, func.max(S.period_end).label("period_end")),
        team_id=team_id,
        dimension=dimension,
        since=None,
        until=until,
    )
    return newest.group_by(S.team_id, S.dimension).subquery()


def _join_newest(stmt: Any, newest: Any) -> Any:
    S = tables.Snapshot
    return stmt.join(
        newest,
        (newest.c.team_id == S.team_id)
        & (newest.c.dimension == S.dimension)
        & (newest.c.period_end == S.period_end),
    )


def latest_snapshots(session: Session, *, team_id: int | None = None) -> pd.DataFrame:
    """Each team's newest snapshot per dimension."""
    S = tables.Snapshot
    newest = _newest_periods(team_id=team_id, dimension=None, until=None)
    stmt = _join_newest(_snapshot_select(), newest)
    rows = session.execute(stmt.order_by(tables.Team.name, S.dimension)).all()
    return pd.DataFrame(rows, columns=_SNAPSHOT_COLUMNS)


def latest_levels(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    until: dt.date | None = None,
    evidence: bool = False,
) -> list[Any]:
    """Rows of each team's newest snapshot per dimension at or before ``until``, ordered by team
    name and dimension: team_id, name, slug, dimension, period_end, level, score, coverage,
    model_version (and evidence, which only a team's or a dimension's page needs)."""
    S = tables.Snapshot
    cols = [
        S.team_id,
        tables.Team.name,
        tables.Team.slug,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.model_version,
    ]
    if evidence:
        cols.append(S.evidence)
    stmt = _join_newest(
        select(*cols).join(tables.Team, tables.Team.id == S.team_id),
        _newest_periods(team_id=team_id, dimension=dimension, until=until),
    )
    return list(session.execute(stmt.order_by(tables.Team.name, S.dimension)).all())


def latest_metric_values(
    session: Session,
    metrics: Sequence[str],
    *,
    team_id: int | None = None,
    until: dt.date | None = None,
) -> list[Any]:
    """Rows of ``metrics`` at each team's newest period end that has any of them (at or before
    ``until``): team_id, metric, period_end, value, sample_size."""
    M = tables.MetricValue
    newest = select(M.team_id, func.max(M.period_end).label("period_end")).where(
        M.metric.in_(list(metrics))
    )
    if until is not None:
        newest = newest.where(M.period_end <= until)
    if team_id is not None:
        newest = newest.where(M.team_id == team_id)
    sub = newest.group_by(M.team_id).subquery()
    stmt = (
        select(M.team_id, M.metric, M.period_end, M.value, M.sample_size)
        .join(sub, (sub.c.team_id == M.team_id) & (sub.c.period_end == M.period_end))
        .where(M.metric.in_(list(metrics)))
    )
    return list(session.execute(stmt).all())


def score_trend(
    session: Session,
    *,
    team_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Mean stored score per dimension and period end over the teams with data in it, and how
    many teams that mean is over (never the evidence).

    A snapshot with coverage 0 (none of the dimension's criteria had data: "no data" on every
    page) is left out: its stored score 0 is not a score of Base. A week in which no team had
    data in a dimension has no row: unknown, not 0.

    The covering index ``ix_snapshots_trend`` (period_end, dimension, score) holds no coverage,
    so a snapshot's coverage is read only when its score is 0: a score above 0 means a criterion
    was met, which is data, and a snapshot without data has score 0 (no criterion could be met),
    so the sum of all the scores is the sum over the snapshots with data. SQLite reads the table
    row only for the scores of 0 (docs/benchmarks.md).
    """
    S = tables.Snapshot
    with_data = func.sum(case((S.score > 0, 1), (S.coverage > 0, 1), else_=0))
    stmt = select(
        S.period_end,
        S.dimension,
        (func.sum(S.score) / with_data).label("score"),
        with_data.label("teams"),
    ).having(with_data > 0)
    stmt = _filter_snapshots(stmt, team_id=team_id, dimension=None, since=since, until=until)
    rows = session.execute(
        stmt.group_by(S.period_end, S.dimension).order_by(S.dimension, S.period_end)
    ).all()
    frame = pd.DataFrame(rows, columns=["period_end", "dimension", "score", "teams"])
    frame["score"] = frame["score"].astype(float)
    return frame


def metric_series(
    session: Session,
    *,
    metrics: Sequence[str] | None = None,
    team_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Stored metric values: team_id, team, metric, period_end, window_days, value, sample_size."""
    M = tables.MetricValue
    stmt = select(
        M.team_id,
        tables.Team.name,
        M.metric,
        M.period_end,
        M.window_days,
        M.value,
        M.sample_size,
    ).join(tables.Team, tables.Team.id == M.team_id)
    if metrics is not None:
        stmt = stmt.where(M.metric.in_(list(metrics)))
    if team_id is not None:
        stmt = stmt.where(M.team_id == team_id)
    if since is not None:
        stmt = stmt.where(M.period_end >= since)
    if until is not None:
        stmt = stmt.where(M.period_end <= until)
    rows = session.execute(stmt.order_by(M.team_id, M.metric, M.period_end)).all()
    return pd.DataFrame(
        rows,
        columns=["team_id", "team", "metric", "period_end", "window_days", "value", "sample_size"],
    )


def last_report_end(session: Session, *, team_id: int) -> dt.date | None:
    """The period end of the team's newest generated report, or None before the first."""
    return session.scalar(
        select(func.max(tables.ReportRun.period_end)).where(tables.ReportRun.team_id == team_id)
    )


def list_survey_rounds(
    session: Session, *, team_id: int, until: dt.date | None = None
) -> list[tuple[str, dt.date]]:
    """The team's survey rounds (public id, opened on), oldest first; results stay k-gated."""
    R = tables.SurveyRound
    stmt = select(R.public_id, R.opened_on).where(R.team_id == team_id)
    if until is not None:
        stmt = stmt.where(R.opened_on <= until)
    return [(str(p), o) for p, o in session.execute(stmt.order_by(R.opened_on, R.id)).all()]
