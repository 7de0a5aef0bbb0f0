"""End to end: GitHub, Jenkins and Jira collected through their real client libraries into one
store give one team its DORA four keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors
from collectors.base import CollectContext
from maturity import config, model, pipeline, teams
from maturity.store import tables
from maturity.store.engine import session_scope
from tests.servers.github import GitHubServer
from tests.servers.jenkins import JenkinsServer
from tests.servers.jira import JiraServer

pytestmark = pytest.mark.integration

UTC = dt.UTC
WEEK_END = dt.date(2026, 11, 1)  # a Sunday: the week scored
DAY = dt.datetime(2026, 10, 5, 9, tzinfo=UTC)


@pytest.fixture
def servers(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[GitHubServer, JenkinsServer, JiraServer]]:
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("JENKINS_USER", "ci")
    monkeypatch.setenv("JENKINS_TOKEN", "s3cret")
    monkeypatch.setenv("JIRA_USER", "collector")
    monkeypatch.setenv("JIRA_TOKEN", "jira-secret-token-123")
    jenkins = JenkinsServer(user="ci", token="s3cret").start()
    with GitHubServer(token="test-token") as gh, JiraServer() as jira:
        yield gh, jenkins, jira
    jenkins.stop()


def test_github_jenkins_and_jira_give_the_four_keys(
    sessions: sessionmaker[Session], servers: tuple[GitHubServer, JenkinsServer, JiraServer]
) -> None:
    gh, jenkins, jira = servers
    repo = gh.add_repo("acme", "payments-api")
    for i in range(5):  # a commit, then its production deployment four hours later
        repo.add_commit(at=DAY + dt.timedelta(days=3 * i))
        states = ["in_progress", "failure"] if i == 2 else ["in_progress", "success"]
        repo.add_deployment(at=DAY + dt.timedelta(days=3 * i, hours=4), states=states)
    jenkins.add_folder("payments")
    jenkins.add_job("payments/deploy-prod")
    for i in range(3):
        when = DAY + dt.timedelta(days=3 * i + 1)
        jenkins.add_build(
            "payments/deploy-prod", timestamp_ms=int(when.timestamp() * 1000), cause="scm"
        )
    for i, hours in enumerate((1, 2, 3)):
        start = DAY + dt.timedelta(days=3 * i, hours=5)
        jira.add_issue(
            "PAY",
            created=start,
            issue_type="Incident",
            priority="Critical",
            status="Resolved",
            resolved=start + dt.timedelta(hours=hours),
        )
    cfg = config.Config.model_validate(
        {
            "sources": {
                "github": {"base_url": gh.url, "min_request_interval_s": 0, "timeout_s": 5},
                "jenkins": {
                    "url": jenkins.url,
                    "deploy_rules": [
                        {"job_pattern": "payments/deploy-*", "environment": "production"}
                    ],
                },
                "jira": {"url": jira.url},
            },
            "teams": [
                {
                    "name": "payments",
                    "github": ["acme/payments-api"],
                    "jenkins": ["payments/*"],
                    "jira": ["PAY"],
                }
            ],
        }
    )
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    for source in ("github", "jenkins", "jira"):
        results = collectors.collector(source)(CollectContext(config=cfg, sessions=sessions))
        assert results and all(r.status == "success" for r in results), results
    with session_scope(sessions) as session:
        teams.reattribute(session)
        by_source = dict(
            session.execute(
                select(tables.Deployment.source, tables.Deployment.team_id).distinct()
            ).all()
        )
    assert set(by_source) == {"github", "jenkins"} and len(set(by_source.values())) == 1

    pipeline.score(sessions, cfg, model.load(), week=WEEK_END, today=WEEK_END)
    with session_scope(sessions) as session:
        values = dict(
            session.execute(
                select(tables.MetricValue.metric, tables.MetricValue.value).where(
                    tables.MetricValue.period_end == WEEK_END
                )
            ).all()
        )
    window_weeks = cfg.settings.window_days / 7
    # 4 successful GitHub deployments + 3 Jenkins deploy builds, in a 90-day window.
    assert values["deployment_frequency"] == pytest.approx(7 / window_weeks)
    # Jira incidents restored in 1, 2 and 3 hours.
    assert values["time_to_restore_hours"] == pytest.approx(2.0)
    # One of eight production deployments failed outright; incidents may add more.
    assert 1 / 8 <= values["change_failure_rate"] <= 1
    # Each API commit went out with the deployment that followed it.
    assert values["lead_time_hours"] is not None and 0 < values["lead_time_hours"] < 72
