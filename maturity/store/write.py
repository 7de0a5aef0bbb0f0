"""The only writer of the store: upserts by natural key, cursors, and collector runs.

Every collected row goes through :func:`upsert`, keyed by its natural key, so that writing the
same batch twice changes nothing. Cursors are advanced with :func:`set_cursor` inside the same
transaction as the batch they describe, so a crash leaves either both or neither.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Date, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maturity.store import tables
from maturity.store.types import JSONText, UTCDateTime


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
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    if update_cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in update_cols},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # One compiled statement executed with many parameter sets: SQLAlchemy batches it into
    # multi-row VALUES within each driver's parameter limit, and caches the compilation.
    session.execute(stmt, [dict(r) for r in rows])
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


#: what a run still marked running says when the next run of its scope starts
INTERRUPTED = "the process ended before this run finished (found when the next run started)"


def start_run(session: Session, *, source: str, scope: str) -> int:
    """Record that a collection of ``source``/``scope`` started; returns the run's id.

    A run of the same scope still marked running was killed (SIGKILL, a reboot, an out-of-memory
    kill) before it could record its end: it becomes ``interrupted``, so that no page shows it
    running for ever. Should it in fact still be running elsewhere, its own end overwrites this.
    """
    R = tables.CollectorRun
    session.execute(
        update(R)
        .where(R.source == source, R.scope == scope, R.status == "running")
        .values(status="interrupted", error=INTERRUPTED)
    )
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


def replace_computed(
    session: Session,
    model: type[tables.Base] | Table,
    frame: pd.DataFrame,
    *,
    team_ids: Sequence[int],
    period_ends: Sequence[dt.date],
    chunk: int = 20_000,
) -> int:
    """Replace computed rows (snapshots, metric values) of ``team_ids`` x ``period_ends``.

    Deletes those cells and bulk-inserts ``frame`` in the session's transaction: the same week
    scored again replaces, never duplicates, and a failure leaves the old rows. Bulk insertion
    goes around the ORM (COPY on PostgreSQL, ``executemany`` on SQLite) because a two-year
    backfill writes about a million rows; values are converted exactly as the column types do
    (naive UTC timestamps, ISO dates, JSON text with sorted keys).
    """
    table = table_of(model)
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"bulk replace is not implemented for {dialect}")
    for start in range(0, len(team_ids), 5_000):
        session.execute(
            delete(table).where(
                table.c.team_id.in_(list(team_ids[start : start + 5_000])),
                table.c.period_end.in_(list(period_ends)),
            )
        )
    if frame.empty:
        return 0
    raw: Any = session.connection().connection.dbapi_connection
    assert raw is not None
    cols = list(frame.columns)
    names = ", ".join(cols)
    # converted and sent in slices, so a backfill never holds all its JSON text at once
    for start in range(0, len(frame), chunk):
        data = _db_values(table, frame.iloc[start : start + chunk])
        if dialect == "postgresql":
            buf = io.StringIO()
            data.to_csv(buf, index=False, header=False, na_rep="\\N")
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
                ) as copy,
            ):
                copy.write(buf.getvalue())
        else:
            values = [data[c].astype(object).where(data[c].notna(), None).tolist() for c in cols]
            cur = raw.cursor()
            # table and column names come from our own schema, never from input
            marks = ", ".join("?" * len(cols))
            cur.executemany(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608
                zip(*values, strict=True),
            )
            cur.close()
    return len(frame)


def _db_values(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Values as the column types would bind them: JSON text, naive UTC, ISO dates."""
    data = frame.copy()
    for col in data.columns:
        column_type = table.c[col].type
        if isinstance(column_type, JSONText):
            data[col] = [
                json.dumps(v, sort_keys=True, separators=(",", ":"), default=str) for v in data[col]
            ]
        elif isinstance(column_type, UTCDateTime | Date):
            # few distinct values (the weeks, one computed_at): convert each once
            as_text = {v: _db_text(v, column_type) for v in pd.unique(data[col])}
            data[col] = data[col].map(as_text)
    return data


def _db_text(value: Any, column_type: Any) -> str:
    if isinstance(column_type, UTCDateTime):
        return str(pd.Timestamp(value).tz_convert("UTC").tz_localize(None).isoformat(sep=" "))
    return str(pd.Timestamp(value).date().isoformat())


def record_report_run(
    session: Session,
    *,
    team_id: int,
    period_start: dt.date,
    period_end: dt.date,
    fmt: str,
    generated_at: dt.datetime | None = None,
) -> None:
    """Remember a generated report so the next one starts where this one ended."""
    session.add(
        tables.ReportRun(
            team_id=team_id,
            period_start=period_start,
            period_end=period_end,
            format=fmt,
            generated_at=generated_at or dt.datetime.now(dt.UTC),
        )
    )
