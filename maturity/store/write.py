"""The only writer of the store: upserts by natural key, cursors, and collector runs.

Every collected row goes through :func:`upsert`, keyed by its natural key, so that writing the
same batch twice changes nothing (and writes nothing: unchanged rows are left alone). Cursors
are advanced with :func:`set_cursor` inside the same transaction as the batch they describe, so
a crash leaves either both or neither. Collectors never write SQL of their own: updates of a
column (:func:`update_rows`), rows replaced as a set (:func:`replace_rows`) and rows gone at
the source (:func:`delete_absent`) are here too.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, Table, delete, insert, or_, select, update

from maturity.store import schema
from maturity.store.engine import dialect_name
from maturity.store.types import JSONText, UTCDateTime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

    from maturity.store import tables
    from maturity.store.engine import Writer

# The ORM (``tables``) is imported by the functions that add objects: a collection, which
# writes through Core alone, never imports ``sqlalchemy.orm``.

#: keys in one ``IN (...)``: well inside SQLite's and PostgreSQL's parameter limits
_IN_CHUNK = 500


def table_of(model: type[tables.Base] | Table) -> Table:
    if isinstance(model, Table):
        return model
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert(dialect: str) -> Any:
    """The INSERT with ON CONFLICT of ``dialect``; imported when used: a SQLite store never
    pays for the PostgreSQL dialect, nor a PostgreSQL one for SQLite's."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def upsert(
    session: Writer,
    model: type[tables.Base] | Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    update: Iterable[str] | None = None,
) -> int:
    """Insert ``rows`` into ``model``'s table, updating the rows whose ``key`` already exists.

    A stored row whose update columns already hold the new values is left alone (``ON CONFLICT
    DO UPDATE ... WHERE`` one of them differs): collecting unchanged data again writes no row,
    no dead tuple on PostgreSQL, nothing to the write-ahead log.

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
    dialect = dialect_name(session)
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    stmt = _insert(dialect)(table)
    if update_cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in update_cols},
            where=or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in update_cols)),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # One compiled statement executed with many parameter sets: SQLAlchemy batches it into
    # multi-row VALUES within each driver's parameter limit, and caches the compilation.
    session.execute(stmt, [dict(r) for r in rows])
    return len(rows)


def ids_by_key(
    session: Writer,
    model: type[tables.Base] | Table,
    column: str,
    values: Collection[Any],
    **where: Any,
) -> dict[Any, int]:
    """``{value of column: id}`` of the rows just written (to link their children to them)."""
    table = table_of(model)
    found: dict[Any, int] = {}
    wanted = list(dict.fromkeys(values))
    for start in range(0, len(wanted), _IN_CHUNK):
        stmt = select(table.c[column], table.c.id).where(
            table.c[column].in_(wanted[start : start + _IN_CHUNK]),
            *(table.c[k] == v for k, v in where.items()),
        )
        found.update({k: int(v) for k, v in session.execute(stmt).all()})
    return found


def rows_where(
    session: Writer, model: type[tables.Base] | Table, columns: Sequence[str], **where: Any
) -> list[tuple[Any, ...]]:
    """``columns`` of the rows matching ``where``: what a writer checks before it writes."""
    table = table_of(model)
    stmt = select(*(table.c[c] for c in columns)).where(
        *(table.c[k] == v for k, v in where.items())
    )
    return [tuple(row) for row in session.execute(stmt).all()]


def update_rows(
    session: Writer,
    model: type[tables.Base] | Table,
    values: Mapping[str, Any],
    *,
    where: Mapping[str, Any],
    where_in: tuple[str, Collection[Any]] | None = None,
) -> int:
    """Set ``values`` on the rows matching ``where`` (and ``column IN values``) that differ.

    Returns:
        How many rows changed (rows already holding ``values`` are not written).
    """
    table = table_of(model)
    conditions = [table.c[k] == v for k, v in where.items()]
    conditions.append(or_(*(table.c[k].is_distinct_from(v) for k, v in values.items())))
    if where_in is None:
        result = session.execute(update(table).where(*conditions).values(**values))
        return int(getattr(result, "rowcount", 0) or 0)
    column, keys = where_in
    wanted = sorted(set(keys), key=str)
    changed = 0
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        result = session.execute(
            update(table).where(*conditions, table.c[column].in_(chunk)).values(**values)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def delete_absent(
    session: Writer,
    model: type[tables.Base] | Table,
    column: str,
    keep: Collection[Any],
    *,
    where: Mapping[str, Any],
    children: Sequence[tuple[type[tables.Base] | Table, str]] = (),
) -> int:
    """Delete the rows matching ``where`` whose ``column`` is not in ``keep`` (and, first, their
    ``children``: (table, foreign key column) pairs). Returns how many rows were deleted."""
    table = table_of(model)
    stored = session.execute(
        select(table.c.id, table.c[column]).where(*(table.c[k] == v for k, v in where.items()))
    ).all()
    keep_set = set(keep)
    gone = sorted(int(row_id) for row_id, value in stored if value not in keep_set)
    for start in range(0, len(gone), _IN_CHUNK):
        chunk = gone[start : start + _IN_CHUNK]
        for child, foreign_key in children:
            child_table = table_of(child)
            session.execute(delete(child_table).where(child_table.c[foreign_key].in_(chunk)))
        session.execute(delete(table).where(table.c.id.in_(chunk)))
    return len(gone)


def replace_rows(
    session: Writer,
    model: type[tables.Base] | Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    where: Mapping[str, Any],
) -> int:
    """Make the rows matching ``where`` exactly ``rows``: upsert them, delete the others.

    ``key`` is the natural key; its last column tells rows apart within ``where`` (the tags of
    one repository by name). Returns how many rows were deleted.
    """
    upsert(session, model, rows, key)
    column = key[-1]
    return delete_absent(session, model, column, {r[column] for r in rows}, where=where)


def get_cursor(session: Writer, *, source: str, scope: str, stream: str) -> str | None:
    """The stored position of ``stream`` in ``source``/``scope``, or None before the first run."""
    C = schema.cursors
    return session.scalar(
        select(C.c.value).where(C.c.source == source, C.c.scope == scope, C.c.stream == stream)
    )


def set_cursor(session: Writer, *, source: str, scope: str, stream: str, value: str) -> None:
    """Advance a cursor; call it in the transaction that wrote the data it points past.

    A cursor that already holds ``value`` is not written (nor its ``updated_at`` touched).
    """
    table = schema.cursors
    row = {
        "source": source,
        "scope": scope,
        "stream": stream,
        "value": value,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    stmt = _insert(dialect_name(session))(table).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "scope", "stream"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        where=table.c.value.is_distinct_from(stmt.excluded.value),
    )
    session.execute(stmt)


#: what a run still marked running says when the next run of its scope starts
INTERRUPTED = "the process ended before this run finished (found when the next run started)"


def start_run(session: Writer, *, source: str, scope: str) -> int:
    """Record that a collection of ``source``/``scope`` started; returns the run's id.

    A run of the same scope still marked running was killed (SIGKILL, a reboot, an out-of-memory
    kill) before it could record its end: it becomes ``interrupted``, so that no page shows it
    running for ever. Should it in fact still be running elsewhere, its own end overwrites this.
    """
    R = schema.collector_runs
    session.execute(
        update(R)
        .where(R.c.source == source, R.c.scope == scope, R.c.status == "running")
        .values(status="interrupted", error=INTERRUPTED)
    )
    stmt = insert(R).values(
        source=source, scope=scope, started_at=dt.datetime.now(dt.UTC), status="running", records=0
    )
    return int(session.execute(stmt.returning(R.c.id)).scalar_one())


def finish_run(
    session: Writer,
    run_id: int,
    *,
    status: str,
    records: int,
    counts: Mapping[str, int] | None = None,
    error: str | None = None,
) -> None:
    """Close a collector run with its outcome: ``success``, ``failed`` or ``partial``."""
    R = schema.collector_runs
    found = session.execute(
        update(R)
        .where(R.c.id == run_id)
        .values(
            finished_at=dt.datetime.now(dt.UTC),
            status=status,
            records=records,
            counts=dict(counts) if counts else None,
            error=error,
        )
        .returning(R.c.id)
    ).scalar_one_or_none()
    if found is None:
        raise LookupError(f"no collector run {run_id}")


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
    dialect = dialect_name(session)
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
    import pandas as pd

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
    import pandas as pd

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
    from maturity.store import tables

    session.add(
        tables.ReportRun(
            team_id=team_id,
            period_start=period_start,
            period_end=period_end,
            format=fmt,
            generated_at=generated_at or dt.datetime.now(dt.UTC),
        )
    )


def open_login_session(
    session: Session,
    *,
    id_hash: str,
    role: str,
    binding: str,
    expires_at: dt.datetime,
    now: dt.datetime | None = None,
) -> None:
    """Store a browser's login by the digest of its id; expired ones are dropped meanwhile."""
    from maturity.store import tables

    now = now or dt.datetime.now(dt.UTC)
    session.execute(delete(tables.LoginSession).where(tables.LoginSession.expires_at <= now))
    session.add(
        tables.LoginSession(
            id_hash=id_hash, role=role, binding=binding, created_at=now, expires_at=expires_at
        )
    )


def close_login_session(session: Session, *, id_hash: str) -> int:
    """Forget a browser's login (logout): the cookie stops working at once; rows deleted."""
    from maturity.store import tables

    result = session.execute(
        delete(tables.LoginSession).where(tables.LoginSession.id_hash == id_hash)
    )
    return int(getattr(result, "rowcount", 0) or 0)
