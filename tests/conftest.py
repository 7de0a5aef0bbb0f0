"""Shared fixtures: real stores (SQLite files, PostgreSQL databases) migrated by Alembic."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from maturity import wiring
from maturity.context import AppContext
from maturity.store import engine as engine_mod
from maturity.store import migrate
from tests import sleepreport

wiring.wire()  # what every entry point does: configurations may name the collectors' sources
_SLEEPS = sleepreport.from_environment()  # MATURITY_TEST_REPORT_SLEEPS=1: list waits over 0.3 s
if _SLEEPS is not None:
    _SLEEPS.install()
POSTGRES_ENV = "MATURITY_TEST_POSTGRES_URL"
# One template per test process, so that concurrent runs never drop each other's template.
_TEMPLATE_DB = f"maturity_test_template_{os.getpid()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once; each test copies it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    eng = engine_mod.make_engine(url)
    with eng.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    eng.dispose()
    return path


def _admin_url() -> str | None:
    raw = os.environ.get(POSTGRES_ENV)
    return engine_mod.normalize_url(raw) if raw else None


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL template database migrated once per test session."""
    admin = _admin_url()
    if admin is None:
        pytest.skip(f"{POSTGRES_ENV} is not set (CI always sets it)")
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_TEMPLATE_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{_TEMPLATE_DB}"'))
    url = make_url(admin).set(database=_TEMPLATE_DB).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield _TEMPLATE_DB
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_TEMPLATE_DB}" WITH (FORCE)'))
    eng.dispose()


def new_postgres_store(template: str) -> tuple[str, str]:
    """Create a fresh database from the template; returns (url, name)."""
    admin = _admin_url()
    assert admin is not None
    name = f"maturity_test_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    eng.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False), name


def drop_postgres_store(name: str) -> None:
    admin = _admin_url()
    assert admin is not None
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite store on disk."""
    path = tmp_path / "maturity.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated store: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    template = request.getfixturevalue("postgres_template")
    url, name = new_postgres_store(template)
    yield url
    drop_postgres_store(name)


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh store (SQLite and PostgreSQL)."""
    eng = engine_mod.make_engine(store_url)
    yield engine_mod.make_sessionmaker(eng)
    eng.dispose()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own configuration, store or git identity."""
    for var in ("MATURITY_CONFIG", "MATURITY_DATABASE_URL", "MATURITY_AUTHOR_SALT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


@pytest.fixture(autouse=True)
def _survey_holders_stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every survey holder a test made (a web application's, the demo's) ends with the test:
    its thread stops and what it still holds is dropped, as when a server process ends."""
    from maturity import survey_batches

    made: list[survey_batches.Holder] = []
    original = survey_batches.Holder.__init__

    def init(self: survey_batches.Holder, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(survey_batches.Holder, "__init__", init)
    yield
    for holder in made:
        holder.stop(write=False)


@pytest.fixture
def context(tmp_path: Path, store_url: str) -> Iterator[AppContext]:
    """A configured store (two teams owning services) on SQLite and PostgreSQL; modules that
    need another shape define their own ``context``."""
    from tests import webstore

    ctx = webstore.make_context(tmp_path, store_url)
    yield ctx
    ctx.close()


# --- the order of the modules: the longest first, so that none starts last on a worker ---


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a slow test (marked ``slow``: more than a few seconds each), then those that
    drive the browser, then the rest, each group in collection order; a module's tests stay
    together and in their order. Under pytest-xdist (``make test``: ``--dist loadscope
    --no-loadscope-reorder``) the workers take modules in this order, so the tail of a run is
    short unit-test modules, not the one-test, one-minute clean install."""

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    rank: dict[str, int] = {}
    for item in items:
        slow, browser = item.get_closest_marker("slow"), item.get_closest_marker("browser")
        heavy = 0 if slow else 1 if browser else 2
        rank[module(item)] = min(rank.get(module(item), 2), heavy)
    items.sort(key=lambda item: rank[module(item)])


# --- MATURITY_TEST_REPORT_SLEEPS=1: the real-clock waits of this run (tests/sleepreport.py) ---


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if _SLEEPS is not None:
        _SLEEPS.swap_bound_defaults()  # modules a test imports late, too
        _SLEEPS.test = item.nodeid
    yield
    if _SLEEPS is not None:
        _SLEEPS.test = "(outside a test)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SLEEPS is not None:
        terminalreporter.section("real-clock waits")
        for line in _SLEEPS.lines():
            terminalreporter.write_line(line)
