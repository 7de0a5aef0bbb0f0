"""``maturity demo``: a seeded organisation whose teams really differ, collected end to end."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Integer, func, select

from maturity import demo
from maturity.store import engine as engine_mod
from maturity.store import tables
from tests import clirun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _team_figures(db: Path) -> dict[str, dict[str, float]]:
    eng = engine_mod.make_engine(f"sqlite:///{db}")
    factory = engine_mod.make_sessionmaker(eng)
    c = tables.Commit
    figures: dict[str, dict[str, float]] = {}
    with engine_mod.session_scope(factory) as s:
        rows = s.execute(
            select(
                tables.Team.name,
                func.count(c.id),
                func.sum(func.cast(c.is_merge, Integer)),
                func.sum(func.min(c.test_files, 1)),
                func.sum(func.min(c.infra_files, 1)),
                func.count(c.issue_keys),
            )
            .join(tables.Repository, tables.Repository.team_id == tables.Team.id)
            .join(c, c.repository_id == tables.Repository.id)
            .group_by(tables.Team.name)
        ).all()
        tags = dict(
            s.execute(
                select(tables.Team.name, func.count(tables.Tag.id))
                .join(tables.Repository, tables.Repository.team_id == tables.Team.id)
                .outerjoin(tables.Tag, tables.Tag.repository_id == tables.Repository.id)
                .group_by(tables.Team.name)
            ).all()
        )
    eng.dispose()
    for name, commits, merges, tests, infra, keyed in rows:
        changes = max(1, commits - merges)  # merges carry no diff of their own
        figures[name] = {
            "commits": commits,
            "merges": merges / commits,
            "tests": tests / changes,
            "infra": infra / changes,
            "issue_keys": keyed / commits,
            "tags": tags.get(name, 0),
        }
    return figures


def _monorepo_parts(db: Path) -> dict[str, int]:
    """The ``commits`` metric of the monorepo's teams in the demo's last week, and how many
    commits the whole monorepo had in that week's 90-day window (``total``)."""
    end = demo.END.date() + dt.timedelta(days=6 - demo.END.weekday())
    with sqlite3.connect(db) as conn:
        owner = conn.execute(
            "SELECT team_id FROM repositories WHERE name = 'shop-monorepo'"
        ).fetchone()
        assert owner == (None,)  # no one team owns it whole
        rows = conn.execute(
            "SELECT t.name, m.value FROM metric_values m JOIN teams t ON t.id = m.team_id "
            "WHERE m.metric = 'commits' AND m.period_end = ? AND t.name IN ('checkout', "
            "'catalog')",
            (end.isoformat(),),
        ).fetchall()
        (total,) = conn.execute(
            "SELECT COUNT(*) FROM commits c JOIN repositories r ON r.id = c.repository_id "
            "WHERE r.name = 'shop-monorepo' AND c.committed_at >= ? AND c.committed_at < ?",
            ((end - dt.timedelta(days=89)).isoformat(), (end + dt.timedelta(days=1)).isoformat()),
        ).fetchone()
    return {**{name: int(value) for name, value in rows}, "total": int(total)}


def _latest_scores(db: Path) -> dict[str, float]:
    """Each team's summed fractional score over the dimensions in its newest scored week."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.name, SUM(s.score) FROM snapshots s JOIN teams t ON t.id = s.team_id "
            "WHERE s.period_end = (SELECT MAX(period_end) FROM snapshots WHERE team_id = t.id) "
            "GROUP BY t.name"
        ).fetchall()
    return {name: float(total) for name, total in rows}


def _checkout_weeks(db: Path) -> list[tuple[str, float]]:
    """The weeks the checkout's team was scored on, with its source-control coverage."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT s.period_end, s.coverage FROM snapshots s JOIN teams t ON t.id = s.team_id "
            "WHERE t.name = 'devops-maturity' AND s.dimension = 'source_control' "
            "ORDER BY s.period_end"
        ).fetchall()


def test_demo_collects_teams_that_differ_and_reruns_idempotently(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "maturity", "demo", "--dir", str(tmp_path / "demo")]
    first = clirun.run(cmd, env=env, capture_output=True, text=True, check=True)
    for team in ("payments", "search", "platform", "data", "mobile", "devops-maturity"):
        assert team in first.stdout
    db = tmp_path / "demo" / "maturity.db"
    figures = _team_figures(db)
    assert set(figures) == {"payments", "search", "platform", "data", "mobile", "devops-maturity"}
    pay, mob, plat = figures["payments"], figures["mobile"], figures["platform"]
    assert pay["merges"] > 0.2 and mob["merges"] == 0
    assert pay["tests"] > 0.6 > 0.1 > mob["tests"]
    assert pay["issue_keys"] > 0.8 and mob["issue_keys"] == 0
    assert pay["tags"] > 100 and mob["tags"] == 0 and figures["search"]["tags"] > 10
    assert plat["infra"] > max(f["infra"] for name, f in figures.items() if name != "platform")
    assert len({f["commits"] for f in figures.values()}) == len(figures)
    config = (tmp_path / "demo" / "maturity.toml").read_text()
    assert 'name = "devops-maturity"' in config
    # Scored from git, delivery events and survey rounds: the teams land at different levels.
    scores = _latest_scores(db)
    assert scores["payments"] > scores["search"] > scores["data"] > scores["mobile"]
    # This checkout's team is scored on its own dates, where its commits are, not on the demo's
    # pinned weeks before them: every week it was scored on has source-control data.
    dates = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--all", "--no-merges", "--format=%cs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    own = _checkout_weeks(db)
    assert own and all(coverage > 0 for _, coverage in own)
    assert own[0][0] >= min(dates)  # no week before its first commit
    assert own[-1][0] >= max(dates) > demo.END.date().isoformat()
    # The monorepo is shared: checkout and catalog each count their own part of its commits
    # (a commit touching both counts for both, one touching only libs/ for neither).
    part = _monorepo_parts(db)
    assert set(part) == {"checkout", "catalog", "total"}
    assert all(0 < part[t] < part["total"] for t in ("checkout", "catalog"))
    assert part["checkout"] != part["catalog"]
    assert 'paths = ["services/checkout/**"]' in config
    report = (tmp_path / "demo" / "report-payments.html").read_text()
    assert "payments" in report and 'type="application/json"' in report  # charts inline

    # This project's own checkout may gain commits meanwhile (other work goes on); the
    # generated teams must not change at all.
    before = _team_figures(db)
    before.pop("devops-maturity")
    second = clirun.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert "generated" not in second.stderr
    after = _team_figures(db)
    assert after.pop("devops-maturity")["commits"] > 0
    assert after == before


def test_generator_is_deterministic_and_reports_what_it_made(tmp_path: Path) -> None:
    demo.generate(tmp_path / "a")
    demo.generate(tmp_path / "b")
    a, b = demo.history(tmp_path / "a"), demo.history(tmp_path / "b")
    assert [(r.team, r.default_commits, r.tags) for r in a] == [
        (r.team, r.default_commits, r.tags) for r in b
    ]
    payments = a[0]
    assert payments.team == "payments" and len(payments.default_commits) > 300
    dates = [when for _, when in payments.default_commits]
    assert dates == sorted(dates) and dates[0] < "2025-01-01" < dates[-1]
    on_main = {sha for sha, _ in payments.default_commits}
    assert payments.tags and all(sha in on_main for _, sha, _ in payments.tags)
    mobile = next(r for r in a if r.team == "mobile")
    assert mobile.default_branch == "master" and mobile.tags == []
