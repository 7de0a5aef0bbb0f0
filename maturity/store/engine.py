"""Engines and sessions: SQLite (WAL, foreign keys) or PostgreSQL, chosen by URL.

What reads and writes rows takes a :data:`Writer`: an ORM ``Session``, or a Core ``Connection``
where no mapped object is needed. A collection runs on connections alone (``engine.connect``),
so that it never imports ``sqlalchemy.orm``: this module imports it only to make sessions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from maturity.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

#: what statements run through: an ORM session or a Core connection (both commit, roll back
#: and close, and execute Core statements alike)
Writer: TypeAlias = "Session | Connection"
#: what opens one: a sessionmaker, or ``engine.connect``
Writers: TypeAlias = "Callable[[], Session | Connection]"
W = TypeVar("W", bound="Session | Connection")

DEFAULT_URL = "sqlite:///maturity.db"


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "the database URL is not a URL (sqlite:///PATH or postgresql://...)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        )
    return parsed


def normalize_url(url: str) -> str:
    """Return ``url`` with ``postgresql://`` mapped to the psycopg 3 driver we ship."""
    parsed = _parse(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def resolve_url(configured: str | None, base_dir: Path | None = None) -> str:
    """Pick the store URL: ``MATURITY_DATABASE_URL`` wins over the configuration.

    A relative SQLite path is taken relative to the configuration file's folder, so that a
    command run from anywhere opens the same store.
    """
    url = os.environ.get("MATURITY_DATABASE_URL") or configured or DEFAULT_URL
    parsed = _parse(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute() and base_dir is not None:
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return normalize_url(parsed.render_as_string(hide_password=False))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web read while a collector writes; NORMAL sync is safe under WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings every part of the product relies on."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            parent = Path(parsed.database).parent
            if not parent.exists():
                raise StoreError(f"the folder of the SQLite store does not exist: {parent}")
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)


def dialect_name(writer: Writer) -> str:
    """The name of the dialect a session or connection speaks (``sqlite``, ``postgresql``)."""
    if isinstance(writer, Connection):
        return writer.dialect.name
    return writer.get_bind().dialect.name


@contextmanager
def session_scope(factory: Callable[[], W]) -> Iterator[W]:
    """A session (or connection) that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def redacted(url: str) -> str:
    """The URL as it may be shown to a person: never with its password."""
    return make_url(url).render_as_string(hide_password=True)
