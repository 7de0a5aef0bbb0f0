"""Histories built to sit exactly at each level get that level, in every dimension, on SQLite
and PostgreSQL; re-scoring replaces; a backfill stores one snapshot per team, dimension, week."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from maturity import model as model_mod
from maturity import pipeline, snapshots
from maturity.config import Config
from maturity.store import scores, tables
from maturity.store.engine import session_scope
from tests import history as h

pytestmark = pytest.mark.integration

WEEK = dt.date(2026, 3, 8)  # a Sunday: the period end scored
MODEL = model_mod.load()


def _day(back: int, hour: int = 10) -> dt.datetime:
    """``back`` days before the period end, at ``hour`` UTC."""
    d = WEEK - dt.timedelta(days=back)
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=dt.UTC)


def build_history(session: Session, name: str, p: dict[str, Any]) -> int:
    """A team whose history is shaped by the knobs in ``p`` (see the level table below)."""
    hist = h.StoreHistory(session)
    team = hist.team(name)
    repo = hist.repository(team, f"{name}-repo")
    n = p.get("commit_days", 0)
    commits = []
    for i in range(n):
        flag = lambda share, i=i: (i % 10) < round(share * 10)  # noqa: E731
        commits.append(
            h.commit(
                team,
                _day(i),
                sha=h.sha(f"{name}-{i}"),
                test_files=int(flag(p.get("test_share", 0))),
                infra_files=int(flag(p.get("infra_share", 0))),
                ci_files=int(flag(p.get("ci_share", 0))),
                has_issue_key=flag(p.get("issue_share", 0)),
            )
        )
    hist.commits(repo, commits)
    builds = []
    if p.get("build_every_commit"):
        for i, c in enumerate(commits):
            ok = (i % 10) < round(p.get("build_success", 1.0) * 10)
            builds.append(
                h.build(
                    team,
                    c["committed_at"] + dt.timedelta(minutes=5),
                    commit_sha=c["sha"],
                    result="success" if ok else "failure",
                    tests_total=10 if (i % 10) < round(p.get("tests_share", 0) * 10) else None,
                    has_lint=(i % 10) < round(p.get("lint_share", 0) * 10),
                )
            )
    hist.builds(builds)
    prs = []
    for i in range(p.get("prs", 0)):
        merged = _day(i, 18)
        prs.append(
            h.pull_request(
                team,
                created_at=merged - dt.timedelta(hours=p.get("pr_hours", 10)),
                merged_at=merged,
                reviewed=p.get("reviewed", False),
            )
        )
    hist.pull_requests(repo, prs)
    if p.get("tags"):
        c = commits[0]
        hist.tags(repo, [h.tag(team, sha=c["sha"], at=c["committed_at"] + dt.timedelta(hours=1))])
    deps = []
    for i in range(p.get("deploy_days", 0)):
        version = f"1.{i}" if (i % 10) < round(p.get("versioned", 1.0) * 10) else None
        trigger = "automated" if p.get("automated") else "manual"
        for k, env in enumerate(p.get("envs", ["production"])):
            v = version
            if env == "production" and p.get("prod_unstaged") and version:
                v = version + "-hot"
            deps.append(
                h.deployment(team, _day(i, 8 + k), environment=env, version=v, trigger=trigger)
            )
    hist.deployments(deps)
    if p.get("issues"):
        hist.issues([h.issue(team, _day(2), is_incident=False)])
    return team


# Knobs for each (dimension, level): exactly the evidence of that level and below, and some
# criterion of the next level unmet. Survey answers: met up to the level, unmet above.
LEVEL_HISTORIES: dict[str, list[dict[str, Any]]] = {
    "source_control": [
        {},
        {"commit_days": 5, "prs": 5, "reviewed": False},
        {"commit_days": 5, "prs": 5, "reviewed": True},
        {"commit_days": 90, "prs": 5, "reviewed": True, "build_every_commit": True},
        {"commit_days": 90, "prs": 5, "reviewed": True, "build_every_commit": True, "tags": True},
    ],
    "environments": [
        {},
        {"deploy_days": 5, "envs": ["development"]},
        {
            "deploy_days": 5,
            "envs": ["development", "qa", "staging", "production"],
            "commit_days": 10,
        },
        {
            "deploy_days": 5,
            "envs": ["development", "qa", "staging", "production"],
            "commit_days": 10,
            "infra_share": 0.2,
            "prod_unstaged": True,
        },
        {
            "deploy_days": 5,
            "envs": ["development", "qa", "staging", "production"],
            "commit_days": 10,
            "infra_share": 0.2,
        },
    ],
    "build_test": [
        {"commit_days": 10},
        {"commit_days": 10, "test_share": 0.1, "build_every_commit": True, "build_success": 0.5},
        {
            "commit_days": 10,
            "test_share": 0.1,
            "build_every_commit": True,
            "deploy_days": 5,
            "envs": ["qa", "production"],
        },
        {
            "commit_days": 10,
            "test_share": 0.1,
            "build_every_commit": True,
            "tests_share": 1.0,
            "lint_share": 1.0,
            "deploy_days": 5,
            "envs": ["qa", "production"],
            "automated": True,
        },
        {
            "commit_days": 10,
            "test_share": 0.3,
            "build_every_commit": True,
            "tests_share": 1.0,
            "lint_share": 1.0,
            "deploy_days": 5,
            "envs": ["qa", "production"],
            "automated": True,
        },
    ],
    "deployment": [
        {"deploy_days": 10, "versioned": 0.5},
        {"deploy_days": 5, "versioned": 1.0},
        {"deploy_days": 5, "versioned": 1.0},
        {"deploy_days": 5, "versioned": 1.0, "commit_days": 10, "ci_share": 0.1},
        {
            "deploy_days": 20,
            "versioned": 1.0,
            "commit_days": 10,
            "ci_share": 0.1,
            "automated": True,
        },
    ],
    "reporting": [
        {},
        {"commit_days": 10, "build_every_commit": True, "tests_share": 0.6},
        {"commit_days": 10, "build_every_commit": True, "tests_share": 1.0},
        {
            "commit_days": 10,
            "build_every_commit": True,
            "tests_share": 1.0,
            "issue_share": 0.6,
            "deploy_days": 5,
            "versioned": 0.5,
        },
        {
            "commit_days": 10,
            "build_every_commit": True,
            "tests_share": 1.0,
            "issue_share": 0.6,
            "deploy_days": 5,
            "versioned": 1.0,
            "issues": True,
        },
    ],
}


def survey_for(team_id: int, dimension: str, level: int) -> dict[int, dict[str, tuple[float, int]]]:
    dim = MODEL.dimension(dimension)
    answers = {}
    for lv in dim.levels:
        for c in lv.criteria:
            if c.survey:
                answers[c.id] = (5.0, 6) if lv.number <= level else (1.0, 6)
    return {team_id: answers}


@pytest.mark.parametrize("dimension", list(LEVEL_HISTORIES))
def test_history_built_at_each_level_scores_exactly_that_level(
    sessions: sessionmaker[Session], dimension: str
) -> None:
    teams = {}
    with session_scope(sessions) as s:
        for level, knobs in enumerate(LEVEL_HISTORIES[dimension]):
            teams[level] = build_history(s, f"{dimension}-l{level}", knobs)
    survey: dict[int, dict[str, tuple[float, int]]] = {}
    for level, team_id in teams.items():
        survey.update(survey_for(team_id, dimension, level))
    run = pipeline.score(sessions, Config(), MODEL, week=WEEK, survey=survey)
    got = run.snapshots[run.snapshots["dimension"] == dimension].set_index("team_id")["level"]
    assert {lvl: int(got[t]) for lvl, t in teams.items()} == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4}
    with session_scope(sessions) as s:
        stored = scores.latest_snapshots(s)
    stored = stored[stored["dimension"] == dimension].set_index("team_id")
    for level, team_id in teams.items():
        evidence = stored.loc[team_id, "evidence"]
        assert evidence["level"] == level
        if level < 4:
            assert evidence["next_steps"], "a team below Expert must get next steps"
            assert all(step["level"] == level + 1 for step in evidence["next_steps"])


def _two_teams(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        build_history(s, "alpha", LEVEL_HISTORIES["source_control"][3])
        build_history(s, "beta", LEVEL_HISTORIES["reporting"][4])


def test_rescoring_the_same_week_replaces_and_never_duplicates(
    sessions: sessionmaker[Session],
) -> None:
    _two_teams(sessions)
    pipeline.score(sessions, Config(), MODEL, week=WEEK)
    with session_scope(sessions) as s:
        first = s.scalar(select(func.max(tables.Snapshot.computed_at)))
    pipeline.score(sessions, Config(), MODEL, week=WEEK)
    with session_scope(sessions) as s:
        count = s.scalar(select(func.count()).select_from(tables.Snapshot))
        values = s.scalar(select(func.count()).select_from(tables.MetricValue))
        second = s.scalar(select(func.min(tables.Snapshot.computed_at)))
        versions = set(s.scalars(select(tables.Snapshot.model_version)))
    assert count == 2 * len(MODEL.dimensions)
    assert values == 2 * len(snapshots.metrics_mod.CATALOGUE)
    assert second is not None and first is not None and second > first
    assert versions == {MODEL.version}


def test_backfill_stores_one_snapshot_per_team_dimension_and_week(
    sessions: sessionmaker[Session],
) -> None:
    _two_teams(sessions)
    run = pipeline.score(sessions, Config(), MODEL, week=WEEK, backfill=11, chunk_weeks=5)
    assert len(run.period_ends) == 12
    with session_scope(sessions) as s:
        snaps = scores.list_snapshots(s)
        series = scores.metric_series(s, metrics=["commits"])
    per_key = snaps.groupby(["team_id", "dimension", "period_end"]).size()
    assert len(per_key) == 2 * len(MODEL.dimensions) * 12
    assert (per_key == 1).all()
    assert sorted(set(snaps["period_end"])) == run.period_ends
    assert all(p.weekday() == 6 for p in run.period_ends)
    # the trend exists: alpha's commits in the window grow as the window slides into its history
    alpha = series[series["team"] == "alpha"].sort_values("period_end")["value"]
    assert alpha.is_monotonic_increasing and alpha.iloc[-1] == 90
