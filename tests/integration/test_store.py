"""The store: migrations match the tables, upserts are idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from maturity.store import engine as engine_mod
from maturity.store import migrate, tables, write

pytestmark = pytest.mark.integration


def test_migrations_produce_exactly_the_declared_schema(store_url: str) -> None:
    eng = engine_mod.make_engine(store_url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, tables.Base.metadata)
    eng.dispose()
    assert diff == []


def test_a_store_is_found_current_without_alembic_as_alembic_finds_it(
    store_url: str, tmp_path: Path
) -> None:
    """The check every command makes reads the revision files and the version row itself."""
    assert migrate.head_revision() == migrate._alembic_head()
    eng = engine_mod.make_engine(store_url)
    with eng.connect() as conn:
        assert (
            migrate.current_revision(eng) == MigrationContext.configure(conn).get_current_revision()
        )
    assert migrate.is_current(eng)
    eng.dispose()
    empty = engine_mod.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert migrate.current_revision(empty) is None and not migrate.is_current(empty)
    empty.dispose()
    migrate.upgrade(f"sqlite:///{tmp_path / 'old.db'}", "0002")
    old = engine_mod.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert migrate.current_revision(old) == "0002" and not migrate.is_current(old)
    old.dispose()


def _revision(revision: str, down: str) -> str:
    return (
        f'"""A revision.\n\nRevision ID: {revision}\nRevises: x\n"""\n\n'
        f'revision: str = "{revision}"\ndown_revision: str | None = {down}\n\n\n'
        "def upgrade() -> None:\n    revision = 'not this one'\n"
    )


@pytest.mark.parametrize(
    ("files", "heads"),
    [
        ({"a": _revision("0001", "None"), "b": _revision("0002", '"0001"')}, ("0002",)),
        ({"a": _revision("0001", "None"), "b": _revision("0002", '("0001",)')}, ("0002",)),
        # two heads: alembic is asked, and says what is wrong
        ({"a": _revision("0001", "None"), "b": _revision("0002", "None")}, ("0001", "0002")),
        # not the plain form (a value over several lines, a name, an assignment twice): alembic
        ({"a": _revision("0001", "None").replace("= None", "= (\n    None\n)")}, ()),
        ({"a": _revision("0001", "PREVIOUS")}, ()),
        ({"a": _revision("0001", "None") + 'revision = "0009"\n'}, ()),
        ({"a": _revision("0001", "None").replace("down_revision", "down")}, ()),
    ],
)
def test_the_head_is_read_from_the_revision_lines_or_left_to_alembic(
    tmp_path: Path, files: dict[str, str], heads: tuple[str, ...]
) -> None:
    (tmp_path / "versions").mkdir()
    for name, text in files.items():
        (tmp_path / "versions" / f"{name}.py").write_text(text, encoding="utf-8")
    assert migrate._heads(tmp_path) == heads


def _build(n: int, result: str) -> dict[str, object]:
    return {
        "source": "jenkins",
        "scope": "payments/api",
        "external_id": str(n),
        "job": "payments/api",
        "number": n,
        "result": result,
        "started_at": dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    }


def test_upsert_twice_changes_nothing_and_updates_in_place(
    sessions: sessionmaker[Session],
) -> None:
    key = ["source", "scope", "external_id"]
    with engine_mod.session_scope(sessions) as s:
        write.upsert(s, tables.Build, [_build(1, "running"), _build(2, "success")], key)
    with engine_mod.session_scope(sessions) as s:
        write.upsert(s, tables.Build, [_build(1, "failure"), _build(2, "success")], key)
    with engine_mod.session_scope(sessions) as s:
        rows = s.execute(select(tables.Build.number, tables.Build.result).order_by("number")).all()
        started = s.scalar(select(tables.Build.started_at).where(tables.Build.number == 1))
    assert [tuple(r) for r in rows] == [(1, "failure"), (2, "success")]
    assert started == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)


def test_upsert_splits_batches_beyond_the_parameter_limit(
    sessions: sessionmaker[Session],
) -> None:
    rows = [_build(n, "success") for n in range(8_000)]  # 56,000 parameters
    with engine_mod.session_scope(sessions) as s:
        write.upsert(s, tables.Build, rows, ["source", "scope", "external_id"])
    with engine_mod.session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(tables.Build)) == 8_000


def test_cursor_rolls_back_with_its_batch(sessions: sessionmaker[Session]) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine_mod.session_scope(sessions) as s:
        write.upsert(s, tables.Build, [_build(1, "success")], ["source", "scope", "external_id"])
        write.set_cursor(s, source="jenkins", scope="payments/api", stream="builds", value="1")
        raise Boom
    with engine_mod.session_scope(sessions) as s:
        assert write.get_cursor(s, source="jenkins", scope="payments/api", stream="builds") is None
        assert s.scalar(select(func.count()).select_from(tables.Build)) == 0


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    row = _build(1, "success") | {"started_at": dt.datetime(2026, 1, 1)}
    with pytest.raises(Exception, match="naive datetime"), engine_mod.session_scope(sessions) as s:
        write.upsert(s, tables.Build, [row], ["source", "scope", "external_id"])
