"""Counts the rows written to the store, as the database itself sees them (triggers).

``with counting(sessions) as written: ...; written()`` gives ``{(table, op): rows}`` for every
row inserted, updated or deleted in the collected tables and the cursors meanwhile, on SQLite
and PostgreSQL alike. An upsert that leaves a row as it was fires no trigger; one that sets a
column to the value it already holds does (and writes a new row version on PostgreSQL).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from maturity.store.engine import session_scope

#: every table a collection writes (``teams.sync``, the collectors, ``teams.reattribute``),
#: besides its run rows
TABLES = (
    "teams",
    "ownership",
    "repositories",
    "commits",
    "commit_files",
    "tags",
    "branches",
    "pull_requests",
    "reviews",
    "builds",
    "deployments",
    "issues",
    "issue_transitions",
    "cursors",
)
_OPS = ("INSERT", "UPDATE", "DELETE")


@contextlib.contextmanager
def counting(sessions: sessionmaker[Session]) -> Iterator[Callable[[], Counter[tuple[str, str]]]]:
    """Install the counting triggers, yield a reader of the counts, remove them again."""
    with session_scope(sessions) as session:
        dialect = session.get_bind().dialect.name
        session.execute(text("CREATE TABLE test_row_writes (tbl TEXT NOT NULL, op TEXT NOT NULL)"))
        if dialect == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION test_count_write() RETURNS trigger AS $$ BEGIN "
                    "INSERT INTO test_row_writes VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; "
                    "END $$ LANGUAGE plpgsql"
                )
            )
        for table in TABLES:
            for op in _OPS:
                name = f"test_count_{table}_{op.lower()}"
                if dialect == "postgresql":
                    session.execute(
                        text(
                            f"CREATE TRIGGER {name} AFTER {op} ON {table} "
                            "FOR EACH ROW EXECUTE FUNCTION test_count_write()"
                        )
                    )
                else:
                    session.execute(
                        text(
                            f"CREATE TRIGGER {name} AFTER {op} ON {table} FOR EACH ROW BEGIN "
                            f"INSERT INTO test_row_writes VALUES ('{table}', '{op}'); END"
                        )
                    )

    def written() -> Counter[tuple[str, str]]:
        with session_scope(sessions) as session:
            rows = session.execute(text("SELECT tbl, op FROM test_row_writes")).all()
        return Counter((str(t), str(o)) for t, o in rows)

    try:
        yield written
    finally:
        with session_scope(sessions) as session:
            for table in TABLES:
                for op in _OPS:
                    name = f"test_count_{table}_{op.lower()}"
                    if dialect == "postgresql":
                        session.execute(text(f"DROP TRIGGER {name} ON {table}"))
                    else:
                        session.execute(text(f"DROP TRIGGER {name}"))
            if dialect == "postgresql":
                session.execute(text("DROP FUNCTION test_count_write()"))
            session.execute(text("DROP TABLE test_row_writes"))
