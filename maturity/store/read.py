"""The read API of the store: small summaries for commands, pandas frames for everything else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from maturity.store import tables

#: the tables ``maturity export`` offers, in dependency order
EXPORTABLE: dict[str, type[tables.Base]] = {
    "teams": tables.Team,
    "repositories": tables.Repository,
    "commits": tables.Commit,
    "tags": tables.Tag,
    "branches": tables.Branch,
    "pull_requests": tables.PullRequest,
    "reviews": tables.Review,
    "builds": tables.Build,
    "deployments": tables.Deployment,
    "issues": tables.Issue,
    "issue_transitions": tables.IssueTransition,
    "collector_runs": tables.CollectorRun,
    "snapshots": tables.Snapshot,
    "metric_values": tables.MetricValue,
}

#: columns that hold an offset (minutes east of UTC) for a timestamp column: exported in that zone
_OFFSETS = {"authored_at": "author_tz_offset", "committed_at": "committer_tz_offset"}


def _export_query(name: str) -> Select[Any]:
    model = EXPORTABLE[name]
    table = model.__table__
    cols: list[Any] = [c for c in table.c if c.name != "id" or name in ("teams", "repositories")]
    stmt = select(*cols)
    if "repository_id" in table.c:
        stmt = stmt.add_columns(tables.Repository.name.label("repository")).outerjoin(
            tables.Repository, tables.Repository.id == table.c.repository_id
        )
    if "team_id" in table.c:
        stmt = stmt.add_columns(tables.Team.name.label("team")).outerjoin(
            tables.Team, tables.Team.id == table.c.team_id
        )
    if name == "reviews":
        stmt = stmt.add_columns(tables.PullRequest.number.label("pull_request_number")).join(
            tables.PullRequest, tables.PullRequest.id == table.c.pull_request_id
        )
    if name == "issue_transitions":
        stmt = stmt.add_columns(tables.Issue.key.label("issue_key")).join(
            tables.Issue, tables.Issue.id == table.c.issue_id
        )
    return stmt.order_by(table.c.id)


def iter_export(
    session: Session, name: str, *, chunk: int = 20_000
) -> Iterator[list[dict[str, Any]]]:
    """Rows of table ``name`` as dictionaries, in chunks, timestamps as aware datetimes.

    Git timestamps are given in the offset they were recorded with, as git shows them.
    """
    if name not in EXPORTABLE:
        raise KeyError(name)
    result = session.execute(_export_query(name).execution_options(yield_per=chunk))
    for part in result.partitions(chunk):
        rows = []
        for row in part:
            data = dict(row._mapping)
            for col, off_col in _OFFSETS.items():
                if col in data and off_col in data and data[col] is not None:
                    tz = dt.timezone(dt.timedelta(minutes=data[off_col]))
                    data[col] = data[col].astimezone(tz)
            rows.append(data)
        yield rows


def table_counts(session: Session) -> dict[str, int]:
    """How many rows each exportable table holds."""
    return {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in EXPORTABLE.items()
    }


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
