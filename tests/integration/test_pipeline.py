"""The one pipeline: collect every source or chosen scopes, then score, on real git repositories
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import collectors
from collectors import runner
from collectors.base import CollectContext
from maturity import config as config_mod
from maturity import model as model_mod
from maturity import pipeline
from maturity.store import tables
from maturity.store.engine import session_scope
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration


def _setup(tmp_path: Path) -> tuple[config_mod.Config, dict[str, str]]:
    shas = {}
    for team in ("alpha", "beta"):
        repo = GitRepo(tmp_path / team)
        shas[team] = repo.commit(f"{team}: first", {"README.md": team})
    config = tmp_path / "maturity.toml"
    config.write_text(
        '[settings]\ncache_dir = "cache"\n\n'
        + "".join(
            f'[[teams]]\nname = "{team}"\nrepositories = {json.dumps([str(tmp_path / team)])}\n'
            for team in ("alpha", "beta")
        ),
        encoding="utf-8",
    )
    return config_mod.load(config), shas


def _commits_by_team(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    with session_scope(sessions) as s:
        rows = s.execute(
            select(tables.Team.name, tables.Commit.sha)
            .join(tables.Repository, tables.Repository.id == tables.Commit.repository_id)
            .join(tables.Team, tables.Team.id == tables.Repository.team_id)
        ).all()
    out: dict[str, list[str]] = {}
    for team, sha in rows:
        out.setdefault(team, []).append(sha)
    return out


def test_collecting_chosen_scopes_collects_those_alone_and_attributes_them(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cfg, shas = _setup(tmp_path)
    git = collectors.SOURCES["git"]
    names = runner.list_scopes(CollectContext(cfg, sessions), git).names
    [alpha_scope] = [n for n in names if n.endswith("alpha")]
    done = pipeline.collect(sessions, cfg, scopes=[("git", alpha_scope)])
    assert [(r.source, r.scope, r.status) for r in done.results] == [
        ("git", alpha_scope, "success")
    ]
    assert _commits_by_team(sessions) == {"alpha": [shas["alpha"]]}
    everything = pipeline.collect(sessions, cfg, sources=["git"])
    assert sorted(r.scope.rsplit("/", 1)[-1] for r in everything.results) == ["alpha", "beta"]
    assert _commits_by_team(sessions) == {"alpha": [shas["alpha"]], "beta": [shas["beta"]]}
    assert everything.summary()["failed_scopes"] == 0


def test_scoring_after_collecting_stores_every_team_and_week(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cfg, _shas = _setup(tmp_path)
    pipeline.collect(sessions, cfg, sources=["git"])
    model = model_mod.load(None)
    # the repositories' one commit each is dated 2025-01-06; score that week and the one after
    run = pipeline.score(
        sessions, cfg, model, week=dt.date(2025, 1, 13), backfill=1, today=dt.date(2025, 1, 13)
    )
    assert run.period_ends == [dt.date(2025, 1, 12), dt.date(2025, 1, 19)]
    with session_scope(sessions) as s:
        stored = s.scalar(select(func.count()).select_from(tables.Snapshot))
    assert stored == 2 * len(model.dimensions) * 2  # two teams, every dimension, two weeks


def test_scoring_refuses_a_chunk_of_no_weeks(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cfg, _shas = _setup(tmp_path)
    with pytest.raises(ValueError, match="chunk_weeks"):
        pipeline.score(sessions, cfg, model_mod.load(None), chunk_weeks=0)
