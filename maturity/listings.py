"""Read functions behind the product's lists: teams and what they own, collector runs, freshness."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maturity.store import tables

#: run statuses a collector records
RUN_STATUSES = ("running", "success", "partial", "failed", "interrupted")


@dataclass(frozen=True)
class TeamSummary:
    """A team, what it owns in every source, and how much the store holds of it."""

    name: str
    slug: str
    ownership: dict[str, list[str]]
    repositories: list[str]
    builds: int
    deployments: int
    incidents: int
    last_deployment_at: dt.datetime | None


def _count_by_team(session: Session, model: Any, *where: Any) -> dict[int, int]:
    stmt = select(model.team_id, func.count()).where(model.team_id.is_not(None), *where)
    return {team: n for team, n in session.execute(stmt.group_by(model.team_id))}


def list_teams(session: Session, *, slug: str | None = None) -> list[TeamSummary]:
    """Every team in the store (or the one with ``slug``), by name."""
    stmt = select(tables.Team).order_by(tables.Team.name)
    if slug is not None and "\x00" in slug:  # no team has one; PostgreSQL refuses it in text
        return []
    if slug is not None:
        stmt = stmt.where(tables.Team.slug == slug)
    teams = session.scalars(stmt).all()
    if not teams:
        return []
    ownership: dict[int, dict[str, list[str]]] = {}
    for team_id, source, pattern in session.execute(
        select(
            tables.Ownership.team_id, tables.Ownership.source, tables.Ownership.pattern
        ).order_by(tables.Ownership.source, tables.Ownership.pattern)
    ):
        ownership.setdefault(team_id, {}).setdefault(source, []).append(pattern)
    repos: dict[int, list[str]] = {}
    for repo_team, name in session.execute(
        select(tables.Repository.team_id, tables.Repository.name)
        .where(tables.Repository.team_id.is_not(None))
        .order_by(tables.Repository.name)
    ):
        if repo_team is not None:
            repos.setdefault(repo_team, []).append(name)
    builds = _count_by_team(session, tables.Build)
    deployments = _count_by_team(session, tables.Deployment)
    incidents = _count_by_team(session, tables.Issue, tables.Issue.is_incident.is_(True))
    d = tables.Deployment
    # Newest first along the (team_id, started_at) index, stopping at the first success.
    newest = (
        select(d.started_at)
        .where(d.team_id == tables.Team.id, d.status == "success")
        .order_by(d.started_at.desc())
        .limit(1)
        .correlate(tables.Team)
        .scalar_subquery()
    )
    last = dict(session.execute(select(tables.Team.id, newest)).all())
    return [
        TeamSummary(
            name=t.name,
            slug=t.slug,
            ownership=ownership.get(t.id, {}),
            repositories=repos.get(t.id, []),
            builds=builds.get(t.id, 0),
            deployments=deployments.get(t.id, 0),
            incidents=incidents.get(t.id, 0),
            last_deployment_at=last.get(t.id),
        )
        for t in teams
    ]


def get_team(session: Session, slug: str) -> TeamSummary | None:
    """The team with URL name ``slug``, or None."""
    found = list_teams(session, slug=slug)
    return found[0] if found else None


def team_id_of(session: Session, slug: str) -> int | None:
    """The id of the team with URL name ``slug``, or None."""
    if "\x00" in slug:  # no team has one, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(select(tables.Team.id).where(tables.Team.slug == slug))


@dataclass(frozen=True)
class Run:
    """One collector run: what was collected, when, how many records, and what went wrong."""

    id: int
    source: str
    scope: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_s: float | None
    status: str
    records: int
    counts: dict[str, int]
    error: str | None


def list_runs(
    session: Session,
    *,
    source: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[Run]:
    """The newest collector runs first, optionally of one source or one status."""
    r = tables.CollectorRun
    stmt = select(r).order_by(r.started_at.desc(), r.id.desc()).limit(limit)
    if source is not None:
        stmt = stmt.where(r.source == source)
    if status is not None:
        stmt = stmt.where(r.status == status)
    return [
        Run(
            id=run.id,
            source=run.source,
            scope=run.scope,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_s=(
                (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
            ),
            status=run.status,
            records=run.records,
            counts={str(k): int(v) for k, v in (run.counts or {}).items()},
            error=run.error,
        )
        for run in session.scalars(stmt)
    ]


@dataclass(frozen=True)
class Freshness:
    """How current one source's data is; ``stale`` when its last success is too old or never."""

    source: str
    scopes: int
    failed_scopes: int
    last_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    age_hours: float | None
    stale: bool


def source_freshness(
    session: Session, *, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> list[Freshness]:
    """Per source that ever ran: its scopes, failures of their latest runs, and staleness."""
    now = now or dt.datetime.now(dt.UTC)
    r = tables.CollectorRun
    latest = (
        select(
            r.source,
            r.scope,
            r.status,
            r.started_at,
            func.row_number()
            .over(partition_by=(r.source, r.scope), order_by=(r.started_at.desc(), r.id.desc()))
            .label("rank"),
        )
    ).subquery()
    per_source: dict[str, dict[str, Any]] = {}
    for source, status, started in session.execute(
        select(latest.c.source, latest.c.status, latest.c.started_at).where(latest.c.rank == 1)
    ):
        entry = per_source.setdefault(source, {"scopes": 0, "failed": 0, "last_run": started})
        entry["scopes"] += 1
        entry["failed"] += status == "failed"
        entry["last_run"] = max(entry["last_run"], started)
    success = dict(
        session.execute(
            select(r.source, func.max(r.finished_at))
            .where(r.status == "success")
            .group_by(r.source)
        ).all()
    )
    found = []
    for source in sorted(per_source):
        entry = per_source[source]
        last_ok = success.get(source)
        age = (now - last_ok).total_seconds() / 3600 if last_ok else None
        found.append(
            Freshness(
                source=source,
                scopes=entry["scopes"],
                failed_scopes=entry["failed"],
                last_run_at=entry["last_run"],
                last_success_at=last_ok,
                age_hours=round(age, 2) if age is not None else None,
                stale=last_ok is None or now - last_ok > stale_after,
            )
        )
    return found


def fresh_until(found: list[Freshness], stale_after: dt.timedelta) -> dt.datetime | None:
    """When the first source that is fresh now turns stale (None: none is fresh): until then,
    what ``source_freshness`` says changes only when a collection writes a run."""
    ends = [f.last_success_at + stale_after for f in found if not f.stale and f.last_success_at]
    return min(ends, default=None)
