"""The only writer of the store: upserts by natural key, cursors, and collector runs.

Every collected row goes through :func:`upsert`, keyed by its natural key, so that writing the
same batch twice changes nothing. Cursors are advanced with :func:`set_cursor` inside the same
transaction as the batch they describe, so a crash leaves either both or neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maturity.store import tables

# SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMS = 30_000


def table_of(model: type[tables.Base] | Table) -> Table:
    if isinstance(model, Table):
        return model
    table = model.__table__
    assert isinstance(table, Table)
    return table


def upsert(
    session: Session,
    model: type[tables.Base] | Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    update: Iterable[str] | None = None,
) -> int:
    """Insert ``rows`` into ``model``'s table, updating the rows whose ``key`` already exists.

    Args:
        session: the session whose transaction the write joins.
        model: an ORM class or a table.
        rows: dictionaries with the same keys, column name to value.
        key: the columns of the natural key (a unique constraint must cover them).
        update: the columns to overwrite on conflict; every non-key column by default.
            Pass an empty list to keep existing rows untouched.

    Returns:
        The number of rows sent.
    """
    if not rows:
        return 0
    table = table_of(model)
    columns = list(rows[0].keys())
    update_cols = [c for c in (columns if update is None else update) if c not in key]
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    stmt = insert(table)
    if update_cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in update_cols},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # One statement compiled once and executed for many rows (executemany: SQLite's C loop,
    # psycopg's batched VALUES): compiling a multi-row VALUES clause costs more than writing.
    chunk = max(1, _MAX_PARAMS // max(1, len(columns)))
    for start in range(0, len(rows), chunk):
        session.execute(stmt, [dict(row) for row in rows[start : start + chunk]])
    return len(rows)


def get_cursor(session: Session, *, source: str, scope: str, stream: str) -> str | None:
    """The stored position of ``stream`` in ``source``/``scope``, or None before the first run."""
    return session.scalar(
        select(tables.Cursor.value).where(
            tables.Cursor.source == source,
            tables.Cursor.scope == scope,
            tables.Cursor.stream == stream,
        )
    )


def set_cursor(session: Session, *, source: str, scope: str, stream: str, value: str) -> None:
    """Advance a cursor; call it in the transaction that wrote the data it points past."""
    upsert(
        session,
        tables.Cursor,
        [
            {
                "source": source,
                "scope": scope,
                "stream": stream,
                "value": value,
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
        key=["source", "scope", "stream"],
    )


def delete_cursors(session: Session, *, source: str, scope: str | None = None) -> None:
    """Forget cursors so that the next run reads everything again (``--full-refresh``)."""
    stmt = delete(tables.Cursor).where(tables.Cursor.source == source)
    if scope is not None:
        stmt = stmt.where(tables.Cursor.scope == scope)
    session.execute(stmt)


def start_run(session: Session, *, source: str, scope: str) -> int:
    """Record that a collection of ``source``/``scope`` started; returns the run's id."""
    run = tables.CollectorRun(
        source=source,
        scope=scope,
        started_at=dt.datetime.now(dt.UTC),
        status="running",
        records=0,
    )
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    records: int,
    counts: Mapping[str, int] | None = None,
    error: str | None = None,
) -> None:
    """Close a collector run with its outcome: ``success``, ``failed`` or ``partial``."""
    run = session.get(tables.CollectorRun, run_id)
    if run is None:
        raise LookupError(f"no collector run {run_id}")
    run.finished_at = dt.datetime.now(dt.UTC)
    run.status = status
    run.records = records
    run.counts = dict(counts) if counts else None
    run.error = error
