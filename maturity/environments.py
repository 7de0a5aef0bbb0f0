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

from sqlalchemy import func, select, tuple_
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
    # Ordered by start: the deployment started last is the one running now (cheaper, too, than
    # ordering by an expression over finish and start).
    ranked = select(
        d.id,
        func.row_number()
        .over(partition_by=(d.service, d.environment), order_by=(d.started_at.desc(), d.id.desc()))
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
    tiers = {r[0].environment: tier_of(r[0].environment, config) for r in rows}
    production = [r[0] for r in rows if tiers[r[0].environment] == "production"]
    staged = _staged_before(
        session, production, [env for env, tier in tiers.items() if tier == "staging"]
    )
    placements = []
    for dep, team, slug in rows:
        tier = tiers[dep.environment]
        via, staged_at = None, None
        if tier == "production" and (dep.version is not None or dep.commit_sha is not None):
            # Without a version or a commit there is nothing to recognise the change by.
            staged_at = staged.get(dep.id)
            via = staged_at is not None
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


def _staged_before(
    session: Session, production: Sequence[tables.Deployment], staging: Sequence[str]
) -> dict[int, dt.datetime]:
    """Per production deployment id: the latest staging deployment of the same change before it.

    The same change is the same version of the service, or the same commit when the production
    deployment names no version. Only the pairs asked for are read, never all of staging.
    """
    d = tables.Deployment
    found: dict[int, dt.datetime] = {}
    by_version = [p for p in production if p.version is not None]
    by_commit = [p for p in production if p.version is None and p.commit_sha is not None]
    for column, deps in ((d.version, by_version), (d.commit_sha, by_commit)):
        for start in range(0, len(deps), 500):
            part = deps[start : start + 500]
            keys = {(p.service, getattr(p, column.key)) for p in part}
            staged: dict[tuple[str, str | None], list[dt.datetime]] = {}
            for service, value, started in session.execute(
                select(d.service, column, d.started_at).where(
                    d.status == "success",
                    d.environment.in_(staging),
                    tuple_(d.service, column).in_(sorted(keys)),
                )
            ):
                staged.setdefault((service, value), []).append(started)
            for p in part:
                before = [
                    t
                    for t in staged.get((p.service, getattr(p, column.key)), [])
                    if t <= p.started_at
                ]
                if before:
                    found[p.id] = max(before)
    return found


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
    # Counted per UTC day in the database (date() exists in SQLite and PostgreSQL, and the store
    # keeps UTC), folded into weeks here: a few hundred rows instead of every deployment.
    day = func.date(d.started_at)
    stmt = (
        select(d.environment, day, func.count())
        .where(
            d.status == "success",
            d.started_at >= dt.datetime.combine(first, dt.time(), dt.UTC),
            d.started_at <= now,
        )
        .group_by(d.environment, day)
    )
    if team_id is not None:
        stmt = stmt.where(d.team_id == team_id)
    counts: dict[tuple[dt.date, str], int] = {}
    for environment, date, n in session.execute(stmt):
        date = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
        week = date - dt.timedelta(days=date.weekday())
        counts[(week, environment)] = counts.get((week, environment), 0) + n
    order = order_environments([env for _, env in counts], config)
    return [
        WeekCount(week=week, environment=env, tier=tier_of(env, config), deployments=n)
        for (week, env), n in sorted(
            counts.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))
        )
    ]
