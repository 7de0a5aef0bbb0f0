"""The GitLab collector against a local server speaking GitLab's REST API v4, through
python-gitlab.

Every test runs on SQLite and PostgreSQL. Request counts come from the server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

import collectors.gitlab as gitlab_collector
from collectors.base import CollectContext, ScopeResult
from maturity import config as config_mod
from maturity import model, pipeline, teams
from maturity.store import tables, write
from maturity.store.engine import session_scope
from tests import clirun
from tests.rowwrites import counting
from tests.servers.gitlab import T0, Fault, GitLabServer, RateLimit
from tests.virtualclock import VirtualClock

pytestmark = pytest.mark.integration

TOKEN = "glpat-secret-token-value-123"
STREAMS = ("merge_requests", "commits", "pipelines", "jobs", "deployments", "issues")


class Notes:
    """A progress sink that keeps what it was told."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitLabServer]:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitLabServer(token=TOKEN) as srv:
        yield srv


def make_config(
    srv: GitLabServer, gitlab: list[str], *, extra: str = "", timeout_s: float = 1
) -> config_mod.Config:
    listed = ", ".join(f'"{g}"' for g in gitlab)
    text_ = f"""
[sources.gitlab]
url = "{srv.url}"
timeout_s = {timeout_s}
retry_backoff_s = 0.01
rate_limit_reset_margin_s = 0.05
{extra}
[[teams]]
name = "payments"
gitlab = [{listed}]
"""
    return config_mod.parse(text_, source=Path("maturity.toml"))


def collect(
    sessions: sessionmaker[Session],
    cfg: config_mod.Config,
    progress: Any = None,
    clock: VirtualClock | None = None,
) -> list[ScopeResult]:
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    ctx = CollectContext(config=cfg, sessions=sessions, progress=progress or Notes())
    if clock is not None:
        ctx.clock = clock
    return gitlab_collector.collect(ctx)


def count(sessions: sessionmaker[Session], model_: type[tables.Base], **where: Any) -> int:
    with session_scope(sessions) as session:
        stmt = select(func.count()).select_from(model_)
        for key, value in where.items():
            stmt = stmt.where(getattr(model_, key) == value)
        return int(session.scalar(stmt) or 0)


def by_path(srv: GitLabServer, fragment: str) -> int:
    return sum(n for path, n in srv.counts.items() if fragment in path)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with session_scope(sessions) as session:
        for model_ in (
            tables.PullRequest,
            tables.Review,
            tables.Commit,
            tables.Build,
            tables.Deployment,
            tables.Issue,
            tables.Cursor,
        ):
            table = write.table_of(model_)
            out[table.name] = [tuple(r) for r in session.execute(select(table).order_by("id"))]
    return out


# --- a full first collection, then an unchanged one ----------------------------------------


def test_first_collection_stores_every_stream_attributed_to_the_team(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/payments/api").populate(
        merge_requests=230, commits=120, pipelines=250, deployments=4, issues=30
    )
    [result] = collect(sessions, make_config(server, ["acme/payments/api"]))
    assert (result.scope, result.status) == ("acme/payments/api", "success"), result.error
    assert count(sessions, tables.PullRequest) == 230
    # every merge request has one approval (none by its author)
    assert count(sessions, tables.Review) == 230
    assert count(sessions, tables.Commit) == 120
    assert count(sessions, tables.Build) == 250
    assert count(sessions, tables.Deployment) == 4
    assert count(sessions, tables.Issue) == 30
    with session_scope(sessions) as s:
        team_id = s.scalar(select(tables.Team.id).where(tables.Team.name == "payments"))
        repo = s.scalar(
            select(tables.Repository).where(tables.Repository.key == "gitlab:acme/payments/api")
        )
        assert repo is not None and repo.kind == "gitlab" and repo.slug == "acme/payments/api"
        assert repo.team_id == team_id and repo.default_branch == "main"
        for model_ in (tables.Build, tables.Deployment, tables.Issue):
            assert set(s.scalars(select(model_.team_id))) == {team_id}, model_
        assert set(s.scalars(select(tables.Build.source))) == {"gitlab_ci"}
        # merge request 1: merged, approved an hour after it opened, first commit 2 h before
        spec = project.merge_requests[0]
        pr = s.scalar(select(tables.PullRequest).where(tables.PullRequest.number == 1))
        assert pr is not None and pr.state == "merged"
        assert pr.approval_count == 1 and pr.review_count == 1
        assert pr.first_review_at == spec["approvals"][0]["at"]
        assert pr.first_commit_at == spec["commits"][0]["at"]
        assert pr.merge_commit_sha == spec["merge_sha"] and pr.head_sha == spec["sha"]
        assert pr.author_hash and "dev-a" not in pr.author_hash
        # pipelines: every other one lints; two of three publish a JUnit report
        lint = dict(s.execute(select(tables.Build.number, tables.Build.has_lint)).all())
        assert lint == {i + 1: i % 2 == 0 for i in range(250)}
        tests = dict(s.execute(select(tables.Build.number, tables.Build.tests_total)).all())
        assert tests == {i + 1: (30 + i % 7 if i % 3 != 2 else None) for i in range(250)}
        failed = s.scalar(select(tables.Build).where(tables.Build.number == 10))
        assert failed is not None and failed.result == "failure" and failed.duration_s == 360.0
        incidents = set(
            s.scalars(select(tables.Issue.key).where(tables.Issue.is_incident.is_(True)))
        )
        # a label (every 4th) or GitLab's incident type (every 6th, 0-based 5, 11, ...)
        assert incidents == {f"#{i + 1}" for i in range(30) if i % 4 == 0 or i % 6 == 5}
        envs = Counter(s.scalars(select(tables.Deployment.environment)))
        assert envs == {"staging": 2, "production": 2}
    # Lists at their minimum (items / 100 plus the overlap of the updated_after re-query); one
    # approvals request per merge request and one commits request per merged one.
    assert by_path(server, "/merge_requests") - by_path(server, "/merge_requests/") == 3
    assert by_path(server, "/approvals") == 230
    assert by_path(server, "/merge_requests/") - by_path(server, "/approvals") == 184
    assert by_path(server, "/pipelines") - by_path(server, "/pipelines/") == 3
    assert server.counts["/projects/acme/payments/api/jobs"] == 7  # 625 jobs, keyset
    assert by_path(server, "/test_report_summary") == len([i for i in range(250) if i % 3 != 2])
    assert server.counts["/projects/acme/payments/api/repository/commits"] == 2


def test_unchanged_rerun_costs_one_request_per_stream_and_writes_nothing(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/payments/api").populate(
        merge_requests=150, commits=130, pipelines=220, deployments=3, issues=120
    )
    cfg = make_config(server, ["acme/payments/api"])
    collect(sessions, cfg)
    before = snapshot(sessions)
    with counting(sessions) as written:
        for _ in range(2):
            server.reset_counts()
            [result] = collect(sessions, cfg)  # with teams.sync, as `maturity collect`
            assert result.status == "success", result.error
            with session_scope(sessions) as s:
                teams.reattribute(s)
            # one request per stream, plus the project itself
            assert server.total() == len(STREAMS) + 1, dict(server.counts)
            assert all(n == 1 for n in server.counts.values()), dict(server.counts)
        assert written() == Counter(), written()
    assert snapshot(sessions) == before


def test_second_collection_reads_only_what_changed(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/payments/api").populate(
        merge_requests=250, pipelines=250, issues=150
    )
    cfg = make_config(server, ["acme/payments/api"])
    collect(sessions, cfg)
    later = T0 + dt.timedelta(days=30)
    project.merge_requests[2]["approvals"].append(
        {"login": "reviewer-c", "user_id": 999, "at": later}
    )
    project.touch_merge_request(3, later)
    project.add_merge_request(at=later)
    project.add_pipeline(at=later)
    project.add_issue(at=later, incident=True)
    server.reset_counts()
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    assert result.counts["merge_requests"] == 2
    assert result.counts["pipelines"] == 1 and result.counts["issues"] == 1
    assert by_path(server, "/approvals") == 2  # only the two changed merge requests
    assert by_path(server, "/test_report_summary") == 1
    assert server.counts["/projects/acme/payments/api/jobs"] == 1
    assert count(sessions, tables.PullRequest) == 251
    assert count(sessions, tables.Build) == 251
    with session_scope(sessions) as s:
        pr = s.scalar(select(tables.PullRequest).where(tables.PullRequest.number == 3))
        assert pr is not None and pr.approval_count == 2
        newest = s.scalar(select(tables.Build).where(tables.Build.number == 251))
        assert newest is not None and newest.has_lint is True and newest.tests_total == 40


def test_updated_after_queries_use_the_watermark_and_keyset_pages_use_their_links(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=120)
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    jobs = [path for _, path, _ in server.log if path.split("?")[0].endswith("/jobs")]
    assert all("pagination=keyset" in p and "order_by=id" in p and "sort=desc" in p for p in jobs)
    assert sum("cursor=" in p for p in jobs) == len(jobs) - 1  # next pages follow the Link
    pipelines = [p for _, p, _ in server.log if p.split("?")[0].endswith("/pipelines")]
    assert "updated_after" not in pipelines[0] and "updated_after=" in pipelines[1]
    # the project is addressed by its URL-encoded path
    assert all(p.startswith("/api/v4/projects/acme%2Fapi/") for p in jobs + pipelines)


# --- projects and groups ------------------------------------------------------------------


def test_group_glob_lists_the_group_with_its_subgroups_and_keeps_the_matches(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    for path in ("acme/payments/api", "acme/payments/ledger/core", "acme/search/web"):
        server.add_project(path).populate(pipelines=2)
    server.add_project("acme/payments/old", archived=True).populate(pipelines=1)
    results = collect(sessions, make_config(server, ["acme/payments/*", "*/search/*"]))
    assert sorted(r.scope for r in results) == [
        "acme/payments/api",
        "acme/payments/ledger/core",
        "acme/search/web",
    ]
    assert {r.status for r in results} == {"success"}
    assert server.counts["/groups/acme/payments/projects"] == 1
    # a glob with no fixed group reads the token's projects with keyset pagination
    listed = [p for _, p, _ in server.log if p.startswith("/api/v4/projects?")]
    assert len(listed) == 1 and "pagination=keyset" in listed[0]
    # listed projects need no project request of their own
    assert server.counts["/projects/acme/payments/api"] == 0
    assert server.counts["/projects/acme/search/web"] == 0


def test_unknown_group_fails_its_entry_with_a_clear_message(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=1)
    results = collect(sessions, make_config(server, ["ghost/*", "acme/api"]))
    status = {r.scope: (r.status, r.error) for r in results}
    assert status["acme/api"] == ("success", None)
    state, error = status["ghost/*"]
    assert state == "failed"
    assert (error or "").startswith("gitlab ghost/*: projects: 404 404 Group Not Found")
    assert "check teams[].gitlab" in (error or "")


# --- throttling and faults -----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("/pipelines", "502", times=3, skip=1),
        Fault("/pipelines", "timeout", times=1, skip=1, delay=1.0),
        Fault("/pipelines", "reset", times=2, skip=1),
        Fault("/pipelines", "truncate", times=1, skip=1),
        Fault("/pipelines", "429", times=1, skip=1, retry_after=0),
    ],
    ids=["502-burst", "timeout", "connection-reset", "truncated-json", "429"],
)
def test_transient_failures_are_retried_and_nothing_is_lost(
    sessions: sessionmaker[Session],
    server: GitLabServer,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_project("acme/api").populate(pipelines=350)
    # a fault of its own: the parameter's object is shared by the SQLite and PostgreSQL runs, and
    # the first run used it up (times 0), so the second injected nothing and passed regardless
    fault = dataclasses.replace(fault)
    server.inject(fault)
    # the timeout: the client gives up after 0.3 s on the answer held back for 1 s
    timeout_s = 0.3 if fault.kind == "timeout" else 1
    cfg = make_config(server, ["acme/api"], extra="test_reports = false", timeout_s=timeout_s)
    caplog.set_level(logging.WARNING, logger="collectors.retry")
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    assert fault.times == 0  # the fault really happened
    if fault.kind == "timeout":  # the client gave up on its timeout, not on a hang-up
        assert "ReadTimeout; retrying" in caplog.text, caplog.text
    assert count(sessions, tables.Build) == 350


def test_429_waits_as_long_as_retry_after_says_and_says_so(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=5)
    fault = Fault("/pipelines", "429", times=1, retry_after=1)
    server.inject(fault)
    notes = Notes()
    # at each wait: how many requests had arrived, and how many 429s were still to be given
    clock = VirtualClock(mark=lambda: (server.counts.total(), fault.times))
    server.rate.clock = clock.time
    cfg = make_config(server, ["acme/api"])
    [result] = collect(sessions, cfg, progress=notes, clock=clock)
    assert result.status == "success", result.error
    # one wait, of Retry-After's second (not the 0.01 s backoff), after the 429 was given and
    # before the request that followed it
    [wait] = clock.waits
    arrived, to_give = wait.mark
    assert wait.seconds == 1.0 and to_give == 0
    assert server.counts.total() > arrived
    said = [n for n in notes.notes if "rate limited (429)" in n]
    assert said and "retrying in 1.0s" in said[0], notes.notes


def test_spent_ratelimit_budget_is_waited_out_before_asking_again(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=150, issues=3)
    clock = VirtualClock(mark=lambda: server.counts.total())  # requests arrived by then
    server.rate = RateLimit(limit=2000, remaining=3, reset_in_s=0.1, window_s=60, clock=clock.time)
    notes = Notes()
    cfg = make_config(server, ["acme/api"])
    [result] = collect(sessions, cfg, progress=notes, clock=clock)
    assert result.status == "success", result.error
    assert count(sessions, tables.Build) == 150 and count(sessions, tables.Issue) == 3
    assert any("rate-limit budget spent; waiting" in n for n in notes.notes), notes.notes
    # RateLimit-Remaining: 0 was read and waited out: GitLab never had to answer 429
    assert not any(status == 429 for _, _, status in server.log)
    # one wait, for a reset at most a second and its margin away, after the 3 requests the
    # budget allowed
    [wait] = clock.waits
    assert 0 < wait.seconds <= 0.1 + 1 + 1 and wait.mark == 3


def test_rate_limit_reset_beyond_the_allowed_wait_fails_clearly(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=10)
    server.rate = RateLimit(limit=2000, remaining=0, reset_at=time.time() + 3000)
    cfg = make_config(server, ["acme/api"], extra="max_rate_limit_wait_s = 5")
    started = time.monotonic()
    [result] = collect(sessions, cfg)
    assert result.status == "failed"
    assert (result.error or "").startswith("gitlab acme/api: project: 429")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("kind", "expected", "hint"),
    [
        ("401", "401 401 Unauthorized", "check the token in $GITLAB_TOKEN"),
        ("403", "403 403 Forbidden", "read_api scope"),
        ("404", "404 404 Project Not Found", "no such project or group"),
    ],
)
def test_auth_and_missing_project_fail_that_scope_at_once_others_still_run(
    sessions: sessionmaker[Session],
    server: GitLabServer,
    kind: str,
    expected: str,
    hint: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_project("acme/broken").populate(pipelines=5)
    server.add_project("acme/fine").populate(pipelines=5)
    server.inject(Fault("/projects/acme/broken", kind, times=100))
    caplog.set_level(logging.DEBUG)
    results = collect(sessions, make_config(server, ["acme/broken", "acme/fine"]))
    status = {r.scope: (r.status, r.error) for r in results}
    assert status["acme/fine"] == ("success", None)
    state, error = status["acme/broken"]
    assert state == "failed" and error is not None
    assert error.startswith(f"gitlab acme/broken: project: {expected}") and hint in error
    assert by_path(server, "/projects/acme/broken") == 1  # never retried
    assert TOKEN not in error and TOKEN not in caplog.text


def test_bad_token_fails_every_scope_with_the_variable_named_and_no_token_anywhere(
    sessions: sessionmaker[Session], server: GitLabServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    server.add_project("acme/api").populate(pipelines=3, issues=2)
    wrong = "glpat-wrong-token-456"
    monkeypatch.setenv("GITLAB_TOKEN", wrong)
    caplog.set_level(logging.DEBUG)
    [result] = collect(sessions, make_config(server, ["acme/api"]))
    assert result.status == "failed"
    assert (result.error or "").startswith("gitlab acme/api: project: 401 401 Unauthorized")
    assert "$GITLAB_TOKEN" in (result.error or "")
    assert server.log[0][2] == 401 and len(server.log) == 1
    with session_scope(sessions) as s:
        for table in ("cursors", "collector_runs", "repositories"):
            rows = s.execute(text(f"SELECT * FROM {table}")).all()
            assert wrong not in repr(rows) and TOKEN not in repr(rows)
    assert wrong not in caplog.text


def test_a_failing_stream_is_recorded_and_the_other_streams_are_collected(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(merge_requests=3, pipelines=5, issues=6)
    server.inject(Fault("/issues", "403", times=1))
    [result] = collect(sessions, make_config(server, ["acme/api"]))
    assert result.status == "partial"
    assert set(result.failed_streams) == {"issues"}
    assert (result.error or "").startswith("gitlab acme/api: issues: 403 403 Forbidden")
    assert count(sessions, tables.PullRequest) == 3 and count(sessions, tables.Build) == 5
    [again] = collect(sessions, make_config(server, ["acme/api"]))
    assert again.status == "success" and count(sessions, tables.Issue) == 6


def test_malformed_record_is_skipped_with_a_reason_and_the_rest_is_stored(
    sessions: sessionmaker[Session], server: GitLabServer, caplog: pytest.LogCaptureFixture
) -> None:
    project = server.add_project("acme/api").populate(pipelines=20)
    project.pipelines[5]["override"] = {"created_at": "not a time"}
    [result] = collect(sessions, make_config(server, ["acme/api"]))
    assert result.status == "partial" and result.skipped == 1
    assert count(sessions, tables.Build) == 19
    assert "not a timestamp" in caplog.text


# --- records as they change ---------------------------------------------------------------


def test_running_pipeline_is_read_again_and_gets_its_lint_and_tests_when_it_finishes(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/api").populate(pipelines=3)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    running = project.add_pipeline(at=now - dt.timedelta(minutes=30), status="running")
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        row = s.scalar(select(tables.Build).where(tables.Build.number == 4))
        assert row is not None and row.result == "running" and row.tests_total is None
    project.finish_pipeline(running, "success", now)
    server.reset_counts()
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    with session_scope(sessions) as s:
        row = s.scalar(select(tables.Build).where(tables.Build.number == 4))
        assert row is not None and row.result == "success"
        assert row.has_lint is True and row.tests_total == 40 and row.tests_failed == 1
    assert by_path(server, "/test_report_summary") == 1


def test_deployment_trigger_comes_from_how_its_pipeline_started(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/api")
    pushed = project.add_pipeline(at=T0, source="push")
    clicked = project.add_pipeline(at=T0 + dt.timedelta(hours=1), source="web")
    project.add_deployment(at=T0 + dt.timedelta(minutes=10), pipeline=pushed)
    project.add_deployment(at=T0 + dt.timedelta(hours=2), pipeline=clicked)
    project.add_deployment(at=T0 + dt.timedelta(hours=3), pipeline=None)  # made by API
    project.add_deployment(at=T0 + dt.timedelta(hours=4), environment="review/x", pipeline=None)
    cfg = make_config(server, ["acme/api"], extra='deployment_environments = ["prod*"]')
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        rows = s.execute(
            select(tables.Deployment.environment, tables.Deployment.trigger).order_by(
                tables.Deployment.started_at
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("production", "automated"),
        ("production", "manual"),
        ("production", None),
    ]


def test_hotfix_label_makes_the_deployment_of_its_merge_commit_a_hotfix(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/api")
    mr = project.add_merge_request(at=T0, labels=["Hotfix"], squash=True)
    project.add_deployment(at=T0 + dt.timedelta(hours=8), sha=mr["squash_sha"])
    project.add_deployment(at=T0 + dt.timedelta(hours=9))
    collect(sessions, make_config(server, ["acme/api"]))
    with session_scope(sessions) as s:
        pr = s.scalar(select(tables.PullRequest))
        assert pr is not None and pr.is_hotfix and pr.merge_commit_sha == mr["squash_sha"]
        flags = s.execute(select(tables.Deployment.commit_sha, tables.Deployment.is_hotfix)).all()
    assert {sha: flag for sha, flag in flags}[mr["squash_sha"]] is True
    assert sum(bool(flag) for _, flag in flags) == 1


def test_approvals_without_a_time_still_count_as_reviews(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/api")
    mr = project.add_merge_request(at=T0, approvers=["lead", "dev-a"])  # dev-a is the author
    for entry in mr["approvals"]:
        entry["at"] = None  # an older GitLab: who approved, not when
    collect(sessions, make_config(server, ["acme/api"]))
    with session_scope(sessions) as s:
        pr = s.scalar(select(tables.PullRequest))
        assert pr is not None and pr.approval_count == 1 and pr.first_review_at is None
        [review] = s.scalars(select(tables.Review)).all()
        assert review.state == "APPROVED" and review.submitted_at is None


# --- end to end: a team on GitLab gets its DORA keys and review rate ------------------------

WEEK_END = dt.date(2026, 11, 1)
DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)


def test_a_team_owning_gitlab_projects_gets_its_dora_keys_and_review_rate_after_score(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/payments/api")
    for i in range(4):
        at = DAY + dt.timedelta(days=3 * i)
        commit = project.add_commit(at=at)
        # merge requests 1 and 3 approved by someone else, 2 and 4 merged unreviewed
        project.add_merge_request(at=at, approvers=["lead"] if i % 2 == 0 else [])
        ran = project.add_pipeline(at=at + dt.timedelta(hours=1), sha=commit["sha"])
        project.add_deployment(
            at=at + dt.timedelta(hours=4),
            sha=commit["sha"],
            pipeline=ran,
            status="failed" if i == 3 else "success",
        )
        if i < 2:  # incidents restored in 1 and 3 hours
            start = at + dt.timedelta(hours=6)
            project.add_issue(at=start, incident=True, closed=start + dt.timedelta(hours=1 + 2 * i))
    cfg = make_config(server, ["acme/payments/*"])
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    pipeline.score(sessions, cfg, model.load(), week=WEEK_END, today=WEEK_END)
    with session_scope(sessions) as s:
        values = dict(
            s.execute(
                select(tables.MetricValue.metric, tables.MetricValue.value).where(
                    tables.MetricValue.period_end == WEEK_END
                )
            ).all()
        )
    weeks = cfg.settings.window_days / 7
    assert values["deployment_frequency"] == pytest.approx(3 / weeks)  # three succeeded
    # commit -> the end of its deployment: started 4 h later, finished 3 minutes after that
    assert values["lead_time_hours"] == pytest.approx(4.05)
    # the failed deployment, and the two deployments the incidents came after
    assert values["change_failure_rate"] == pytest.approx(3 / 4)
    assert values["time_to_restore_hours"] == pytest.approx(2.0)
    assert values["review_rate"] == pytest.approx(0.5)
    assert values["build_success_rate"] == pytest.approx(1.0)
    assert values["ci_coverage"] == pytest.approx(1.0)
    assert values["test_reporting_share"] == pytest.approx(1.0)
    assert values["lint_share"] == pytest.approx(1.0)


def test_cursors_are_json_and_hold_no_secret(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(merge_requests=3, pipelines=3, issues=2, commits=3)
    collect(sessions, make_config(server, ["acme/api"]))
    with session_scope(sessions) as s:
        cursors = {c.stream: json.loads(c.value) for c in s.scalars(select(tables.Cursor))}
    assert set(cursors) >= {"merge_requests", "pipelines", "jobs", "issues", "commits"}
    assert TOKEN not in json.dumps(cursors)


class Killed(BaseException):
    """Stands for the process dying: nothing in the collector may catch it."""


class DieInJobs(Notes):
    """Dies after ``pages`` pages of the jobs stream were written."""

    def __init__(self, pages: int) -> None:
        super().__init__()
        self.pages = pages
        self.label = ""

    def start(self, label: str, total: int | None = None) -> None:
        self.label = label

    def advance(self, amount: int = 1) -> None:
        if self.label.endswith(" jobs"):
            self.pages -= 1
            if self.pages == 0:
                raise Killed


def test_jobs_walk_stopped_between_pages_resumes_from_its_saved_link(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(pipelines=120)  # 300 jobs: three keyset pages
    cfg = make_config(server, ["acme/api"], extra="test_reports = false")
    with pytest.raises(Killed):
        collect(sessions, cfg, progress=DieInJobs(pages=1))
    assert 0 < count(sessions, tables.Build, has_lint=None) < 120
    server.reset_counts()
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    jobs = [path for _, path, _ in server.log if path.split("?")[0].endswith("/jobs")]
    assert len(jobs) == 2 and all("cursor=" in p for p in jobs), jobs  # pages 2 and 3 only
    assert count(sessions, tables.Build, has_lint=None) == 0


def test_cli_collects_gitlab_and_reports_a_failed_scope_without_the_token(
    server: GitLabServer, tmp_path: Path
) -> None:
    import os
    import sys

    server.add_project("acme/api").populate(merge_requests=2, pipelines=3, issues=2)
    config = tmp_path / "maturity.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "m.db"}"
[sources.gitlab]
url = "{server.url}"
[[teams]]
name = "payments"
gitlab = ["acme/api", "acme/gone"]
""",
        encoding="utf-8",
    )
    env = {**os.environ, "GITLAB_TOKEN": TOKEN, "MATURITY_CONFIG": str(config)}
    proc = clirun.run(
        [sys.executable, "-m", "maturity", "collect", "--source", "gitlab"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # one scope failed, the other was collected
    assert "acme/api" in proc.stdout and "success" in proc.stdout
    assert "acme/gone" in proc.stdout and "404" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


def test_approvals_refused_are_said_once_and_merge_requests_are_stored_without_reviews(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    server.add_project("acme/api").populate(merge_requests=4)
    server.inject(Fault("/approvals", "403", times=100))
    notes = Notes()
    [result] = collect(sessions, make_config(server, ["acme/api"]), progress=notes)
    assert result.status == "success", result.error
    assert count(sessions, tables.PullRequest) == 4 and count(sessions, tables.Review) == 0
    assert len([n for n in notes.notes if "approvals are not available (403)" in n]) == 1
    assert by_path(server, "/approvals") == 1  # not asked again in this run


def test_jobs_of_a_pipeline_the_list_leaves_out_do_not_hold_the_mark_for_long(
    sessions: sessionmaker[Session], server: GitLabServer
) -> None:
    project = server.add_project("acme/api").populate(pipelines=2)
    # a child pipeline: GitLab's pipeline list leaves it out, its jobs are listed
    child = {"id": 999_999, "ref": "main", "sha": "c" * 40, "status": "running"}
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    project.jobs.append(
        {"id": 2 * 10**9, "pipeline": child, "name": "child-lint", "stage": "test",
         "status": "success", "junit": False, "created": old}
    )  # fmt: skip
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    server.reset_counts()
    [result] = collect(sessions, cfg)
    assert result.status == "success", result.error
    assert server.counts["/projects/acme/api/jobs"] == 1
    # a job of a pipeline created just now (not listed yet) holds it: read again next time
    project.jobs.append(
        {**project.jobs[-1], "id": 2 * 10**9 + 1, "created": dt.datetime.now(dt.UTC)}
    )
    collect(sessions, cfg)
    server.reset_counts()
    collect(sessions, cfg)
    jobs = [p for _, p, _ in server.log if p.split("?")[0].endswith("/jobs")]
    assert len(jobs) == 1
    with session_scope(sessions) as s:
        [mark] = s.scalars(select(tables.Cursor.value).where(tables.Cursor.stream == "jobs"))
    assert json.loads(mark)["done"] == 2 * 10**9  # held below the new job
