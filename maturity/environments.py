"""What runs where: the current version of every service in every environment, and its path there.

"Current" is the latest successful deployment of a service to an environment. Beside it: the
commit it came from, the build of that commit, and, for production, whether the same version
(or, without versions, the same commit) was deployed to a staging environment first.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maturity.config import EnvironmentsConfig
from maturity.store import tables

#: promotion tiers in the order a change travels
TIERS: tuple[str, ...] = ("development", "qa", "staging", "production")


def tier_of(environment: str, config: EnvironmentsConfig) -> str | None:
    """The tier an environment name belongs to by the configured globs, or None."""
    name = environment.casefold()
    for tier in reversed(TIERS):  # production first: "prod-test" is production, not qa
        if any(fnmatch.fnmatchcase(name, p.casefold()) for p in getattr(config, tier)):
            return tier
    return None


def order_environments(names: Sequence[str], config: EnvironmentsConfig) -> list[str]:
    """Environments in promotion order (development .. production), then the untiered by name."""

    def rank(name: str) -> tuple[int, str]:
        tier = tier_of(name, config)
        return (TIERS.index(tier) if tier else len(TIERS), name.casefold())

    return sorted(set(names), key=rank)


@dataclass(frozen=True)
class BuildOfCommit:
    """The CI run that built a deployed commit."""

    source: str
    job: str
    number: int | None
    result: str | None
    started_at: dt.datetime
    url: str | None


@dataclass(frozen=True)
class Placement:
    """A service's current version in one environment."""

    service: str
    environment: str
    tier: str | None
    team: str | None
    team_slug: str | None
    version: str | None
    commit_sha: str | None
    commit_subject: str | None
    deployed_at: dt.datetime
    finished_at: dt.datetime | None
    source: str
    trigger: str | None
    url: str | None
    build: BuildOfCommit | None
    #: production only: the same version reached staging before; None when unknowable
    via_staging: bool | None
    staging_deployed_at: dt.datetime | None


@dataclass(frozen=True)
class Matrix:
    """The service x environment matrix: its axes in display order and its cells."""

    services: list[str]
    environments: list[str]
    placements: list[Placement]

    @cached_property
    def _cells(self) -> dict[tuple[str, str], Placement]:
        return {(p.service, p.environment): p for p in self.placements}

    def cell(self, service: str, environment: str) -> Placement | None:
        """The placement at ``service`` x ``environment``, or None if never deployed there."""
        return self._cells.get((service, environment))


def current_versions(
    session: Session, *, config: EnvironmentsConfig, team_id: int | None = None
) -> Matrix:
    """The latest successful deployment per service and environment (of one team or all)."""
    d = tables.Deployment
    when = func.coalesce(d.finished_at, d.started_at)
    ranked = select(
        d.id,
        func.row_number()
        .over(partition_by=(d.service, d.environment), order_by=(when.desc(), d.id.desc()))
        .label("rank"),
    ).where(d.status == "success")
    if team_id is not None:
        ranked = ranked.where(d.team_id == team_id)
    sub = ranked.subquery()
    rows = session.execute(
        select(d, tables.Team.name, tables.Team.slug)
        .join(sub, sub.c.id == d.id)
        .outerjoin(tables.Team, tables.Team.id == d.team_id)
        .where(sub.c.rank == 1)
    ).all()
    shas = {r[0].commit_sha for r in rows if r[0].commit_sha}
    builds = _builds_of(session, shas)
    subjects = _subjects_of(session, shas)
    staging = _staging_deployments(session, config, {r[0].service for r in rows})
    placements = []
    for dep, team, slug in rows:
        tier = tier_of(dep.environment, config)
        via, staged_at = None, None
        if tier == "production":
            via, staged_at = _through_staging(dep, staging.get(dep.service, []))
        placements.append(
            Placement(
                service=dep.service,
                environment=dep.environment,
                tier=tier,
                team=team,
                team_slug=slug,
                version=dep.version,
                commit_sha=dep.commit_sha,
                commit_subject=subjects.get(dep.commit_sha or ""),
                deployed_at=dep.started_at,
                finished_at=dep.finished_at,
                source=dep.source,
                trigger=dep.trigger,
                url=dep.url,
                build=_pick_build(builds.get(dep.commit_sha or "", []), dep.started_at),
                via_staging=via,
                staging_deployed_at=staged_at,
            )
        )
    envs = order_environments([p.environment for p in placements], config)
    placements.sort(key=lambda p: (p.service.casefold(), envs.index(p.environment)))
    services = sorted({p.service for p in placements}, key=str.casefold)
    return Matrix(services=services, environments=envs, placements=placements)


def _builds_of(session: Session, shas: set[str]) -> dict[str, list[BuildOfCommit]]:
    found: dict[str, list[BuildOfCommit]] = {}
    if not shas:
        return found
    b = tables.Build
    for row in session.execute(
        select(b.commit_sha, b.source, b.job, b.number, b.result, b.started_at, b.url)
        .where(b.commit_sha.in_(sorted(shas)))
        .order_by(b.started_at, b.id)
    ):
        found.setdefault(row[0] or "", []).append(BuildOfCommit(*row[1:]))
    return found


def _pick_build(builds: list[BuildOfCommit], deployed_at: dt.datetime) -> BuildOfCommit | None:
    # The newest build that started before the deployment is the one that could have fed it;
    # a commit built only afterwards still tells which job builds it.
    before = [b for b in builds if b.started_at <= deployed_at]
    if before:
        return before[-1]
    return builds[-1] if builds else None


def _subjects_of(session: Session, shas: set[str]) -> dict[str, str]:
    if not shas:
        return {}
    rows = session.execute(
        select(tables.Commit.sha, tables.Commit.subject).where(tables.Commit.sha.in_(sorted(shas)))
    )
    return {sha: subject for sha, subject in rows}


@dataclass(frozen=True)
class _Staged:
    version: str | None
    commit_sha: str | None
    started_at: dt.datetime


def _staging_deployments(
    session: Session, config: EnvironmentsConfig, services: set[str]
) -> dict[str, list[_Staged]]:
    if not services:
        return {}
    d = tables.Deployment
    names = session.scalars(select(d.environment).distinct().where(d.service.in_(services))).all()
    staging = [n for n in names if tier_of(n, config) == "staging"]
    found: dict[str, list[_Staged]] = {}
    if not staging:
        return found
    for service, version, sha, started in session.execute(
        select(d.service, d.version, d.commit_sha, d.started_at).where(
            d.status == "success", d.service.in_(services), d.environment.in_(staging)
        )
    ):
        found.setdefault(service, []).append(_Staged(version, sha, started))
    return found


def _through_staging(
    dep: tables.Deployment, staged: list[_Staged]
) -> tuple[bool | None, dt.datetime | None]:
    if dep.version is None and dep.commit_sha is None:
        return None, None  # nothing to recognise the change by
    matches = [
        s.started_at
        for s in staged
        if s.started_at <= dep.started_at
        and (
            (dep.version is not None and s.version == dep.version)
            or (dep.version is None and s.commit_sha == dep.commit_sha)
        )
    ]
    return (True, max(matches)) if matches else (False, None)


@dataclass(frozen=True)
class WeekCount:
    """Successful deployments to one environment in the week starting ``week`` (a Monday)."""

    week: dt.date
    environment: str
    tier: str | None
    deployments: int


def deployments_per_week(
    session: Session,
    *,
    config: EnvironmentsConfig,
    team_id: int | None = None,
    weeks: int = 26,
    now: dt.datetime | None = None,
) -> list[WeekCount]:
    """Successful deployments per week and environment over the last ``weeks`` weeks."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    d = tables.Deployment
    stmt = select(d.environment, d.started_at).where(
        d.status == "success",
        d.started_at >= dt.datetime.combine(first, dt.time(), dt.UTC),
        d.started_at <= now,
    )
    if team_id is not None:
        stmt = stmt.where(d.team_id == team_id)
    counts: dict[tuple[dt.date, str], int] = {}
    for environment, started in session.execute(stmt):
        day = started.date()
        week = day - dt.timedelta(days=day.weekday())
        counts[(week, environment)] = counts.get((week, environment), 0) + 1
    order = order_environments([env for _, env in counts], config)
    return [
        WeekCount(week=week, environment=env, tier=tier_of(env, config), deployments=n)
        for (week, env), n in sorted(
            counts.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))
        )
    ]
