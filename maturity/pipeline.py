"""The one pipeline: collect sources into the store, and score weeks from it.

The steps, in order: ``begin_collection`` (teams and rules into the store), one
``collectors.runner`` run per (source, scope), ``end_collection`` (attribute to teams), then
``score`` (weeks in chunks, with survey answers). Every entry point calls these and nothing
else sequences their steps: the command line (``maturity collect``, ``score``, ``demo``), the
web actions (``POST /api/v1/actions/collect`` and ``/score``) and the schedule (``maturity
serve --collect-every``). The distributed mode runs the same steps as Celery tasks
(``maturity.distributed.tasks``: ``begin_collection``, one task per scope, then
``end_collection`` and ``score`` per partition once every scope is done). So a week scored from
any of them is scored the same way: with the survey answers of its team, over what the metric
rules need (``maturity.snapshots.read_ranges``), in chunks that never change a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from maturity.store.engine import session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from collectors.base import Progress, ScopeResult
    from maturity import scoring, snapshots
    from maturity.config import Config
    from maturity.model import Model
    from maturity.store.engine import Writers

# Scoring's modules (and pandas) are imported by the functions that score, so that a collection
# (``maturity collect``) does not pay for them.

#: weeks scored in one transaction: memory stays flat over a long backfill
CHUNK_WEEKS = 104


class _Quiet:
    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class Collected:
    """What a collection did: one result per scope, and sources this build has no collector
    for."""

    results: list[ScopeResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts for an action's result."""
        return {
            "scopes": len(self.results),
            "records": sum(r.records for r in self.results),
            "failed_scopes": sum(r.status == "failed" for r in self.results),
            "partial_scopes": sum(r.status == "partial" for r in self.results),
            "skipped_sources": list(self.skipped),
        }


def collect(
    sessions: Writers,
    config: Config,
    *,
    sources: Sequence[str] | None = None,
    scopes: Sequence[tuple[str, str]] | None = None,
    team: str | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> Collected:
    """Sync the configured teams, collect, and attribute what came in to its team.

    Args:
        sources: the sources to collect (default: every registered one), each through
            ``collectors.runner.collect_source``.
        scopes: instead, these ``(source, scope)`` pairs alone (``runner.collect_one``).
        team: only the scopes this team owns.
    """
    import collectors
    from collectors import runner
    from collectors.base import CollectContext

    begin_collection(sessions, config)
    cc = CollectContext(
        config=config,
        sessions=sessions,
        team=team,
        full_refresh=full_refresh,
        progress=progress or _Quiet(),
    )
    done = Collected()
    if scopes is not None:
        for source, scope in scopes:
            done.results.append(runner.collect_one(cc, collectors.SOURCES[source], scope))
    else:
        for name in sources if sources is not None else list(collectors.SOURCES):
            declaration = collectors.SOURCES[name]
            try:
                done.results += runner.collect_source(cc, declaration)
            except ModuleNotFoundError as exc:
                if not declaration.collector or exc.name != declaration.collector.split(":")[0]:
                    raise
                # A source whose collector this build does not ship: say so, collect the others.
                done.skipped.append(name)
                cc.progress.note(f"{name}: no collector in this build")
    end_collection(sessions)
    return done


def begin_collection(sessions: Writers, config: Config) -> None:
    """The first step of every collection: the configured teams, their ownership and path
    rules into the store (the distributed ``refresh`` task calls it too)."""
    from maturity import teams

    with session_scope(sessions) as session:
        teams.sync(session, config)


def end_collection(sessions: Writers) -> None:
    """The last step of every collection, once every scope is in: attribute what came in to
    its team (the distributed ``after_refresh`` task calls it too, before it scores)."""
    from maturity import teams

    with session_scope(sessions) as session:
        teams.reattribute(session)


def score(
    sessions: sessionmaker[Session],
    config: Config,
    model: Model,
    *,
    team: str | Sequence[str] | None = None,
    week: dt.date | None = None,
    backfill: int | None = None,
    today: dt.date | None = None,
    progress: snapshots.Progress | None = None,
    chunk_weeks: int = CHUNK_WEEKS,
    survey: scoring.SurveyInput | None = None,
) -> snapshots.ScoreRun:
    """Score the week of ``week`` (default: this week) and ``backfill`` weeks before it for
    every team (or the one or several named), and store the snapshots and metric values.

    Each chunk of ``chunk_weeks`` weeks is one transaction, so an interrupted backfill keeps
    what it finished; the chunking never changes a value. Survey answers are the store's (the
    rounds that reached k) unless ``survey`` gives aggregates instead (tests, tools).
    """
    import pandas as pd

    from maturity import snapshots, surveys

    if chunk_weeks < 1:
        raise ValueError("chunk_weeks must be at least 1")
    if today is None:
        today = dt.datetime.now(ZoneInfo(config.settings.timezone)).date()
    ends = snapshots.period_ends(week, backfill, today=today)
    with session_scope(sessions) as session:
        team_ids = _team_ids(session, team)
    chunks = [ends[i : i + chunk_weeks] for i in range(0, len(ends), chunk_weeks)]
    if progress:
        progress.start("scoring weeks", total=len(ends))
    all_snaps, all_values = [], []
    for part in chunks:
        with session_scope(sessions) as session:
            answers = surveys.survey_input(session, part, team_ids) if survey is None else survey
            run = snapshots.compute(session, config, model, part, team_ids=team_ids, survey=answers)
            snapshots.store(
                session, run, window_days=config.settings.window_days, now=dt.datetime.now(dt.UTC)
            )
        all_snaps.append(run.snapshots.drop(columns="evidence"))
        all_values.append(run.metric_values)
        if progress:
            progress.advance(len(part))
    return snapshots.ScoreRun(
        ends,
        pd.concat(all_snaps, ignore_index=True) if all_snaps else pd.DataFrame(),
        pd.concat(all_values, ignore_index=True) if all_values else pd.DataFrame(),
        model.version,
    )


def collect_and_score(
    sessions: sessionmaker[Session],
    config: Config,
    model: Model,
    *,
    progress: Progress | None = None,
) -> tuple[Collected, snapshots.ScoreRun]:
    """Collect every source, then score this week: what ``serve --collect-every`` repeats."""
    collected = collect(sessions, config, progress=progress)
    return collected, score(sessions, config, model, progress=progress)


def _team_ids(session: Session, team: str | Sequence[str] | None) -> list[int]:
    """Ids of every team, or of the named ones; LookupError naming one the store lacks."""
    from maturity.store import scores

    teams = scores.team_names(session)
    if team is None:
        return [int(t) for t in teams["team_id"]]
    names = [team] if isinstance(team, str) else list(team)
    for name in names:
        if not (teams["name"].str.casefold() == name.casefold()).any():
            raise LookupError(f"no team named {name!r} in the store (run 'maturity collect')")
    wanted = {n.casefold() for n in names}
    return [int(t) for t in teams[teams["name"].str.casefold().isin(wanted)]["team_id"]]
