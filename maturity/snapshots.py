"""Snapshots: read the store, compute metrics, score, and store one snapshot per team, dimension
and week (re-scoring a week replaces it), plus the metric values behind it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from maturity import attribution, scoring
from maturity import metrics as metrics_mod
from maturity.config import Config, RulesConfig
from maturity.model import Model
from maturity.store import inputs, tables, write


class Progress(Protocol):
    def start(self, label: str, total: int | None = None) -> None: ...
    def advance(self, amount: int = 1) -> None: ...


def week_end(day: dt.date) -> dt.date:
    """The Sunday that ends the (ISO) week of ``day``: the period end of its snapshot."""
    return day + dt.timedelta(days=6 - day.weekday())


def period_ends(week: dt.date | None, backfill: int | None, *, today: dt.date) -> list[dt.date]:
    """The weeks to score: the week of ``week`` (default: this week), and ``backfill`` weeks
    before it."""
    last = week_end(week or today)
    count = 1 + (backfill or 0)
    return [last - dt.timedelta(weeks=i) for i in range(count - 1, -1, -1)]


def read_ranges(
    ends: Sequence[dt.date], window_days: int, tz: str, rules: RulesConfig
) -> dict[str, inputs.Range]:
    """Per table, the UTC instants ``[since, until)`` of the rows needed to score ``ends``:
    the windows widened by what the metric rules need before and after them
    (:func:`maturity.metrics.reach`), so that every week reads what it would read alone."""
    zone = ZoneInfo(tz)
    first = dt.datetime.combine(
        min(ends) - dt.timedelta(days=window_days - 1), dt.time(), zone
    ).astimezone(dt.UTC)
    last = dt.datetime.combine(max(ends) + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return {
        table: (first - before, None if after is None else last + after)
        for table, (before, after) in metrics_mod.reach(rules).items()
    }


def load_frames(
    session: Session,
    ends: Sequence[dt.date],
    *,
    window_days: int,
    tz: str,
    team_ids: Sequence[int],
    rules: attribution.Rules | None = None,
    metric_rules: RulesConfig | None = None,
) -> metrics_mod.Frames:
    """The store's rows for ``ends`` as :class:`maturity.metrics.Frames` (the benchmark floor),
    over what the ``metric_rules`` need, shared repositories split between teams by their path
    ``rules``."""
    ranges = read_ranges(ends, window_days, tz, metric_rules or RulesConfig())
    shared = list(rules or {})
    f = inputs.scoring_frames(session, ranges=ranges, team_ids=team_ids, shared=shared)
    if rules:
        f = attribution.apply(session, f, rules, ranges=ranges, team_ids=team_ids)
    return metrics_mod.Frames(team_ids=list(team_ids), **f)


@dataclass
class ScoreRun:
    """What a scoring run produced."""

    period_ends: list[dt.date]
    snapshots: pd.DataFrame
    metric_values: pd.DataFrame
    model_version: str


def compute(
    session: Session,
    config: Config,
    model: Model,
    ends: Sequence[dt.date],
    *,
    team_ids: Sequence[int],
    survey: scoring.SurveyInput = None,
) -> ScoreRun:
    """Metrics and snapshots for ``ends`` without writing anything."""
    window = config.settings.window_days
    tz = config.settings.timezone
    path_rules = attribution.split_repositories(session, config)
    frames = load_frames(
        session,
        ends,
        window_days=window,
        tz=tz,
        team_ids=team_ids,
        rules=path_rules,
        metric_rules=config.rules,
    )
    values = metrics_mod.compute(
        frames,
        list(ends),
        window_days=window,
        tz=tz,
        rules=config.rules,
        environments=config.environments,
    )
    snaps = scoring.score(model, values, survey=survey, window_days=window)
    return ScoreRun(list(ends), snaps, values, model.version)


def store(session: Session, run: ScoreRun, *, window_days: int, now: dt.datetime) -> None:
    """Write a run's snapshots and metric values: the same week scored again replaces."""
    team_ids = sorted({int(t) for t in run.metric_values["team_id"]})
    snaps = run.snapshots.assign(model_version=run.model_version, computed_at=now)
    snaps = snaps.astype({"team_id": "int64", "level": "int64"})
    write.replace_computed(
        session, tables.Snapshot, snaps, team_ids=team_ids, period_ends=run.period_ends
    )
    mv = run.metric_values[["team_id", "metric", "period_end", "value", "sample_size"]]
    mv = mv.assign(window_days=window_days)
    write.replace_computed(
        session, tables.MetricValue, mv, team_ids=team_ids, period_ends=run.period_ends
    )
