"""Reading the store into frames for metrics: every row, in chunks, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity.store import inputs
from maturity.store.engine import session_scope
from tests import history as h

pytestmark = pytest.mark.integration


def test_frames_hold_every_row_when_read_in_chunks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "READ_CHUNK", 3)
    ny = dt.timezone(dt.timedelta(hours=-5))
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        team = hist.team("alpha")
        repo = hist.repository(team, "alpha-api")
        commits = [
            h.commit(
                team,
                h.at("2026-03-01", 10) + dt.timedelta(hours=i),
                sha=h.sha(f"x{i}"),
                test_files=i % 2,
                has_issue_key=i < 4,
                on_default_branch=None if i == 9 else True,
            )
            for i in range(10)
        ]
        hist.commits(repo, commits)
        hist.deployments(
            [
                h.deployment(team, h.at("2026-03-02", 9 + i, tz=ny), commit_sha=commits[i]["sha"])
                for i in range(7)
            ]
        )
    with session_scope(sessions) as s:
        f = inputs.scoring_frames(
            s,
            since=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            until=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
            team_ids=[team],
        )
    c, d = f["commits"], f["deployments"]
    assert len(c) == 10 and len(d) == 7
    assert sorted(c["sha_hash"]) == sorted(inputs.sha_hash(pd.Series([r["sha"] for r in commits])))
    assert c["test_files"].sum() == 5 and c["has_issue_key"].sum() == 4
    assert c["on_default_branch"].isna().sum() == 1
    assert str(c["committed_at"].dt.tz) == "UTC"
    # 09:00 at UTC-5 is 14:00 UTC
    assert d["started_at"].min() == dt.datetime(2026, 3, 2, 14, tzinfo=dt.UTC)
    assert set(d["sha_hash"]) <= set(c["sha_hash"])
    bounds = f["bounds"].set_index("kind")
    assert bounds.loc["git", "first_at"] == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
