"""Jenkins collection through python-jenkins against a local Jenkins, into SQLite and PostgreSQL.

The server (``tests/servers/jenkins.py``) speaks Jenkins' JSON API from recorded payloads and
misbehaves on demand; every test drives the real collector and reads the real store.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors.jenkins as jenkins_collector
from collectors.base import CollectContext, NoProgress, ScopeResult
from maturity import config as config_mod
from maturity import teams
from maturity.store import tables
from maturity.store.engine import session_scope
from tests import clirun
from tests.servers.jenkins import JenkinsServer

pytestmark = pytest.mark.integration

USER, TOKEN = "ci-bot", "tok-9f8e7d6c5b4a"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JenkinsServer]:
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    with JenkinsServer(user=USER, token=TOKEN) as srv:
        yield srv


def make_config(server: JenkinsServer, tmp_path: Path, extra: str = "", **options: Any) -> Any:
    opts = {"retry_backoff_s": 0.01, "timeout_s": 2.0, "page_size": 100, **options}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in opts.items())
    text = f"""
[sources.jenkins]
url = "{server.url}"
{lines}
[[sources.jenkins.deploy_rules]]
job_pattern = "*/deploy-*"
environment_parameter = "ENVIRONMENT"
version_parameter = "VERSION"
{extra}
[[teams]]
name = "payments"
jenkins = ["payments/*"]

[[teams]]
name = "search"
jenkins = ["search/*"]
"""
    path = tmp_path / "maturity.toml"
    path.write_text(text)
    return config_mod.parse(text, source=path)


def collect(
    sessions: sessionmaker[Session], cfg: Any, progress: Any = None, **kwargs: Any
) -> list[ScopeResult]:
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    ctx = CollectContext(config=cfg, sessions=sessions, progress=progress or NoProgress(), **kwargs)
    return jenkins_collector.collect(ctx)


def builds(sessions: sessionmaker[Session], scope: str | None = None) -> list[tables.Build]:
    with session_scope(sessions) as session:
        stmt = select(tables.Build).order_by(tables.Build.scope, tables.Build.number)
        if scope is not None:
            stmt = stmt.where(tables.Build.scope == scope)
        return list(session.scalars(stmt))


def by_scope(results: list[ScopeResult]) -> dict[str, ScopeResult]:
    return {r.scope: r for r in results}


def snapshot(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with session_scope(sessions) as session:
        rows = []
        for model in (tables.Build, tables.Deployment, tables.Cursor):
            table = model.__table__
            cols = [c for c in table.c if c.name != "updated_at"]
            rows += [tuple(r) for r in session.execute(select(*cols).order_by(table.c.id))]
        return rows


class KillAfter(NoProgress):
    """Stands in for Ctrl-C: interrupts the run after ``pages`` committed pages."""

    def __init__(self, pages: int) -> None:
        self.left = pages

    def advance(self, amount: int = 1) -> None:
        self.left -= 1
        if self.left <= 0:
            raise KeyboardInterrupt


# --- jobs, folders, teams -----------------------------------------------------------------


def test_folders_and_multibranch_jobs_are_collected_with_team_and_decoded_branch(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_folder("payments/api", multibranch=True)
    server.add_job("payments/api/feature%2Fcheckout")
    server.add_job("payments/api/main")
    server.add_folder("search")
    server.add_folder("search/deep")
    server.add_job("search/deep/indexer", freestyle=True)
    server.add_job("unowned")
    server.add_builds("payments/api/feature%2Fcheckout", 3)
    server.add_builds("payments/api/main", 2)
    server.add_builds("search/deep/indexer", 4)
    server.add_builds("unowned", 5)

    results = by_scope(collect(sessions, make_config(server, tmp_path)))

    assert set(results) == {
        "payments/api/feature%2Fcheckout",
        "payments/api/main",
        "search/deep/indexer",
    }
    assert all(r.status == "success" for r in results.values())
    rows = builds(sessions)
    assert len(rows) == 9
    with session_scope(sessions) as session:
        team_ids = {t.name: t.id for t in session.scalars(select(tables.Team))}
    feature = [r for r in rows if r.scope == "payments/api/feature%2Fcheckout"]
    assert {r.branch for r in feature} == {"feature/checkout"}
    assert {r.team_id for r in feature} == {team_ids["payments"]}
    assert {r.team_id for r in rows if r.scope == "search/deep/indexer"} == {team_ids["search"]}


def test_builds_carry_commit_tests_result_and_parameters(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_build(
        "payments/api",
        result="UNSTABLE",
        sha="ab" * 20,
        branch="refs/remotes/origin/release/2.0",
        tests=(40, 3, 5),
        parameters=[("TARGET", "eu", "String"), ("DRY_RUN", True, "Boolean")],
        cause="scm",
        timestamp_ms=1_750_000_000_000,
        duration_ms=90_500,
    )
    server.add_build("payments/api", sha="cd" * 20, scm="changeset", result="ABORTED")

    collect(sessions, make_config(server, tmp_path))

    first, second = builds(sessions)
    assert (first.result, first.commit_sha, first.branch) == ("unstable", "ab" * 20, "release/2.0")
    assert (first.tests_total, first.tests_failed, first.tests_skipped) == (40, 3, 5)
    assert first.parameters == {"TARGET": "eu", "DRY_RUN": True}
    assert first.event == "scm"
    assert first.started_at.timestamp() == 1_750_000_000
    assert first.duration_s == pytest.approx(90.5)
    assert (second.result, second.commit_sha, second.tests_total) == ("aborted", "cd" * 20, None)


def test_deploy_jobs_become_deployments_and_secret_parameters_are_not_stored(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/deploy-ledger")
    server.add_build(
        "payments/deploy-ledger",
        sha="ef" * 20,
        cause="upstream",
        parameters=[
            ("ENVIRONMENT", "production", "String"),
            ("VERSION", "3.1.0", "String"),
            ("ADMIN_PASSWORD", "", "Password"),
            ("VAULT_TOKEN", "hvs.leaked-value", "String"),
        ],
    )
    server.add_build(
        "payments/deploy-ledger",
        result="FAILURE",
        parameters=[("ENVIRONMENT", "staging", "String")],
    )

    collect(sessions, make_config(server, tmp_path))

    with session_scope(sessions) as session:
        deps = list(session.scalars(select(tables.Deployment).order_by(tables.Deployment.id)))
        stored = json.dumps([b.parameters for b in session.scalars(select(tables.Build))])
    prod = next(d for d in deps if d.environment == "production")
    staging = next(d for d in deps if d.environment == "staging")
    assert (prod.service, prod.version, prod.commit_sha) == ("ledger", "3.1.0", "ef" * 20)
    assert (prod.status, prod.trigger, prod.external_id) == (
        "success",
        "automated",
        "payments/deploy-ledger#1",
    )
    assert (staging.status, staging.trigger, staging.version) == ("failure", "manual", None)
    assert "hvs.leaked-value" not in stored
    assert "VAULT_TOKEN" not in stored and "ADMIN_PASSWORD" not in stored


def test_team_option_collects_only_that_teams_jobs_and_odd_names_survive(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/Ledger Service ü")
    server.add_folder("search")
    server.add_job("search/indexer")
    server.add_builds("payments/Ledger Service ü", 2)
    server.add_builds("search/indexer", 2)
    cfg = make_config(server, tmp_path)

    results = collect(sessions, cfg, team="payments")

    assert [(r.scope, r.status, r.records) for r in results] == [
        ("payments/Ledger Service ü", "success", 2)
    ]
    assert {b.scope for b in builds(sessions)} == {"payments/Ledger Service ü"}


def test_server_error_carries_retry_after_into_the_retry_decision(server: JenkinsServer) -> None:
    import jenkins

    from collectors.jenkins.client import classify, http_status

    server.add_job("api")
    server.inject("status", status=503, headers={"Retry-After": "7"}, match="/job/api/")
    client = jenkins.Jenkins(server.url, USER, TOKEN, timeout=2)
    with pytest.raises(Exception) as info:
        client.get_info(item="job/api", query="?tree=allBuilds[number]{0,1}")
    decision = classify(info.value)
    assert http_status(info.value) == 503
    assert decision is not None and decision.wait_s == 7
    server.forbid("api")
    with pytest.raises(Exception) as info:
        client.get_info(item="job/api", query="?tree=allBuilds[number]{0,1}")
    assert http_status(info.value) == 403 and classify(info.value) is None


# --- paging and incremental collection ----------------------------------------------------


def test_builds_are_read_in_ranged_pages_and_an_unchanged_job_costs_one_request(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 250)
    cfg = make_config(server, tmp_path)

    collect(sessions, cfg)
    build_requests = [r for r in server.requests if r.path == "/job/payments/job/api/api/json"]
    assert len(build_requests) == 3
    ranges = [r.query["tree"].rsplit("{", 1)[1] for r in build_requests]
    assert ranges == ["0,100}", "100,200}", "200,300}"]
    assert [r.number for r in builds(sessions)] == list(range(1, 251))

    server.reset_counts()
    collect(sessions, cfg)
    assert server.count("/job/") == 1

    server.add_builds("payments/api", 7)
    server.reset_counts()
    results = collect(sessions, cfg)
    assert server.count("/job/") == 1
    assert results[0].records == 7
    assert [r.number for r in builds(sessions)] == list(range(1, 258))


def test_repeated_collection_changes_nothing(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_job("payments/deploy-api")
    server.add_builds("payments/api", 120)
    server.add_build("payments/deploy-api", parameters=[("ENVIRONMENT", "prod", "String")])
    cfg = make_config(server, tmp_path)
    collect(sessions, cfg)
    before = snapshot(sessions)

    collect(sessions, cfg)
    collect(sessions, cfg, full_refresh=True)

    assert snapshot(sessions) == before


def test_running_build_is_read_again_until_it_finishes(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/deploy-api")
    params = [("ENVIRONMENT", "production", "String")]
    server.add_build("payments/deploy-api", parameters=params)
    server.add_build("payments/deploy-api", parameters=params, building=True)
    server.add_build("payments/deploy-api", parameters=params)
    cfg = make_config(server, tmp_path)

    collect(sessions, cfg)
    assert [b.result for b in builds(sessions)] == ["success", "running", "success"]
    with session_scope(sessions) as session:
        dep = session.scalar(
            select(tables.Deployment).where(tables.Deployment.external_id.endswith("#2"))
        )
        assert dep is not None and dep.status == "running" and dep.finished_at is None

    server.finish_build("payments/deploy-api", 2, "FAILURE")
    collect(sessions, cfg)

    assert [b.result for b in builds(sessions)] == ["success", "failure", "success"]
    assert builds(sessions)[1].duration_s == 120
    with session_scope(sessions) as session:
        dep = session.scalar(
            select(tables.Deployment).where(tables.Deployment.external_id.endswith("#2"))
        )
        assert dep is not None and dep.status == "failure" and dep.finished_at is not None
        cursor = session.scalar(select(tables.Cursor.value))
    assert json.loads(cursor) == {"done": 3}


def test_old_running_build_outside_the_first_page_is_read_alone(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 4)
    server.add_build("payments/api", building=True)
    server.add_builds("payments/api", 30)
    cfg = make_config(server, tmp_path, page_size=10)
    collect(sessions, cfg)
    server.finish_build("payments/api", 5, "SUCCESS")
    server.reset_counts()

    collect(sessions, cfg)

    assert server.count("/job/payments/job/api/5/api/json") == 1
    assert server.count("/job/") == 2
    assert builds(sessions)[4].result == "success"


def test_killed_run_resumes_without_gaps_or_duplicates(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 1000)
    cfg = make_config(server, tmp_path)

    with pytest.raises(KeyboardInterrupt):
        collect(sessions, cfg, progress=KillAfter(pages=4))
    assert len(builds(sessions)) == 400

    # While it was down: new builds arrived and old ones were discarded (gaps in numbers).
    server.add_builds("payments/api", 35)
    for number in (10, 11, 12, 300, 301, 555, 700, 950):
        server.delete_build("payments/api", number)
    server.reset_counts()
    collect(sessions, cfg)

    numbers = [b.number for b in builds(sessions)]
    expected = sorted({b["number"] for b in server.builds_of("payments/api")} | {700, 950})
    # The hole below the 400 stored builds is filled (700 and 950, deleted after they were
    # stored, shift the indexes the resume guesses), deleted builds stay out, nothing twice.
    assert numbers == expected
    assert len(numbers) == len(set(numbers))
    # The second run read the hole and the new builds, not the 400 it had stored.
    assert server.count("/job/") <= 8
    with session_scope(sessions) as session:
        cursor = session.scalar(select(tables.Cursor.value))
    assert json.loads(cursor) == {"done": 1035}


def test_job_whose_numbers_restarted_is_read_again(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 20)
    cfg = make_config(server, tmp_path)
    collect(sessions, cfg)
    server.item("payments/api").builds.clear()
    server.add_build("payments/api", result="FAILURE")

    collect(sessions, cfg)

    assert builds(sessions)[0].result == "failure"


# --- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 502, "times": 3},
        {"kind": "status", "status": 503, "times": 1, "headers": {"Retry-After": "0"}},
        {"kind": "slow", "delay_s": 3.0, "times": 1},
        {"kind": "reset", "times": 2},
        {"kind": "truncate", "times": 2},
    ],
    ids=["502-burst", "503-retry-after", "timeout", "connection-reset", "truncated-body"],
)
def test_transient_faults_are_retried_and_every_build_arrives_once(
    server: JenkinsServer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    fault: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 230)
    # Only the injected faults may cost a retry: a timeout for the slow answer alone, of 1 s
    # (0.3 s failed twice in 10 runs: the server, in this process, wrote the 230 builds' page
    # later than that while both workers kept the two cores busy), so that a loaded machine
    # answering an ordinary request late never adds one.
    cfg = make_config(server, tmp_path, timeout_s=1.0 if fault["kind"] == "slow" else 10.0)
    server.inject(match="/job/payments/job/api/", **fault)
    caplog.set_level(logging.WARNING, logger="collectors.retry")

    results = collect(sessions, cfg)

    assert [r.status for r in results] == ["success"]
    assert [b.number for b in builds(sessions)] == list(range(1, 231))
    assert server.count("/job/") == 3 + fault["times"]
    if fault["kind"] == "slow":  # the client gave up on its timeout, not on a hang-up
        assert "timed out; retrying" in caplog.text, caplog.text


def test_persistent_server_errors_fail_only_that_job(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_job("payments/web")
    server.add_builds("payments/api", 5)
    server.add_builds("payments/web", 5)
    server.inject("status", status=502, times=100, match="/job/payments/job/api/")

    results = by_scope(collect(sessions, make_config(server, tmp_path, retries=2)))

    failed = results["payments/api"]
    assert failed.status == "failed"
    assert failed.error == (
        "jenkins payments/api: the server answered HTTP 502 (gave up after 3 attempts)"
    )
    assert server.count("/job/payments/job/api/") == 3
    assert results["payments/web"].status == "success"
    assert len(builds(sessions, "payments/web")) == 5


def test_forbidden_and_missing_jobs_fail_at_once_and_the_others_still_run(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    for name in ("api", "secret-ops", "gone"):
        server.add_job(f"payments/{name}")
        server.add_builds(f"payments/{name}", 3)
    server.forbid("payments/secret-ops")
    server.inject("status", status=404, times=1, match="/job/payments/job/gone/")

    results = by_scope(collect(sessions, make_config(server, tmp_path)))

    assert results["payments/secret-ops"].error == (
        "jenkins payments/secret-ops: access denied (HTTP 403); the user may not read this job"
    )
    assert results["payments/gone"].error == (
        "jenkins payments/gone: not found (HTTP 404); the job was deleted or renamed"
    )
    assert server.count("/job/payments/job/secret-ops/") == 1
    assert server.count("/job/payments/job/gone/") == 1
    assert results["payments/api"].status == "success"
    with session_scope(sessions) as session:
        runs = {r.scope: r for r in session.scalars(select(tables.CollectorRun))}
    assert runs["payments/secret-ops"].status == "failed"
    assert "403" in (runs["payments/secret-ops"].error or "")


def test_malformed_build_is_skipped_with_a_logged_reason_and_the_rest_is_stored(
    server: JenkinsServer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 5)
    server.item("payments/api").builds[2]["timestamp"] = "last tuesday"

    with caplog.at_level(logging.WARNING):
        results = collect(sessions, make_config(server, tmp_path))

    assert results[0].status == "partial"
    assert [b.number for b in builds(sessions)] == [1, 2, 4, 5]
    assert "payments/api #3: no usable timestamp" in caplog.text


# --- secrets ------------------------------------------------------------------------------


def test_wrong_token_fails_fast_with_a_message_that_names_the_source_but_not_the_secret(
    server: JenkinsServer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 3)
    wrong = "wrong-tok-31337"
    monkeypatch.setenv("JENKINS_TOKEN", wrong)

    with caplog.at_level(logging.DEBUG):
        results = collect(sessions, make_config(server, tmp_path))

    assert [(r.scope, r.status) for r in results] == [("*", "failed")]
    assert results[0].error == (
        "jenkins (job list): authentication failed (HTTP 401); "
        "check the user and token in $JENKINS_USER / $JENKINS_TOKEN"
    )
    assert server.count() == 1  # no retry of a 401
    with session_scope(sessions) as session:
        stored = json.dumps(
            [(r.error, r.scope) for r in session.scalars(select(tables.CollectorRun))]
        )
    for text in (caplog.text, stored, results[0].error or ""):
        assert wrong not in text and USER not in text


def test_cli_collects_jenkins_and_never_prints_the_token(
    server: JenkinsServer, tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 12)
    server.add_job("payments/broken")
    server.forbid("payments/broken")
    make_config(server, tmp_path)
    env = {
        **os.environ,
        "MATURITY_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }

    proc = clirun.run(
        [
            sys.executable,
            "-m",
            "maturity",
            "-v",
            "-c",
            str(tmp_path / "maturity.toml"),
            "collect",
            "--source",
            "jenkins",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stderr
    assert "payments/api" in proc.stdout and "success" in proc.stdout
    assert "HTTP 403" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_collect_process_killed_mid_run_resumes_without_gaps_or_duplicates(
    server: JenkinsServer, tmp_path: Path
) -> None:
    import signal
    import time

    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 600)
    make_config(server, tmp_path, timeout_s=60)
    db = tmp_path / "kill.db"
    env = {
        **os.environ,
        "MATURITY_DATABASE_URL": f"sqlite:///{db}",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [
        sys.executable,
        "-m",
        "maturity",
        "-c",
        str(tmp_path / "maturity.toml"),
        "collect",
        "--source",
        "jenkins",
    ]
    # The fourth page hangs: the process is then killed between batches, as by a crash.
    server.inject("slow", delay_s=30, after=3, match="/job/payments/job/api/")
    proc = clirun.popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while server.count("/job/payments/job/api/") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert server.count("/job/payments/job/api/") == 4

    from maturity.store import engine as engine_mod

    sessions = engine_mod.make_sessionmaker(engine_mod.make_engine(f"sqlite:///{db}"))
    assert len(builds(sessions)) == 300
    server.reset_counts()
    rerun = clirun.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert rerun.returncode == 0, rerun.stderr
    assert [b.number for b in builds(sessions)] == list(range(1, 601))
    assert server.count("/job/payments/job/api/") == 4  # page 0, then the three not yet read


# --- issue 15: payloads and servers as they really are --------------------------------------

LIBRARY = "https://github.com/acme/jenkins-pipeline-library.git"


class Notes(NoProgress):
    """Keeps what the collector said."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


PROJECT = "git@github.com:acme/payments-api.git"


@pytest.mark.parametrize(
    "team_repositories",
    [
        'github = ["acme/payments-api"]',
        'repositories = ["https://github.com/acme/payments-api.git"]',
        "",
    ],
    ids=["github-repository", "cloned-repository", "no-repository-but-a-known-library"],
)
def test_pipeline_that_loads_a_shared_library_stores_the_projects_commit(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path, team_repositories: str
) -> None:
    server.add_folder("payments")
    server.add_job("payments/deploy-api")
    project, library = "ab" * 20, "11" * 20
    server.add_build(
        "payments/deploy-api",
        sha=project,
        branch="refs/remotes/origin/main",
        remote=PROJECT,
        library=(LIBRARY, library),
        parameters=[("ENVIRONMENT", "production", "String")],
    )
    cfg = make_config(server, tmp_path)
    text = (
        (tmp_path / "maturity.toml")
        .read_text()
        .replace('name = "payments"\n', f'name = "payments"\n{team_repositories}\n')
    )
    cfg = config_mod.parse(text, source=tmp_path / "maturity.toml")

    [result] = [r for r in collect(sessions, cfg) if r.scope == "payments/deploy-api"]

    assert result.status == "success", result.error
    [build] = builds(sessions)
    assert (build.commit_sha, build.branch) == (project, "main")
    # The library's checkout stays visible, and no URL keeps credentials.
    assert build.revisions == [
        {"remote": LIBRARY, "sha": library, "branch": "master"},
        {"remote": PROJECT, "sha": project, "branch": "main"},
    ]
    with session_scope(sessions) as session:
        dep = session.scalar(select(tables.Deployment))
    assert dep is not None and dep.commit_sha == project and dep.version == project
    asked = [r.query.get("tree", "") for r in server.requests if "/job/payments/" in r.path]
    assert all("remoteUrls" in tree for tree in asked)


def test_job_answer_without_all_builds_is_read_from_builds_and_said(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    with JenkinsServer(user=USER, token=TOKEN, all_builds=False) as server:  # an older Jenkins
        server.add_folder("payments")
        server.add_job("payments/api")
        server.add_builds("payments/api", 130)
        notes = Notes()
        [result] = collect(sessions, make_config(server, tmp_path), progress=notes)
        assert (result.status, result.records) == ("success", 130), result.error
        assert [b.number for b in builds(sessions)] == list(range(1, 131))
        assert [n for n in notes.notes if "allBuilds" in n] == [
            "jenkins payments/api: this Jenkins answers no allBuilds; reading builds instead"
        ]
        server.add_builds("payments/api", 3)
        [again] = collect(sessions, make_config(server, tmp_path))
        assert again.records == 3 and len(builds(sessions)) == 133


def test_proxy_that_drops_tree_gets_each_build_read_on_its_own(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    with JenkinsServer(user=USER, token=TOKEN, ignore_tree=True) as server:
        server.add_job("api")
        server.add_builds("api", 4)
        cfg = make_config(server, tmp_path, jobs=["api"])
        [result] = collect(sessions, cfg)
        assert (result.status, result.records) == ("success", 4), result.error
        stored = builds(sessions)
        assert [b.commit_sha for b in stored] == [f"{n:040x}" for n in range(1, 5)]
        assert all(b.tests_total == 100 for b in stored)


def test_folders_are_known_by_their_class_and_missing_jobs_are_reported(
    server: JenkinsServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_builds("payments/api", 2)
    # Listed without its jobs: only its _class says it is a folder, not a job to read.
    hidden = server.add_folder("payments/archive", cls="jenkins.branch.OrganizationFolder")
    hidden.lists_jobs = False
    cfg = make_config(server, tmp_path, jobs=["payments/gone", "ops/*"])
    notes = Notes()
    results = collect(sessions, cfg, progress=notes)
    assert [r.scope for r in results] == ["payments/api"]
    assert any("no job named 'payments/gone'" in n for n in notes.notes), notes.notes
    assert any("no job matches 'ops/*'" in n for n in notes.notes), notes.notes
    assert not any("payments/*" in n and "no job" in n for n in notes.notes)


def test_export_writes_json_columns_as_json(
    server: JenkinsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    from tests.clirun import run_maturity

    server.add_folder("payments")
    server.add_job("payments/api")
    server.add_build(
        "payments/api",
        sha="ab" * 20,
        parameters=[("TARGET", "eu", "String"), ("DRY_RUN", True, "Boolean")],
    )
    make_config(server, tmp_path)
    monkeypatch.setenv("MATURITY_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    config = tmp_path / "maturity.toml"
    collected = run_maturity(config, "collect", "--source", "jenkins")
    assert collected.returncode == 0, collected.stderr
    out = tmp_path / "builds.csv"
    exported = run_maturity(config, "export", "builds", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert json.loads(row["parameters"]) == {"TARGET": "eu", "DRY_RUN": True}
