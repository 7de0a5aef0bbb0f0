"""Snapshots: read the store, compute metrics, score, and store one snapshot per team, dimension
and week (re-scoring a week replaces it), plus the metric values behind it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from maturity import attribution, scoring
from maturity import metrics as metrics_mod
from maturity.config import Config
from maturity.model import Model
from maturity.store import read, tables, write
from maturity.store.engine import session_scope


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


def read_range(
    ends: Sequence[dt.date], window_days: int, tz: str
) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants ``[since, until)`` of the rows needed to score ``ends``."""
    zone = ZoneInfo(tz)
    first = min(ends) - dt.timedelta(days=window_days - 1 + metrics_mod.LOOKBACK_DAYS)
    last = max(ends) + dt.timedelta(days=1)
    since = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(last, dt.time(), zone).astimezone(dt.UTC)
    return since, until


def load_frames(
    session: Session,
    ends: Sequence[dt.date],
    *,
    window_days: int,
    tz: str,
    team_ids: Sequence[int],
    rules: attribution.Rules | None = None,
) -> metrics_mod.Frames:
    """The store's rows for ``ends`` as :class:`maturity.metrics.Frames` (the benchmark floor),
    shared repositories split between teams by their path ``rules``."""
    since, until = read_range(ends, window_days, tz)
    shared = list(rules or {})
    f = read.scoring_frames(session, since=since, until=until, team_ids=team_ids, shared=shared)
    if rules:
        f = attribution.apply(session, f, rules, since=since, until=until, team_ids=team_ids)
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
    rules = attribution.split_repositories(session, config)
    frames = load_frames(session, ends, window_days=window, tz=tz, team_ids=team_ids, rules=rules)
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


def score_and_store(
    sessions: sessionmaker[Session],
    config: Config,
    model: Model,
    *,
    team: str | Sequence[str] | None = None,
    week: dt.date | None = None,
    backfill: int | None = None,
    today: dt.date | None = None,
    survey: scoring.SurveyInput = None,
    progress: Progress | None = None,
    chunk_weeks: int = 104,
) -> ScoreRun:
    """Score the requested weeks for every team (or the one or several named) and store the
    snapshots.

    Weeks are scored in chunks so that a long backfill keeps memory flat; each chunk is one
    transaction, so an interrupted backfill keeps what it finished.
    """
    if today is None:
        today = dt.datetime.now(ZoneInfo(config.settings.timezone)).date()
    ends = period_ends(week, backfill, today=today)
    with session_scope(sessions) as session:
        teams = read.team_names(session)
        for name in [team] if isinstance(team, str) else team or ():
            if not (teams["name"].str.casefold() == name.casefold()).any():
                raise LookupError(f"no team named {name!r} in the store (run 'maturity collect')")
        if team is not None:
            wanted = {n.casefold() for n in ([team] if isinstance(team, str) else team)}
            teams = teams[teams["name"].str.casefold().isin(wanted)]
    team_ids = [int(t) for t in teams["team_id"]]
    chunks = [ends[i : i + chunk_weeks] for i in range(0, len(ends), chunk_weeks)]
    if progress:
        progress.start("scoring weeks", total=len(ends))
    all_snaps, all_values = [], []
    for part in chunks:
        with session_scope(sessions) as session:
            run = compute(session, config, model, part, team_ids=team_ids, survey=survey)
            store(
                session, run, window_days=config.settings.window_days, now=dt.datetime.now(dt.UTC)
            )
        all_snaps.append(run.snapshots.drop(columns="evidence"))
        all_values.append(run.metric_values)
        if progress:
            progress.advance(len(part))
    return ScoreRun(
        ends,
        pd.concat(all_snaps, ignore_index=True) if all_snaps else pd.DataFrame(),
        pd.concat(all_values, ignore_index=True) if all_values else pd.DataFrame(),
        model.version,
    )
