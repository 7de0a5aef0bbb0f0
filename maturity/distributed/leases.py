"""Scope leases in PostgreSQL: a (source, scope) is collected by one worker at a time.

A lease row is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a row another worker is
claiming this instant counts as taken) and held until ``expires_at``, which a heartbeat moves
forward while the scope is collected; a worker killed with ``kill -9`` stops renewing and its
lease runs out, so the redelivered task can take the scope over. Time is the database's clock,
never a worker's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Float, String, column, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from maturity.store import tables
from maturity.store.engine import session_scope

log = logging.getLogger("maturity.distributed.leases")
L = tables.ScopeLease


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: held (``busy`` False) or someone else's until ``retry_in_s``."""

    busy: bool
    #: the run key and result of the last task that finished the scope
    done_key: str | None = None
    result: dict[str, Any] | None = None
    #: seconds until the other holder's lease runs out (when busy)
    retry_in_s: float = 0.0


# One round trip in the usual case (the row exists): lock the row unless another claim has it
# locked (SKIP LOCKED), take it if its lease is over, and read what the last finished task left.
# The UPDATE in WITH runs whether or not the SELECT reads it, on the row the CTE locked.
_CLAIM = text(
    """
    WITH cur AS (
        SELECT id, done_key, result, expires_at,
               holder IS NULL OR expires_at IS NULL OR expires_at <= now() AS free
        FROM scope_leases
        WHERE source = :source AND scope = :scope
        FOR UPDATE SKIP LOCKED
    ), taken AS (
        UPDATE scope_leases
        SET holder = :holder, expires_at = now() + make_interval(secs => :lease_s)
        WHERE id = (SELECT id FROM cur WHERE free)
    )
    SELECT free, done_key, result, EXTRACT(EPOCH FROM expires_at - now()) AS left_s FROM cur
    """
).columns(
    column("free", Boolean),
    column("done_key", String),
    column("result", L.__table__.c.result.type),  # the table's own JSON text type
    column("left_s", Float),
)


def claim(session: Session, *, source: str, scope: str, holder: str, lease_s: float) -> Claim:
    """Take the lease of (source, scope) for ``lease_s`` seconds unless another holds it."""
    args = {"source": source, "scope": scope, "holder": holder, "lease_s": float(lease_s)}
    row = session.execute(_CLAIM, args).first()
    if row is None:
        # Locked by a claim in progress elsewhere, or no row yet. A plain read tells them apart
        # without waiting (an insert would wait for the other claim's transaction).
        if session.scalar(select(L.id).where(L.source == source, L.scope == scope)) is not None:
            return Claim(busy=True, retry_in_s=1.0)
        session.execute(
            insert(L)
            .values(source=source, scope=scope)
            .on_conflict_do_nothing(index_elements=["source", "scope"])
        )
        row = session.execute(_CLAIM, args).first()
        if row is None:  # created by another worker in this very instant
            return Claim(busy=True, retry_in_s=1.0)
    if not row.free:
        return Claim(busy=True, retry_in_s=max(1.0, float(row.left_s or 0.0)))
    return Claim(busy=False, done_key=row.done_key, result=row.result)


def renew(session: Session, *, source: str, scope: str, holder: str, lease_s: float) -> bool:
    """Move the lease's end forward; False when it is no longer ours (it ran out and was taken)."""
    moved = session.execute(
        update(L)
        .where(L.source == source, L.scope == scope, L.holder == holder)
        .values(expires_at=func.now() + dt.timedelta(seconds=lease_s))
    )
    return bool(getattr(moved, "rowcount", 0))


def release(
    session: Session,
    *,
    source: str,
    scope: str,
    holder: str,
    done_key: str | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    """Give the lease up; with ``done_key``, remember that this run finished the scope.

    Committed without waiting for the write-ahead log's flush (``synchronous_commit`` off for
    this transaction only): the flush was half a task's overhead, and losing a release to a
    crash of PostgreSQL itself costs no correctness, only time: the lease runs out as a dead
    worker's does, and a redelivered task collects the scope again (the writes are upserts)
    instead of returning the remembered outcome. A claim still waits for its flush."""
    session.execute(text("SET LOCAL synchronous_commit = off"))
    values: dict[str, Any] = {"holder": None, "expires_at": None}
    if done_key is not None:
        values.update(done_key=done_key, result=result)
    session.execute(
        update(L).where(L.source == source, L.scope == scope, L.holder == holder).values(**values)
    )


@contextlib.contextmanager
def heartbeat(
    sessions: sessionmaker[Session], *, source: str, scope: str, holder: str, lease_s: float
) -> Iterator[threading.Event]:
    """Renew the lease every third of ``lease_s`` while the block runs; the event yielded is
    set if the lease was lost (the process stalled longer than the lease)."""
    stop = threading.Event()
    lost = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            try:
                with session_scope(sessions) as session:
                    ok = renew(session, source=source, scope=scope, holder=holder, lease_s=lease_s)
            except Exception as exc:
                log.warning("could not renew the lease of %s %s: %s", source, scope, exc)
                continue
            if not ok:
                log.warning("lost the lease of %s %s to another worker", source, scope)
                lost.set()
                return

    thread = threading.Thread(target=beat, name=f"lease {source} {scope}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()
