"""The GitHub collector against a local server speaking GitHub's API, through PyGithub.

Every test runs on SQLite and PostgreSQL. Request counts come from the server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

import collectors.github as github_collector
from collectors.base import CollectContext, ScopeResult
from maturity import config as config_mod
from maturity import teams
from maturity.store import tables, write
from maturity.store.engine import session_scope
from tests import clirun
from tests.servers.github import T0, Fault, GitHubServer, RateLimit
from tests.virtualclock import VirtualClock

pytestmark = pytest.mark.integration

TOKEN = "ghp_secret_token_value_123"


class Notes:
    """A progress sink that keeps what it was told."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.advanced = 0

    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        self.advanced += amount

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubServer]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with GitHubServer(token=TOKEN) as srv:
        yield srv


def make_config(
    srv: GitHubServer, github: list[str], *, enterprise: bool = True, extra: str = ""
) -> config_mod.Config:
    base = f"{srv.url}/api/v3" if enterprise else srv.url
    listed = ", ".join(f'"{g}"' for g in github)
    text_ = f"""
[sources.github]
base_url = "{base}"
timeout_s = 1
min_request_interval_s = 0
retry_backoff_s = 0.01
rate_limit_reset_margin_s = 0.05
{extra}
[[teams]]
name = "payments"
github = [{listed}]
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
    return github_collector.collect(ctx)


def count(sessions: sessionmaker[Session], model: type[tables.Base]) -> int:
    with session_scope(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with session_scope(sessions) as session:
        for model in (
            tables.PullRequest,
            tables.Review,
            tables.Commit,
            tables.Build,
            tables.Deployment,
            tables.Tag,
            tables.Issue,
        ):
            table = write.table_of(model)
            out[table.name] = [tuple(r) for r in session.execute(select(table).order_by("id"))]
    return out


def by_path(srv: GitHubServer, fragment: str) -> int:
    return sum(n for path, n in srv.counts.items() if fragment in path)


# --- a full first collection, then an unchanged one ----------------------------------------


def test_first_collection_stores_every_stream_attributed_to_the_team(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(
        pulls=230, runs=250, commits=120, deployments=4, issues=30, releases=3
    )
    results = collect(sessions, make_config(server, ["acme/api"]))
    assert [(r.scope, r.status) for r in results] == [("acme/api", "success")], results
    assert count(sessions, tables.PullRequest) == 230
    assert count(sessions, tables.Review) == 230
    assert count(sessions, tables.Commit) == 120
    assert count(sessions, tables.Build) == 250
    assert count(sessions, tables.Deployment) == 4
    assert count(sessions, tables.Tag) == 3
    assert count(sessions, tables.Issue) == 30 - 30 // 7  # every 7th item is a pull request
    with session_scope(sessions) as s:
        team_id = s.scalar(select(tables.Team.id).where(tables.Team.name == "payments"))
        repo = s.scalar(select(tables.Repository).where(tables.Repository.key == "github:acme/api"))
        assert repo is not None and repo.slug == "acme/api" and repo.default_branch == "main"
        assert repo.team_id == team_id
        for model in (tables.Build, tables.Deployment, tables.Issue):
            teams_of = set(s.scalars(select(model.team_id)))
            assert teams_of == {team_id}, model
        build = s.scalars(select(tables.Build).order_by(tables.Build.number)).first()
        assert build is not None and build.source == "github_actions"
        incidents = s.scalar(select(func.count()).where(tables.Issue.is_incident.is_(True)))
        assert incidents == len([i for i in range(30) if i % 4 == 0 and i % 7 != 6])
        pr = s.scalar(select(tables.PullRequest).where(tables.PullRequest.number == 1))
        assert pr is not None
        assert pr.approval_count == 1 and pr.first_review_at is not None
        assert pr.first_commit_at is not None and pr.first_commit_at < pr.created_at
        # People are stored only as salted hashes.
        assert pr.author_hash and "dev-a" not in pr.author_hash
        tagged = s.scalar(select(func.count()).where(tables.Tag.tagged_at.is_not(None)))
        assert tagged == 3
    # Minimum: 230/100 -> 3 GraphQL, 250/100 -> 3 runs, 2 commits, and one page per other list.
    assert by_path(server, "graphql") == 3
    assert by_path(server, "/actions/runs") == 3
    assert by_path(server, "/reviews") == 0
    # Listing never completes an item with a GET of its own (PyGithub's lazy completion).
    single = [p for p in server.counts if re.search(r"/(pulls|runs|issues|commits)/\w+$", p)]
    assert single == []


def test_builds_are_recorded_as_github_actions_runs(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api")
    run = repo.add_run(at=T0, conclusion="cancelled", name="Deploy")
    collect(sessions, make_config(server, ["acme/api"]))
    with session_scope(sessions) as s:
        build = s.scalar(select(tables.Build))
        assert build is not None
        assert (build.source, build.scope, build.external_id) == (
            "github_actions",
            "acme/api",
            str(run["id"]),
        )
        assert (build.job, build.number, build.result, build.event) == (
            "Deploy",
            1,
            "aborted",
            "push",
        )
        assert build.commit_sha == run["head_sha"] and build.branch == "main"
        assert build.started_at == T0 and build.duration_s == 240.0


def test_unchanged_recollection_costs_one_request_per_stream_and_changes_nothing(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(
        pulls=150, runs=220, commits=130, deployments=3, issues=120, releases=2
    )
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    before = snapshot(sessions)
    for _ in range(2):
        server.reset_counts()
        results = collect(sessions, cfg)
        assert results[0].status == "success"
        streams = 7  # pull requests, commits, runs, deployments, tags, releases, issues
        assert server.total() <= streams + 1, dict(server.counts)  # + the repository itself
        assert all(n == 1 for n in server.counts.values()), dict(server.counts)
        assert snapshot(sessions) == before


def test_second_collection_reads_only_what_changed(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api").populate(pulls=250, runs=250, issues=150)
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    later = T0 + dt.timedelta(days=30)
    repo.touch_pull(3, later)  # an old pull request gets a new review
    repo.pulls[2]["reviews"].append(
        {"id": 99, "login": "reviewer-c", "state": "APPROVED", "at": later}
    )
    repo.add_pull(at=later)
    repo.add_run(at=later)
    repo.add_issue(at=later, labels=["incident"])
    server.reset_counts()
    results = collect(sessions, cfg)
    assert results[0].counts["pull_requests"] == 2
    assert results[0].counts["workflow_runs"] == 1
    assert by_path(server, "graphql") == 1
    assert by_path(server, "/actions/runs") == 1
    assert by_path(server, "/issues") == 1
    assert count(sessions, tables.PullRequest) == 251
    assert count(sessions, tables.Build) == 251
    with session_scope(sessions) as s:
        pr = s.scalar(select(tables.PullRequest).where(tables.PullRequest.number == 3))
        assert pr is not None and pr.review_count == 2 and pr.approval_count == 2


@pytest.mark.parametrize("enterprise", [True, False], ids=["enterprise-api-v3", "github-com"])
def test_base_url_with_and_without_the_enterprise_prefix(
    sessions: sessionmaker[Session], server: GitHubServer, enterprise: bool
) -> None:
    repo = server.add_repo("acme", "api").populate(pulls=3, runs=130)
    results = collect(sessions, make_config(server, ["acme/api"], enterprise=enterprise))
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Build) == 130
    prefix = "/api/v3" if enterprise else ""
    # Page 2 came through the /repositories/{id}/... URL of the Link header, prefix kept.
    assert server.raw_paths[f"{prefix}/repositories/{repo.id}/actions/runs"] == 1
    assert server.raw_paths[f"{prefix}/repos/acme/api/actions/runs"] == 1
    assert server.raw_paths["/api/graphql" if enterprise else "/graphql"] == 1


def test_pull_request_with_more_than_100_reviews_gets_the_rest_over_rest(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api")
    repo.add_pull(
        at=T0, reviews=[(f"reviewer-{i}", "COMMENTED") for i in range(104)] + [("lead", "APPROVED")]
    )
    collect(sessions, make_config(server, ["acme/api"]))
    assert count(sessions, tables.Review) == 105
    assert by_path(server, "/reviews") == 2  # two pages of 100
    with session_scope(sessions) as s:
        pr = s.scalar(select(tables.PullRequest))
        assert pr is not None and pr.review_count == 105 and pr.approval_count == 1


def test_owner_star_expands_to_every_repository_of_an_org_or_a_user(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("alice", "one", org=False).populate(runs=2)
    server.add_repo("alice", "two", org=False).populate(runs=3)
    server.add_repo("acme", "api").populate(runs=4)
    results = collect(sessions, make_config(server, ["alice/*", "acme/*"]))
    assert sorted(r.scope for r in results) == ["acme/api", "alice/one", "alice/two"]
    assert {r.status for r in results} == {"success"}
    assert count(sessions, tables.Build) == 9
    assert server.counts["/orgs/alice/repos"] == 1 and server.counts["/users/alice/repos"] == 1
    server.reset_counts()
    collect(sessions, make_config(server, ["alice/*", "acme/*"]))
    # Known to be a user now: no second look at /orgs, and the unchanged list is a 304.
    assert server.counts["/orgs/alice/repos"] == 0 and server.counts["/users/alice/repos"] == 1
    assert ("GET", "/users/alice/repos", 304) in server.log


def test_unknown_owner_fails_its_entry_with_a_clear_message(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=1)
    results = collect(sessions, make_config(server, ["ghost/*", "acme/api"]))
    status = {r.scope: (r.status, r.error) for r in results}
    assert status["acme/api"] == ("success", None)
    assert status["ghost/*"][0] == "failed"
    assert (status["ghost/*"][1] or "").startswith("github ghost/*: repositories: 404")


# --- throttling and faults -----------------------------------------------------------------


def test_rate_limit_mid_pagination_waits_for_reset_and_continues_without_gaps(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=1000)
    # the client waits by this clock, and the server's resets are read off it: the wait for
    # the reset moves both on by its length instead of taking it
    clock = VirtualClock(mark=lambda: len(server.arrivals))
    server.rate = RateLimit(
        limit=5000, remaining=4, reset_in_s=0.1, window_s=3600, clock=clock.time
    )
    notes = Notes()
    started = time.monotonic()
    results = collect(sessions, make_config(server, ["acme/api"]), progress=notes, clock=clock)
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Build) == 1000
    assert any("rate-limit budget spent" in n or "rate limited" in n for n in notes.notes)
    # one wait, for a reset at most a second and its margin away, after the 4 requests the
    # budget allowed and before the rest
    [wait] = clock.waits
    assert 0 < wait.seconds <= 0.1 + 1 + 1 and wait.mark == 4
    assert len(server.arrivals) > 4
    assert not any(status == 403 for _, _, status in server.log)  # waited out, never refused
    assert time.monotonic() - started < 30


def test_spent_budget_answered_with_403_is_waited_out(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=150)
    clock = VirtualClock(mark=lambda: len(server.arrivals))
    server.rate = RateLimit(
        limit=5000, remaining=0, reset_in_s=0.1, window_s=3600, clock=clock.time
    )
    notes = Notes()
    results = collect(sessions, make_config(server, ["acme/api"]), progress=notes, clock=clock)
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Build) == 150
    assert any("rate limited (403)" in n for n in notes.notes)
    # the 403's reset was waited out once, after that first refused request
    [wait] = clock.waits
    assert 0 < wait.seconds <= 0.1 + 1 + 1 and wait.mark == 1
    assert server.log[0][2] == 403


def test_rate_limit_reset_beyond_the_allowed_wait_fails_the_scope_clearly(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=10)
    server.rate = RateLimit(limit=5000, remaining=0, reset_at=time.time() + 3000)
    cfg = make_config(server, ["acme/api"], extra="max_rate_limit_wait_s = 5")
    started = time.monotonic()
    results = collect(sessions, cfg)
    assert results[0].status == "failed"
    assert "github acme/api" in (results[0].error or "") and "403" in (results[0].error or "")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "fault",
    [
        Fault("/actions/runs", "502", times=3, skip=1),
        Fault("/actions/runs", "timeout", times=1, skip=1, delay=1.6),
        Fault("/actions/runs", "reset", times=2, skip=1),
        Fault("/actions/runs", "truncate", times=1, skip=1),
        Fault("/actions/runs", "secondary", times=1, skip=1, retry_after=0),
        Fault("/actions/runs", "429", times=1, skip=1, retry_after=0),
    ],
    ids=["502-burst", "timeout", "connection-reset", "truncated-json", "secondary-403", "429"],
)
def test_transient_failures_are_retried_and_nothing_is_lost(
    sessions: sessionmaker[Session],
    server: GitHubServer,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_repo("acme", "api").populate(runs=350)
    # a fault of its own: the parameter's object is shared by the SQLite and PostgreSQL runs, and
    # the first run used it up (times 0), so the second injected nothing and passed regardless
    fault = dataclasses.replace(fault)
    server.inject(fault)
    caplog.set_level(logging.WARNING, logger="collectors.retry")
    results = collect(sessions, make_config(server, ["acme/api"]))
    assert results[0].status == "success", results[0].error
    assert fault.times == 0  # the fault really happened
    if fault.kind == "timeout":  # the client gave up on its timeout, not on a hang-up
        assert "ReadTimeout; retrying" in caplog.text, caplog.text
    assert count(sessions, tables.Build) == 350


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("401", "401 Bad credentials"),
        ("403", "403 Resource not accessible"),
        ("404", "404 Not Found"),
    ],
)
def test_auth_and_missing_repository_fail_that_scope_at_once_others_still_run(
    sessions: sessionmaker[Session],
    server: GitHubServer,
    kind: str,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_repo("acme", "broken").populate(runs=5)
    server.add_repo("acme", "fine").populate(runs=5)
    server.inject(Fault("/repos/acme/broken", kind, times=100))
    caplog.set_level(logging.DEBUG)
    results = collect(sessions, make_config(server, ["acme/broken", "acme/fine"]))
    status = {r.scope: (r.status, r.error) for r in results}
    assert status["acme/fine"] == ("success", None)
    state, error = status["acme/broken"]
    assert state == "failed" and error is not None
    assert error.startswith("github acme/broken: repository: ") and expected in error
    assert by_path(server, "/repos/acme/broken") == 1  # never retried
    assert TOKEN not in error and TOKEN not in caplog.text
    with session_scope(sessions) as s:
        run = s.scalar(
            select(tables.CollectorRun).where(tables.CollectorRun.scope == "acme/broken")
        )
        assert run is not None and run.status == "failed" and run.error == error


def test_token_appears_nowhere_in_logs_errors_or_store(
    sessions: sessionmaker[Session], server: GitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_repo("acme", "api").populate(pulls=5, runs=5, issues=5)
    caplog.set_level(logging.DEBUG)
    server.inject(Fault("/actions/runs", "502", times=2))
    server.inject(Fault("/issues", "401", times=1))
    results = collect(sessions, make_config(server, ["acme/api", "acme/missing"]))
    # issues 401 fails that stream alone (issue 15: a stream is the unit of failure), missing 404
    assert {r.scope: r.status for r in results} == {"acme/api": "partial", "acme/missing": "failed"}
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (r.error or "") for r in results)
    with session_scope(sessions) as s:
        for table in ("cursors", "collector_runs", "repositories", "pull_requests"):
            rows = s.execute(text(f"SELECT * FROM {table}")).all()
            assert TOKEN not in repr(rows)


def test_malformed_record_is_skipped_with_a_reason_and_the_rest_is_stored(
    sessions: sessionmaker[Session], server: GitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    repo = server.add_repo("acme", "api").populate(runs=20)
    repo.runs[5]["override"] = {"created_at": "not a time", "run_started_at": None}
    results = collect(sessions, make_config(server, ["acme/api"]))
    assert results[0].status == "partial"
    assert results[0].skipped == 1
    assert count(sessions, tables.Build) == 19
    assert "not a timestamp" in caplog.text


class Killed(BaseException):
    """Stands for the process dying: nothing in the collector may catch it."""


class DieAfter(Notes):
    def __init__(self, pages: int) -> None:
        super().__init__()
        self.pages = pages

    def advance(self, amount: int = 1) -> None:
        super().advance(amount)
        self.pages -= 1
        if self.pages == 0:
            raise Killed


def test_run_killed_between_batches_resumes_without_gaps_or_duplicates(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api").populate(runs=550)
    cfg = make_config(server, ["acme/api"], extra="per_page = 100")
    # Streams before runs (pulls, commits) have one page each: die on the third run page.
    with pytest.raises(Killed):
        collect(sessions, cfg, progress=DieAfter(pages=5))
    stored = count(sessions, tables.Build)
    assert 0 < stored < 550
    repo.add_run(at=T0 + dt.timedelta(days=10))  # arrives while we were down
    server.reset_counts()
    results = collect(sessions, cfg)
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Build) == 550
    # The walk resumed at the next page instead of starting over.
    assert by_path(server, "/actions/runs") == 6 - stored // 100
    # The run that arrived meanwhile is newer than the watermark: the next run reads it.
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        ids = s.scalars(select(tables.Build.external_id)).all()
        assert len(ids) == len(set(ids)) == 551


def test_repository_that_a_team_also_clones_gets_no_commits_from_the_api(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(commits=30, runs=2)
    with session_scope(sessions) as s:
        teams.upsert_repository(
            s,
            key="git:/src/api",
            kind="git",
            name="api",
            location="/src/api",
            team_id=None,
            slug="acme/api",
        )
    results = collect(sessions, make_config(server, ["acme/api"]))
    assert "commits" not in results[0].counts
    assert by_path(server, "/commits") == 0
    assert count(sessions, tables.Commit) == 0


def test_rest_pull_requests_fetch_reviews_only_for_changed_pull_requests(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api").populate(pulls=120)
    cfg = make_config(server, ["acme/api"], extra='pull_requests_api = "rest"')
    collect(sessions, cfg)
    assert by_path(server, "/reviews") == 120
    assert count(sessions, tables.Review) == 120
    repo.touch_pull(7, T0 + dt.timedelta(days=40))
    server.reset_counts()
    collect(sessions, cfg)
    assert by_path(server, "/reviews") == 1
    assert by_path(server, "/pulls") == 2  # the list page and the one review list


def test_deployments_outside_the_configured_environments_are_left_out(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(deployments=6)
    cfg = make_config(server, ["acme/api"], extra='deployment_environments = ["prod*"]')
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        envs = s.scalars(select(tables.Deployment.environment)).all()
        triggers = set(s.scalars(select(tables.Deployment.trigger)))
    assert envs and set(envs) == {"production"}
    assert triggers == {"automated", "manual"}
    assert by_path(server, "/statuses") == 3  # statuses only for the deployments kept


def test_cli_collects_github_and_reports_a_failed_scope_without_the_token(
    server: GitHubServer, tmp_path: Path
) -> None:
    import os
    import sys

    server.add_repo("acme", "api").populate(pulls=3, runs=4, issues=3)
    config = tmp_path / "maturity.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "m.db"}"
[sources.github]
base_url = "{server.url}/api/v3"
min_request_interval_s = 0
[[teams]]
name = "payments"
github = ["acme/api", "acme/gone"]
""",
        encoding="utf-8",
    )
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "MATURITY_CONFIG": str(config)}
    proc = clirun.run(
        [sys.executable, "-m", "maturity", "collect", "--source", "github"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # one scope failed, the other was collected
    assert "acme/api" in proc.stdout and "success" in proc.stdout
    assert "acme/gone" in proc.stdout and "404" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


def test_pending_deployment_is_read_again_until_it_finishes(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api").populate(deployments=3)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pending = repo.add_deployment(at=now - dt.timedelta(hours=1), states=["in_progress"])
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        row = s.scalar(
            select(tables.Deployment).where(tables.Deployment.external_id == str(pending["id"]))
        )
        assert row is not None and row.status == "running" and row.finished_at is None
    pending["statuses"].append({"id": 1, "state": "failure", "at": now})
    server.reset_counts()
    collect(sessions, cfg)
    with session_scope(sessions) as s:
        row = s.scalar(
            select(tables.Deployment).where(tables.Deployment.external_id == str(pending["id"]))
        )
        assert row is not None and row.status == "failure" and row.finished_at == now
    assert by_path(server, "/statuses") == 1  # only the pending one was looked at again


def test_repository_with_issues_disabled_is_collected_without_issues(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=3, issues=4)
    server.inject(Fault("/issues", "410", times=1))
    notes = Notes()
    results = collect(sessions, make_config(server, ["acme/api"]), progress=notes)
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Issue) == 0 and count(sessions, tables.Build) == 3
    assert "github acme/api: issues are disabled" in notes.notes


def test_more_new_runs_than_a_filtered_query_returns_are_all_collected(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api").populate(runs=50)
    cfg = make_config(server, ["acme/api"])
    collect(sessions, cfg)
    start = T0 + dt.timedelta(days=5)
    for i in range(1150):  # GitHub would return only 1,000 of them to created>=
        repo.add_run(at=start + dt.timedelta(minutes=i))
    notes = Notes()
    results = collect(sessions, cfg, progress=notes)
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Build) == 1200
    assert any(n.endswith("new runs; reading the full list") for n in notes.notes)


def test_empty_repository_has_no_commits_and_is_no_failure(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(runs=2)
    server.inject(Fault("/commits", "409", times=1))
    results = collect(sessions, make_config(server, ["acme/api"]))
    assert results[0].status == "success", results[0].error
    assert count(sessions, tables.Commit) == 0 and count(sessions, tables.Build) == 2


# --- issue 15: payloads and servers as they really are --------------------------------------


def runs_of(sessions: sessionmaker[Session], scope: str) -> list[tables.CollectorRun]:
    with session_scope(sessions) as s:
        return list(
            s.scalars(select(tables.CollectorRun).where(tables.CollectorRun.scope == scope))
        )


def test_graphql_refused_reads_pull_requests_over_rest_and_says_so_once(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server without GraphQL (an older Enterprise, a proxy that passes only REST): 404.
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with GitHubServer(token=TOKEN, graphql=False) as server:
        server.add_repo("acme", "api").populate(pulls=3, runs=2)
        server.add_repo("acme", "web").populate(pulls=4, runs=2)
        notes = Notes()
        results = collect(sessions, make_config(server, ["acme/api", "acme/web"]), notes)
        assert [(r.scope, r.status) for r in results] == [
            ("acme/api", "success"),
            ("acme/web", "success"),
        ], results
        assert count(sessions, tables.PullRequest) == 7
        assert count(sessions, tables.Review) == 7
        said = [n for n in notes.notes if "GraphQL" in n]
        assert len(said) == 1, notes.notes
        assert "404" in said[0] and 'pull_requests_api = "rest"' in said[0]
        assert by_path(server, "graphql") == 1  # the second repository does not ask again
        assert by_path(server, "/pulls") == 2 + 7  # a list page each, one review list each


def test_a_failing_stream_is_recorded_and_the_other_streams_are_collected(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    server.add_repo("acme", "api").populate(pulls=3, runs=5, deployments=2, issues=6, releases=2)
    # One deployment's statuses are gone between the list and the statuses (404).
    server.inject(Fault("/statuses", "404", times=1))
    [result] = collect(sessions, make_config(server, ["acme/api"]))
    assert result.status == "partial"
    assert set(result.failed_streams) == {"deployments"}
    error = result.error or ""
    assert error.startswith("github acme/api: deployment statuses: 404")
    assert "no such repository" not in error and "other streams are collected" in error
    assert count(sessions, tables.PullRequest) == 3
    assert count(sessions, tables.Build) == 5
    assert count(sessions, tables.Tag) == 2
    assert count(sessions, tables.Issue) == 6 - 6 // 7
    [run] = runs_of(sessions, "acme/api")
    assert (run.status, run.error) == ("partial", error)
    # The failed stream kept its cursor: the next run reads the deployments again.
    [again] = collect(sessions, make_config(server, ["acme/api"]))
    assert again.status == "success" and count(sessions, tables.Deployment) == 2


def cursors(sessions: sessionmaker[Session]) -> dict[tuple[str, str], tuple[str, Any]]:
    with session_scope(sessions) as s:
        rows = s.scalars(select(tables.Cursor)).all()
        return {(c.scope, c.stream): (c.value, c.updated_at) for c in rows}


def watermarks(sessions: sessionmaker[Session]) -> dict[tuple[str, str], Any]:
    """Each cursor without its ETag (which a first re-run may renew: its query differs)."""
    import json

    out = {}
    for key, (value, _) in cursors(sessions).items():
        data = json.loads(value)
        out[key] = (
            {k: v for k, v in data.items() if k != "etag"} if isinstance(data, dict) else data
        )
    return out


@pytest.mark.parametrize("etags", [True, False], ids=["etags", "no-etags"])
def test_unchanged_rerun_writes_no_row_and_no_cursor_moves(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, etags: bool
) -> None:
    from collections import Counter

    from tests.rowwrites import counting

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    # Without ETags (a proxy that strips them) every stream reads its first page again; the
    # commits' look-back window then holds all 60 commits (they span 11 hours).
    with GitHubServer(token=TOKEN, etags=etags) as server:
        server.add_repo("acme", "api").populate(
            pulls=30, runs=40, commits=60, deployments=3, issues=20, releases=2
        )
        cfg = make_config(server, ["acme/api"])
        collect(sessions, cfg)
        marks = watermarks(sessions)
        newest = max(c["at"] for c in server.repos["acme/api"].commits)
        assert marks[("acme/api", "commits")]["since"] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
        with counting(sessions) as written:
            [result] = collect(sessions, cfg)
            assert result.status == "success", result.error
            # The first re-run asks new questions (created>=, since=): their ETags are kept,
            # nothing else is written.
            first = written()
            assert set(first) <= {("cursors", "UPDATE")}, first
            assert first == Counter() or etags
            assert watermarks(sessions) == marks
            settled = cursors(sessions)
            for _ in range(2):
                [result] = collect(sessions, cfg)  # with teams.sync, as `maturity collect`
                assert result.status == "success", result.error
                with session_scope(sessions) as s:
                    teams.reattribute(s)
                assert written() == first, written()
                assert cursors(sessions) == settled


def test_deployment_without_status_ends_as_unknown_after_the_configured_age(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = repo.add_deployment(at=now - dt.timedelta(hours=30), states=[])
    fresh = repo.add_deployment(at=now - dt.timedelta(hours=1), states=[])

    def status_of(spec: dict[str, Any]) -> tuple[str, Any]:
        with session_scope(sessions) as s:
            row = s.scalar(
                select(tables.Deployment).where(tables.Deployment.external_id == str(spec["id"]))
            )
            assert row is not None
            return row.status, row.finished_at

    collect(sessions, make_config(server, ["acme/api"]))
    assert status_of(old) == ("unknown", None)  # 30 h without a status: final, neither way
    assert status_of(fresh) == ("running", None)  # may still get one: read again
    fresh["statuses"].append({"id": 7, "state": "success", "at": now})
    collect(sessions, make_config(server, ["acme/api"]))
    assert status_of(fresh) == ("success", now)
    # The age is configurable: with three days, the old one is still waiting for a status.
    longer = make_config(server, ["acme/api"], extra="deployment_status_max_age_h = 72")
    ctx = CollectContext(config=longer, sessions=sessions, progress=Notes(), full_refresh=True)
    github_collector.collect(ctx)
    assert status_of(old) == ("running", None)


def test_workflow_runs_without_a_name_are_told_apart_by_their_workflow(
    sessions: sessionmaker[Session], server: GitHubServer
) -> None:
    repo = server.add_repo("acme", "api")
    # The recorded run (PyGithub's replay data) has neither name nor path, only workflow_id.
    for n, workflow in enumerate([11, 11, 12]):
        run = repo.add_run(at=T0 + dt.timedelta(minutes=n))
        run["drop"] = ["name"]
        run["override"] = {"workflow_id": workflow}
    named_by_path = repo.add_run(at=T0 + dt.timedelta(minutes=5))
    named_by_path["drop"] = ["name"]
    named_by_path["override"] = {"path": ".github/workflows/deploy.yml", "workflow_id": 13}
    collect(sessions, make_config(server, ["acme/api"]))
    with session_scope(sessions) as s:
        jobs = s.scalars(select(tables.Build.job).order_by(tables.Build.number)).all()
    assert jobs == ["workflow 11", "workflow 11", "workflow 12", ".github/workflows/deploy.yml"]


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_hotfix_label_makes_the_pull_request_and_the_deployment_of_its_commit_hotfixes(
    sessions: sessionmaker[Session], server: GitHubServer, api: str
) -> None:
    repo = server.add_repo("acme", "api")
    fix = repo.add_pull(at=T0, labels=["bug", "HotFix"])
    plain = repo.add_pull(at=T0 + dt.timedelta(hours=1), labels=["bug"])
    later = repo.add_pull(at=T0 + dt.timedelta(hours=2))
    for pull in (fix, plain, later):
        dep = repo.add_deployment(at=T0 + dt.timedelta(days=1), ref="v1")
        dep["sha"] = pull["merge_sha"]
    cfg = make_config(server, ["acme/api"], extra=f'pull_requests_api = "{api}"')
    collect(sessions, cfg)

    def hotfixes() -> dict[int, tuple[Any, Any]]:
        with session_scope(sessions) as s:
            pulls = {
                p.number: (p.is_hotfix, p.labels) for p in s.scalars(select(tables.PullRequest))
            }
            deps = {d.commit_sha: d.is_hotfix for d in s.scalars(select(tables.Deployment))}
        return {
            n: (flag, deps[spec["merge_sha"]])
            for n, (flag, _), spec in [(n, pulls[n], repo.pulls[n - 1]) for n in pulls]
        }

    assert hotfixes() == {1: (True, True), 2: (False, False), 3: (False, False)}
    with session_scope(sessions) as s:
        labels = s.scalar(select(tables.PullRequest.labels).where(tables.PullRequest.number == 1))
    assert labels == '["HotFix", "bug"]'
    # Labelled after its deployment was collected: the deployment becomes a hotfix too.
    later["labels"] = ["hotfix"]
    repo.touch_pull(3, T0 + dt.timedelta(days=3))
    collect(sessions, cfg)
    assert hotfixes()[3] == (True, True)
