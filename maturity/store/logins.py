"""Browser login sessions as the web reads them (``maturity.store.write`` opens and closes them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from maturity.store import tables


def get_login_session(
    session: Session | Connection, *, id_hash: str, now: dt.datetime
) -> tuple[str, str] | None:
    """(role, binding) of an unexpired browser login by the digest of its id, or None."""
    S = tables.LoginSession
    row = session.execute(
        select(S.role, S.binding).where(S.id_hash == id_hash, S.expires_at > now)
    ).first()
    return (str(row[0]), str(row[1])) if row is not None else None
