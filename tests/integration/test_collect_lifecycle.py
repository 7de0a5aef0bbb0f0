"""The one run lifecycle (``collectors.runner``) and the one declaration per source.

A source here is declared in this file, as a new code host would be in its own folder, and
registered with one line; the configuration, the team ownership and the runner take it up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors
from collectors import runner
from collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    Page,
    ScopeResult,
    Scopes,
    Source,
    Stream,
)
from maturity import config as config_mod
from maturity import teams
from maturity.store import tables
from maturity.store.engine import session_scope

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


# --- a source as a new code host would declare it ---------------------------------------------


class HostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    #: streams that answer with an error, to try the lifecycle
    broken: list[str] = []


class Runs(Stream):
    """CI runs of one repository: declares its table and key, and gets the upsert."""

    source = "forge"
    name = "runs"
    table = tables.Build
    key = ("source", "scope", "external_id")

    def __init__(self, scope: str, count: int, broken: bool) -> None:
        super().__init__(scope)
        self.count, self.broken = count, broken

    def pages(self, since: str | None) -> Iterator[Page]:
        if self.broken:
            raise CollectorError(f"forge {self.scope}: runs: 404 (not offered by this server)")
        start = int(since or 0)
        for first in range(start, self.count, 2):
            raws = [{"n": n} for n in range(first, min(first + 2, self.count))]
            yield Page(raws, cursor=str(first + len(raws)))

    def normalize(self, raw: Any) -> Any:
        n = raw["n"]
        return {
            "source": "forge",
            "scope": self.scope,
            "external_id": str(n),
            "job": "ci",
            "number": n,
            "result": "success",
            "started_at": T0 + dt.timedelta(minutes=n),
        }


class Reviews(Runs):
    name = "reviews"


class Forge(Collector[HostConfig]):
    def scopes(self) -> Scopes:
        names = [e for t in self.ctx.config.teams for e in t.owns("forge")]
        return Scopes(names=[n for n in names if n != "gone/*"], failed={"gone/*": "no such owner"})

    def streams(self, scope: str) -> list[Stream]:
        broken = self.settings.broken
        return [Runs(scope, 5, "runs" in broken), Reviews(scope, 3, "reviews" in broken)]


FORGE = Source(
    name="forge",
    settings=HostConfig,
    team_key="forge",
    collector=f"{__name__}:Forge",
    lists_repositories=True,
)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one registration line, and the configuration models built again with it."""
    monkeypatch.setitem(collectors.SOURCES, FORGE.name, FORGE)
    config_mod._source_specs.cache_clear()
    config_mod.models.cache_clear()
    yield
    monkeypatch.delitem(collectors.SOURCES, FORGE.name)
    config_mod._source_specs.cache_clear()
    config_mod.models.cache_clear()


def forge_config(tmp_path: Path, broken: str = "") -> config_mod.Config:
    text = f"""
[sources.forge]
url = "https://forge.example.com"
broken = [{broken}]

[[teams]]
name = "payments"
forge = ["acme/api", "gone/*"]
"""
    return config_mod.parse(text, source=tmp_path / "maturity.toml")


def collect(
    sessions: sessionmaker[Session], cfg: config_mod.Config, **kw: Any
) -> list[ScopeResult]:
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    return runner.collect(CollectContext(config=cfg, sessions=sessions, **kw), ["forge"])


def run_rows(sessions: sessionmaker[Session]) -> list[tuple[str, str, int, str | None]]:
    with session_scope(sessions) as session:
        rows = session.scalars(select(tables.CollectorRun).order_by(tables.CollectorRun.id))
        return [(r.scope, r.status, r.records, r.error) for r in rows]


# --- the declaration ---------------------------------------------------------------------------


def test_a_source_declared_once_gets_its_section_team_key_and_ownership(
    registered: None, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    cfg = forge_config(tmp_path)
    section = cfg.source("forge")
    assert isinstance(section, HostConfig) and section.url == "https://forge.example.com"
    assert cfg.team("payments").owns("forge") == ["acme/api", "gone/*"]
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse("[sources.forge]\nurl = 1\n", source=tmp_path / "maturity.toml")
    assert "sources.forge.url" in str(info.value)
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
        owned = session.scalars(
            select(tables.Ownership.pattern).where(tables.Ownership.source == "forge")
        ).all()
    assert sorted(owned) == ["acme/api", "gone/*"]


def test_without_the_registration_line_the_section_is_an_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse('[sources.forge]\nurl = "x"\n', source=tmp_path / "maturity.toml")
    assert "sources.forge: unknown key" in str(info.value)


# --- the lifecycle -----------------------------------------------------------------------------


def test_every_scope_gets_one_run_and_a_failing_stream_makes_it_partial(
    registered: None, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    results = collect(sessions, forge_config(tmp_path, broken='"reviews"'))
    by_scope = {r.scope: r for r in results}
    assert by_scope["gone/*"].status == "failed" and by_scope["gone/*"].error == "no such owner"
    api = by_scope["acme/api"]
    assert (api.status, api.records, api.counts) == ("partial", 5, {"runs": 5})
    assert api.failed_streams == {
        "reviews": "forge acme/api: runs: 404 (not offered by this server)"
    }
    assert run_rows(sessions) == [
        ("gone/*", "failed", 0, "no such owner"),
        ("acme/api", "partial", 5, "forge acme/api: runs: 404 (not offered by this server)"),
    ]
    assert runner.summary(results) == (
        "1 of 2 scope(s) failed; the others were collected; "
        "1 scope(s) partly collected (a stream failed or records were skipped)"
    )


def test_a_scope_whose_every_stream_fails_is_failed_and_the_summary_says_so(
    registered: None, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    results = collect(sessions, forge_config(tmp_path, broken='"runs", "reviews"'))
    assert [(r.scope, r.status) for r in results] == [("gone/*", "failed"), ("acme/api", "failed")]
    assert runner.summary(results) == "all 2 scope(s) failed"


def test_one_scope_can_be_collected_on_its_own(
    registered: None, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    cfg = forge_config(tmp_path)
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    ctx = CollectContext(config=cfg, sessions=sessions)
    result = runner.collect_one(ctx, FORGE, "acme/api")
    assert (result.status, result.counts) == ("success", {"runs": 5, "reviews": 3})
    assert [r[:2] for r in run_rows(sessions)] == [("acme/api", "success")]


class Interrupt(Stream):
    source = "forge"
    name = "runs"

    def pages(self, since: str | None) -> Iterator[Page]:
        raise KeyboardInterrupt


def test_an_interrupted_run_is_recorded_as_interrupted_and_the_interruption_goes_on(
    registered: None,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Forge, "streams", lambda self, scope: [Interrupt(scope)])
    cfg = forge_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        collect(sessions, cfg)
    rows = run_rows(sessions)
    assert rows[-1][:2] == ("acme/api", "interrupted")
    assert rows[-1][3] == "stopped by KeyboardInterrupt before the run finished"
