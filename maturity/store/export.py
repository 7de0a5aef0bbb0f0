"""What ``maturity export`` reads: the exportable tables and their rows, a chunk at a time.

The names alone are in :mod:`maturity.store.names` (the command line's help needs no SQLAlchemy);
:data:`EXPORTABLE` maps each to its table, and a test keeps both equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, select
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
