"""Factories for the score dashboards: teams with histories, scored by ``pipeline.score``.

One commit message and every incident title carry script and image payloads, so that any page
that shows them is tested for escaping by the browser tests.
"""

from __future__ import annotations

import datetime as dt

from maturity import model as model_mod
from maturity import pipeline
from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from tests import history as h

WEEK = dt.date(2026, 11, 22)  # a Sunday: the newest period end scored
HOSTILE_TEAM = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>window.__xss=1</script>"
MODEL = model_mod.load()


def _day(back: int, hour: int = 10) -> dt.datetime:
    d = WEEK - dt.timedelta(days=back)
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=dt.UTC)


def add_team(context: AppContext, name: str, slug: str, *, busy: int) -> int:
    """A team with ``busy`` (1-4) shaping how much it commits, builds and deploys."""
    with session_scope(context.sessions) as session:
        team = tables.Team(name=name, slug=slug)
        session.add(team)
        session.flush()
        hist = h.StoreHistory(session)
        repo = hist.repository(team.id, f"{slug}-repo")
        commits = [
            h.commit(
                team.id,
                _day(i),
                sha=h.sha(f"{slug}-{i}"),
                test_files=int(i % 4 < busy),
                ci_files=int(i % 5 == 0),
                has_issue_key=i % 3 < busy,
                subject=f"{XSS_SCRIPT} fix" if i == 0 else f"change {i}",
            )
            for i in range(0, 150, max(1, 5 - busy))
        ]
        hist.commits(repo, commits)
        hist.builds(
            [
                h.build(team.id, c["committed_at"], commit_sha=c["sha"], tests_total=10)
                for c in commits[:: 5 - busy]
            ]
        )
        hist.deployments(
            [
                h.deployment(team.id, _day(i, 14), environment=env, version=f"1.{i}")
                for i in range(0, 150, 2 * (5 - busy))
                for env in ("staging", "production")
            ]
        )
        hist.issues(
            [
                h.issue(
                    team.id,
                    _day(i, 9),
                    resolved_at=_day(i, 9 + busy),
                    updated_at=_day(i, 11),
                    title=f'{XSS_SCRIPT} <img src=x onerror="window.__xss=1"> outage {i}',
                )
                for i in range(3, 150, 20)
            ]
        )
        return int(team.id)


def seed_scored(context: AppContext, *, weeks: int = 8, hostile: bool = False) -> None:
    """Three teams (one named with an HTML payload when ``hostile``), scored for ``weeks``."""
    add_team(context, "alpha", "alpha", busy=4)
    add_team(context, "beta", "beta", busy=1)
    add_team(context, HOSTILE_TEAM if hostile else "gamma", "gamma", busy=2)
    pipeline.score(
        context.sessions, context.config, MODEL, week=WEEK, backfill=weeks - 1, today=WEEK
    )
