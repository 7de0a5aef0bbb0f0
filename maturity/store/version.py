"""The store version: what changes whenever scoring, a team sync or a collection writes.

The web's cache (``web/cache.py``) and the dashboards' memo key their entries by it.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from maturity.store import tables


@functools.cache
def _store_version_statement() -> Any:
    S, M, T, R = tables.Snapshot, tables.MetricValue, tables.Team, tables.CollectorRun
    return select(
        select(func.max(S.id)).scalar_subquery(),
        select(func.max(M.id)).scalar_subquery(),
        select(func.count()).select_from(T).scalar_subquery(),
        select(func.max(T.id)).scalar_subquery(),
        select(func.max(R.id)).scalar_subquery(),
        select(func.max(R.finished_at)).scalar_subquery(),
    )


class StoreVersion(NamedTuple):
    """Newest ids and counts that change whenever scoring, a team sync or a collection writes."""

    snapshots: int | None
    metric_values: int | None
    teams: int
    newest_team: int | None
    runs: int | None
    newest_finish: dt.datetime | None

    @property
    def scores(self) -> tuple[Any, ...]:
        """The part that scoring and team syncs change (collections do not)."""
        return (self.snapshots, self.metric_values, self.teams, self.newest_team)


def store_version(conn: Session | Connection) -> StoreVersion:
    """What changes whenever scoring, a team sync or a collection writes, in one statement.

    Scoring replaces snapshots and metric values by deleting and inserting them, so a new score
    always raises their newest id; teams are added or removed (count and newest id); a
    collection inserts a run row and sets its ``finished_at`` when it ends. Every part is a
    primary-key or index lookup, so the check costs the same on any store size (tens of
    microseconds: the statement is built once). Pages and API answers built only from these
    tables are valid for as long as this tuple is unchanged.
    """
    return StoreVersion(*conn.execute(_store_version_statement()).one())
