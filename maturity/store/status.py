"""The state of collection as ``maturity status`` shows it: repositories and the last runs."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maturity.store import tables


def repository_summary(session: Session) -> pd.DataFrame:
    """One row a repository: team, commits, tags, first and last commit."""
    commits = (
        select(
            tables.Commit.repository_id,
            func.count().label("commits"),
            func.min(tables.Commit.committed_at).label("first_commit"),
            func.max(tables.Commit.committed_at).label("last_commit"),
        )
        .group_by(tables.Commit.repository_id)
        .subquery()
    )
    tags = (
        select(tables.Tag.repository_id, func.count().label("tags"))
        .group_by(tables.Tag.repository_id)
        .subquery()
    )
    stmt = (
        select(
            tables.Team.name.label("team"),
            tables.Repository.name.label("repository"),
            tables.Repository.kind,
            func.coalesce(commits.c.commits, 0).label("commits"),
            func.coalesce(tags.c.tags, 0).label("tags"),
            commits.c.last_commit,
        )
        .select_from(tables.Repository)
        .outerjoin(tables.Team, tables.Team.id == tables.Repository.team_id)
        .outerjoin(commits, commits.c.repository_id == tables.Repository.id)
        .outerjoin(tags, tags.c.repository_id == tables.Repository.id)
        .order_by(tables.Team.name, tables.Repository.name)
    )
    return pd.DataFrame(
        session.execute(stmt).all(),
        columns=["team", "repository", "kind", "commits", "tags", "last_commit"],
    )


def last_runs(session: Session) -> pd.DataFrame:
    """Per source: the last run, the last successful run, and how many scopes failed last."""
    runs = session.execute(
        select(
            tables.CollectorRun.source,
            tables.CollectorRun.scope,
            tables.CollectorRun.status,
            tables.CollectorRun.started_at,
            tables.CollectorRun.finished_at,
            tables.CollectorRun.error,
        ).order_by(tables.CollectorRun.started_at)
    ).all()
    frame = pd.DataFrame(
        runs, columns=["source", "scope", "status", "started_at", "finished_at", "error"]
    )
    if frame.empty:
        return pd.DataFrame(
            columns=["source", "last_run", "last_success", "scopes", "failed_scopes"]
        )
    latest = frame.groupby(["source", "scope"]).tail(1)
    ok = frame[frame["status"] == "success"].groupby("source")["finished_at"].max()
    summary = latest.groupby("source").agg(
        last_run=("started_at", "max"),
        scopes=("scope", "nunique"),
        failed_scopes=("status", lambda s: int((s == "failed").sum())),
    )
    summary["last_success"] = ok
    return summary.reset_index()[["source", "last_run", "last_success", "scopes", "failed_scopes"]]
