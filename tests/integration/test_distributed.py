"""Distributed mode with real parts: our own redis-server, PostgreSQL databases, real
``maturity worker`` processes, generated git repositories and the local GitHub, Jenkins and
Jira servers. What workers store is compared with what one process stores, table by table."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from maturity.store import export, tables
from maturity.store.engine import make_engine, make_sessionmaker, session_scope
from tests import clirun
from tests.clirun import run_maturity
from tests.cluster import RedisServer, Worker, stop_all
from tests.conftest import drop_postgres_store, new_postgres_store
from tests.gitrepo import GitRepo, build_rich_repo
from tests.servers.github import Fault, GitHubServer
from tests.servers.jenkins import JenkinsServer
from tests.servers.jira import JiraServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

GITHUB_TOKEN = "ghp_distributed_secret_1"
DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
#: columns that differ between two runs that store the same data: surrogate ids (rows carry
#: their natural keys and the names these ids point to) and the clock of the run itself
VOLATILE = {"id", "repository_id", "team_id", "pull_request_id", "issue_id"}
RUN_CLOCK = {"started_at", "finished_at", "computed_at"}

_redis_db = iter(range(1, 64))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Redis database of this test's own, as broker, result backend and budget store; and
    one author-hash salt for both stores (each store otherwise draws its own)."""
    url = redis_server.url(next(_redis_db))
    monkeypatch.setenv("MATURITY_BROKER_URL", url)
    monkeypatch.setenv("MATURITY_AUTHOR_SALT", "one salt for both stores")
    return url


@pytest.fixture
def stores(postgres_template: str) -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL stores: one for the single process, one for the workers."""
    one, one_name = new_postgres_store(postgres_template)
    many, many_name = new_postgres_store(postgres_template)
    yield one, many
    drop_postgres_store(one_name)
    drop_postgres_store(many_name)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop_all(started)


def write_config(folder: Path, store_url: str, body: str, *, distributed: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "maturity.toml"
    cfg.write_text(
        f"[store]\nurl = {json.dumps(store_url)}\n\n[distributed]\n{distributed}\n{body}",
        encoding="utf-8",
    )
    return cfg


def maturity(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_maturity(cfg, *args, timeout=240)


def start_worker(workers: list[Worker], cfg: Path, name: str, **kwargs: Any) -> Worker:
    w = Worker(cfg, {}, name=name, **kwargs)
    workers.append(w)
    w.wait_ready()
    return w


def spawn_workers(workers: list[Worker], cfg: Path, *names: str, **kwargs: Any) -> list[Worker]:
    """Workers named ``names`` with the same options, started together; not yet ready."""
    started = [Worker(cfg, {}, name=name, **kwargs) for name in names]
    workers.extend(started)
    return started


def start_workers(workers: list[Worker], cfg: Path, *names: str, **kwargs: Any) -> None:
    """Workers named ``names`` with the same options, started together, ready once all are."""
    for w in spawn_workers(workers, cfg, *names, **kwargs):
        w.wait_ready()


def exported(url: str, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every exportable table as sorted rows (JSON), without ids and run clocks."""
    engine = make_engine(url)
    out: dict[str, list[str]] = {}
    with session_scope(make_sessionmaker(engine)) as session:
        for name in export.EXPORTABLE:
            if name in skip:
                continue
            rows = []
            for chunk in export.iter_export(session, name):
                for row in chunk:
                    kept = {k: v for k, v in row.items() if k not in VOLATILE | RUN_CLOCK}
                    rows.append(json.dumps(kept, sort_keys=True, default=str))
            out[name] = sorted(rows)
    engine.dispose()
    return out


def cursors(url: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                tables.Cursor.source, tables.Cursor.scope, tables.Cursor.stream, tables.Cursor.value
            ).order_by(tables.Cursor.source, tables.Cursor.scope, tables.Cursor.stream)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


# --- SQLite is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [("collect", "--distributed"), ("score", "--distributed"), ("worker",), ("schedule",)]
)
def test_distributed_mode_refuses_sqlite_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    cfg = tmp_path / "maturity.toml"
    cfg.write_text('[store]\nurl = "sqlite:///maturity.db"\n', encoding="utf-8")
    done = maturity(cfg, *args)
    assert done.returncode == 2
    assert done.stderr == (
        "error: distributed mode needs a PostgreSQL store, not sqlite: set [store] url or "
        "MATURITY_DATABASE_URL to postgresql://... (see docs/deploy.md)\n"
    )
    assert not (tmp_path / "maturity.db").exists()  # refused before the store was opened


def test_a_password_in_the_distributed_section_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "maturity.toml"
    cfg.write_text(
        '[distributed]\nbroker_url = "redis://:hunter2@redis:6379/0"\n', encoding="utf-8"
    )
    done = maturity(cfg, "worker")
    assert done.returncode == 2
    assert "MATURITY_BROKER_URL" in done.stderr and "hunter2" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


# --- the same store as one process --------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, GitHubServer]]:
    """Two git repositories and the local GitHub, Jenkins and Jira servers, four teams; the
    configuration's teams and sources (without its store)."""
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("JENKINS_USER", "ci")
    monkeypatch.setenv("JENKINS_TOKEN", "s3cret")
    monkeypatch.setenv("JIRA_USER", "collector")
    monkeypatch.setenv("JIRA_TOKEN", "jira-secret-token-123")
    build_rich_repo(tmp_path / "repos" / "payments")
    small = GitRepo(tmp_path / "repos" / "search")
    for i in range(12):
        small.commit(f"change {i} SRCH-{i}", {f"src/f{i % 3}.py": f"v = {i}\n"})
    jenkins = JenkinsServer(user="ci", token="s3cret").start()
    with GitHubServer(token=GITHUB_TOKEN) as gh, JiraServer() as jira:
        gh.add_repo("acme", "payments-api").populate(
            pulls=23, runs=25, commits=30, deployments=4, issues=9, releases=2, start=DAY
        )
        gh.add_repo("acme", "search-api").populate(
            pulls=7, runs=9, commits=12, deployments=2, issues=3, releases=1, start=DAY
        )
        jenkins.add_folder("payments")
        jenkins.add_job("payments/deploy-prod")
        jenkins.add_job("payments/build")
        for i in range(6):
            when = DAY + dt.timedelta(days=i)
            jenkins.add_build(
                "payments/deploy-prod", timestamp_ms=int(when.timestamp() * 1000), cause="scm"
            )
        jenkins.add_builds("payments/build", 15)
        for i in range(8):
            start = DAY + dt.timedelta(days=i, hours=5)
            jira.add_issue(
                "PAY" if i % 2 else "SRCH",
                created=start,
                issue_type="Incident" if i % 3 == 0 else "Bug",
                status="Resolved",
                resolved=start + dt.timedelta(hours=i + 1),
            )
        body = f"""
[sources.github]
base_url = "{gh.url}"
timeout_s = 5
min_request_interval_s = 0
retry_backoff_s = 0.01
page_size = 5

[sources.jenkins]
url = "{jenkins.url}"
user_env = "JENKINS_USER"
token_env = "JENKINS_TOKEN"
[[sources.jenkins.deploy_rules]]
job_pattern = "payments/deploy-*"
environment = "production"

[sources.jira]
url = "{jira.url}"
user_env = "JIRA_USER"
token_env = "JIRA_TOKEN"

[[teams]]
name = "payments"
repositories = ["{tmp_path / "repos" / "payments"}"]
github = ["acme/payments-api"]
jenkins = ["payments/*"]
jira = ["PAY"]

[[teams]]
name = "search"
repositories = ["{tmp_path / "repos" / "search"}"]
github = ["acme/search-api"]
jira = ["SRCH"]

[[teams]]
name = "platform"
services = ["platform-*"]

[[teams]]
name = "mobile"
services = ["mobile-*"]
"""
        yield body, gh
    jenkins.stop()


def test_distributed_collection_stores_what_one_process_stores(
    tmp_path: Path,
    broker: str,
    stores: tuple[str, str],
    workers: list[Worker],
    fleet: tuple[str, GitHubServer],
) -> None:
    body, _ = fleet
    one_url, many_url = stores
    one = write_config(tmp_path / "one", one_url, body)
    many = write_config(tmp_path / "many", many_url, body)
    # the workers (of the other store) start up while the single process collects
    spawned = spawn_workers(workers, many, "a", "b", concurrency=2)
    single = maturity(one, "collect")
    assert single.returncode == 0, single.stderr
    for w in spawned:
        w.wait_ready()
    spread = maturity(many, "collect", "--distributed")
    assert spread.returncode == 0, spread.stderr + spread.stdout

    # git 2 + github 2 + jenkins 2 + jira 2 scopes, each run once, each a success
    assert spread.stdout.count(" success ") == 8, spread.stdout
    # the same table, in the same order, as the single process prints
    assert [line.split()[:3] for line in spread.stdout.splitlines() if " success " in line] == [
        line.split()[:3] for line in single.stdout.splitlines() if " success " in line
    ]
    theirs, ours = exported(one_url), exported(many_url)
    for name in export.EXPORTABLE:
        assert ours[name] == theirs[name], name
    assert sum(len(ours[n]) for n in ("commits", "pull_requests", "builds", "issues")) > 100
    assert cursors(many_url) == cursors(one_url)
    logs = "".join(w.text() for w in workers)
    for secret in (GITHUB_TOKEN, "s3cret", "jira-secret-token-123"):
        assert secret not in logs + spread.stdout + spread.stderr


def test_distributed_scoring_equals_single_process_scoring_for_every_team_and_week(
    tmp_path: Path,
    broker: str,
    stores: tuple[str, str],
    workers: list[Worker],
    fleet: tuple[str, GitHubServer],
) -> None:
    body, _ = fleet
    one_url, many_url = stores
    one = write_config(tmp_path / "one", one_url, body)
    many = write_config(tmp_path / "many", many_url, body)
    assert maturity(one, "collect").returncode == 0
    assert maturity(many, "collect").returncode == 0
    week = "2026-10-18"
    # the worker (of the other store) starts up while the single process scores
    [scorer] = spawn_workers(workers, many, "a", concurrency=2, queues=("score",))
    single = maturity(one, "score", "--week", week, "--backfill", "6")
    assert single.returncode == 0, single.stderr
    scorer.wait_ready()
    spread = maturity(
        many, "score", "--week", week, "--backfill", "6", "--distributed", "--partition-size", "1"
    )
    assert spread.returncode == 0, spread.stderr
    # 4 teams in partitions of 1; 7 weeks x 4 teams x 5 dimensions = 140 snapshots
    assert "140 snapshot(s) in 4 partition(s)" in spread.stdout
    theirs, ours = exported(one_url), exported(many_url)
    for name in ("snapshots", "metric_values"):
        assert ours[name] == theirs[name], name
    weeks = {json.loads(r)["period_end"] for r in ours["snapshots"]}
    assert len(weeks) == 7 and len(ours["snapshots"]) == 140
    # the same levels table printed for the last week
    assert spread.stdout.split("week ending", 1)[1] == single.stdout.split("week ending", 1)[1]


# --- a worker killed in the middle of a scope ---------------------------------------------


def test_a_worker_killed_mid_scope_is_redelivered_and_finished_without_loss_or_duplicate(
    tmp_path: Path,
    broker: str,
    stores: tuple[str, str],
    workers: list[Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    one_url, many_url = stores
    with GitHubServer(token=GITHUB_TOKEN) as gh:
        gh.add_repo("acme", "big").populate(pulls=120, runs=60, commits=40, start=DAY)
        gh.latency_s = 0.05  # 5 records a page: about 50 pages, a few seconds a scope
        body = f"""
[sources.github]
base_url = "{gh.url}"
timeout_s = 5
min_request_interval_s = 0
page_size = 5

[[teams]]
name = "payments"
github = ["acme/big"]
"""
        # leases and redelivery made short so that the test does not wait an hour
        quick = "lease_s = 2\nvisibility_timeout_s = 1\n"
        one = write_config(tmp_path / "one", one_url, body)
        many = write_config(tmp_path / "many", many_url, body, distributed=quick)
        assert maturity(one, "collect").returncode == 0

        doomed = start_worker(workers, many, "doomed", concurrency=1)
        follower = clirun.popen(
            [sys.executable, "-m", "maturity", "--config", str(many), "collect", "--distributed"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "250"},
        )
        engine = make_engine(many_url)
        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while time.monotonic() < deadline:  # pulls pages are being written
                written = conn.execute(text("select count(*) from pull_requests")).scalar_one()
                if written >= 20:
                    break
                time.sleep(0.05)
        doomed.kill9()
        with engine.connect() as conn:
            at_kill = conn.execute(text("select count(*) from pull_requests")).scalar_one()
            running = (
                conn.execute(text("select status from collector_runs where source = 'github'"))
                .scalars()
                .all()
            )
        engine.dispose()
        assert 20 <= at_kill < 120 and running == ["running"]  # killed in the middle

        start_worker(workers, many, "rescuer", concurrency=1)
        out, err = follower.communicate(timeout=180)
    assert follower.returncode == 0, err
    assert " success " in out

    theirs = exported(one_url, skip=("collector_runs",))
    ours = exported(many_url, skip=("collector_runs",))
    for name in theirs:
        assert ours[name] == theirs[name], name
    assert len(ours["pull_requests"]) == 120
    assert cursors(many_url) == cursors(one_url)
    engine = make_engine(many_url)
    with engine.connect() as conn:
        runs = conn.execute(text("select status from collector_runs order by id")).scalars().all()
        lease = conn.execute(text("select holder, done_key from scope_leases")).one()
    engine.dispose()
    # the killed run, marked interrupted when the scope was taken over; then the finished one
    assert runs == ["interrupted", "success"]
    assert lease.holder is None and lease.done_key is not None
    assert "rescuer" in workers[1].text() and "collect_scope" in workers[1].text()


# --- shared API budgets -------------------------------------------------------------------


def test_workers_share_a_retry_after_and_the_per_host_cap(
    tmp_path: Path,
    broker: str,
    stores: tuple[str, str],
    workers: list[Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    _, many_url = stores
    with GitHubServer(token=GITHUB_TOKEN, graphql=False) as gh:  # pull requests by REST
        for name in ("one", "two"):
            gh.add_repo("acme", name).populate(pulls=60, runs=30, start=DAY)
        gh.latency_s = 0.03
        # the 15th request for pulls is told to wait 1 second
        gh.inject(Fault(match="/pulls", kind="429", times=1, skip=14, retry_after=1))
        body = f"""
[sources.github]
base_url = "{gh.url}"
timeout_s = 5
min_request_interval_s = 0
retry_backoff_s = 0.01
page_size = 5

[[teams]]
name = "payments"
github = ["acme/one", "acme/two"]
"""
        cfg = write_config(
            tmp_path / "many", many_url, body, distributed="max_requests_per_host = 1\n"
        )
        start_workers(workers, cfg, "a", "b", concurrency=1)
        done = maturity(cfg, "collect", "--distributed")
        arrivals = sorted(gh.arrivals)
        peak = gh.max_in_flight
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" success ") == 2
    told = [t for t, _, kind in arrivals if kind == "429"]
    assert len(told) == 1
    # no request from either worker in the second it was told to wait (0.1 s of slack for
    # a request already on its way)
    during = [(t - told[0], path) for t, path, _ in arrivals if told[0] < t < told[0] + 0.9]
    assert during == []
    after = [t for t, _, _ in arrivals if t >= told[0] + 0.9]
    assert len(after) > 10  # both scopes went on after the pause
    assert peak == 1  # max_requests_per_host = 1 held across the two workers
    assert "a@" in workers[0].text() and "b@" in workers[1].text()
    received = [w.text().count("collect_scope") for w in workers]
    assert all(n > 0 for n in received)  # both workers collected a scope


# --- the scheduler ------------------------------------------------------------------------


def test_the_scheduler_has_the_workers_collect_then_score_every_team(
    tmp_path: Path, broker: str, stores: tuple[str, str], workers: list[Worker]
) -> None:
    _, url = stores
    build_rich_repo(tmp_path / "repos" / "payments")
    small = GitRepo(tmp_path / "repos" / "search")
    for i in range(3):
        small.commit(f"change {i}", {"a.txt": f"{i}\n"})
    body = f"""
[[teams]]
name = "payments"
repositories = ["{tmp_path / "repos" / "payments"}"]

[[teams]]
name = "search"
repositories = ["{tmp_path / "repos" / "search"}"]
"""
    cfg = write_config(tmp_path / "many", url, body, distributed="partition_size = 1\n")
    start_worker(workers, cfg, "a", concurrency=2)
    beat = clirun.popen(
        [sys.executable, "-m", "maturity", "--config", str(cfg), "schedule", "--every", "3s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cfg.parent,
    )
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + 120
        snaps = 0
        with engine.connect() as conn:
            while time.monotonic() < deadline and snaps < 10:
                time.sleep(0.1)
                snaps = conn.execute(text("select count(*) from snapshots")).scalar_one()
            commits = dict(
                conn.execute(
                    text(
                        "select r.name, count(*) from commits c join repositories r "
                        "on r.id = c.repository_id group by r.name"
                    )
                ).all()
            )
            teams_scored = conn.execute(
                text("select count(distinct team_id) from snapshots")
            ).scalar_one()
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        engine.dispose()
    # 2 teams x 5 dimensions for this week, written by two partitions of one team
    assert snaps == 10 and teams_scored == 2
    # build_rich_repo: 10 commits on its branches; the small one: 3
    assert commits == {"payments": 10, "search": 3}
    log = workers[0].text()
    assert "maturity.refresh" in log and "maturity.after_refresh" in log
    assert log.count("maturity.score_partition[") >= 2
