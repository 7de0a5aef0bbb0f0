"""The Jira collector against a local Jira, through the real jira library, on both stores."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors.jira as jira_collector
from collectors.base import CollectContext, ScopeResult
from maturity import teams
from maturity.config import Config
from maturity.store import tables
from maturity.store.engine import session_scope
from tests import clirun
from tests.servers.jira import API, JiraServer
from tests.virtualclock import VirtualClock

pytestmark = pytest.mark.integration

USER, TOKEN = "collector", "jira-secret-token-123"
SEARCH = API + "/search"
ROOT = Path(__file__).resolve().parents[2]


def _pythonpath() -> str:
    """This checkout first, then whatever the test run had, for the CLI in a subprocess."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_USER", USER)
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)


@pytest.fixture
def jira() -> Iterator[JiraServer]:
    with JiraServer() as server:
        yield server


def make_config(server: JiraServer, projects: list[str] | None = None, **source: Any) -> Config:
    settings = {"url": server.url, "page_size": 10, "retry_base_s": 0.01, "timeout_s": 5}
    return Config.model_validate(
        {
            "sources": {"jira": {**settings, **source}},
            "teams": [{"name": "payments", "jira": projects or ["PAY"]}],
        }
    )


def collect(
    sessions: sessionmaker[Session],
    cfg: Config,
    *,
    full_refresh: bool = False,
    clock: VirtualClock | None = None,
) -> list[ScopeResult]:
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    ctx = CollectContext(config=cfg, sessions=sessions, full_refresh=full_refresh)
    if clock is not None:
        ctx.clock = clock
    return jira_collector.collect(ctx)


def issues(sessions: sessionmaker[Session]) -> dict[str, dict[str, Any]]:
    with session_scope(sessions) as session:
        rows = session.execute(select(tables.Issue)).scalars().all()
        return {
            r.key: {c.name: getattr(r, c.name) for c in tables.Issue.__table__.columns}
            for r in rows
        }


def transitions(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None, str | None]]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(
                tables.Issue.key,
                tables.IssueTransition.external_id,
                tables.IssueTransition.from_status,
                tables.IssueTransition.to_status,
            ).join(tables.Issue, tables.Issue.id == tables.IssueTransition.issue_id)
        ).all()
    return sorted((r[0], r[1], r[2], r[3]) for r in rows)


def runs(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None]]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(
                tables.CollectorRun.scope, tables.CollectorRun.status, tables.CollectorRun.error
            ).order_by(tables.CollectorRun.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


# --- collection --------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["Server", "Cloud"])
def test_first_collection_stores_every_issue_with_transitions_and_owner(
    sessions: sessionmaker[Session], deployment: str
) -> None:
    with JiraServer(deployment=deployment) as server:
        made = server.generate("PAY", 35)
        [result] = collect(sessions, make_config(server))
        paths = [r.path for r in server.requests]
        search_queries = [r.query for r in server.requests if r.path.startswith(SEARCH)]

    assert (result.scope, result.status, result.records) == ("PAY", "success", 35)
    stored = issues(sessions)
    assert sorted(stored) == sorted(i.key for i in made)
    with session_scope(sessions) as session:
        team_id = session.scalar(select(tables.Team.id).where(tables.Team.name == "payments"))
    assert {row["team_id"] for row in stored.values()} == {team_id}
    assert sum(row["is_incident"] for row in stored.values()) == 4  # every 10th of 35
    first = stored["PAY-1"]
    assert (first["issue_type"], first["status"], first["status_category"]) == (
        "Incident",
        "Resolved",
        "done",
    )
    assert first["resolved_at"] == dt.datetime(2026, 1, 5, 9, 0, 6, tzinfo=dt.UTC)
    assert first["deployment_ref"] == "1.0.0"
    assert first["service"] == "svc-0"
    assert first["labels"] == '["incident"]'
    assert first["created_at"] == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert len(transitions(sessions)) == 2 * 35
    # serverInfo and the field list once, then 4 pages of 10: nothing more.
    endpoint = SEARCH + ("/jql" if deployment == "Cloud" else "")
    assert paths == [API + "/serverInfo", API + "/field"] + [endpoint] * 4
    if deployment == "Cloud":
        assert [("nextPageToken" in q) for q in search_queries] == [False, True, True, True]
    else:
        assert [q["startAt"] for q in search_queries] == [["0"], ["10"], ["20"], ["30"]]


def test_unchanged_recollection_makes_one_search_and_changes_nothing(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 35)
    cfg = make_config(jira)
    collect(sessions, cfg)
    before, before_transitions = issues(sessions), transitions(sessions)
    searches = jira.count(SEARCH)

    [result] = collect(sessions, cfg)

    assert result.status == "success"
    assert jira.count(SEARCH) - searches == 1
    assert 'updated >= "' in jira.requests[-1].query["jql"][0]
    assert issues(sessions) == before
    assert transitions(sessions) == before_transitions


def test_issue_updated_after_the_first_run_is_updated(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 25, histories=1)
    cfg = make_config(jira)
    collect(sessions, cfg)
    assert issues(sessions)["PAY-4"]["status"] == "In Progress"

    jira.update_issue("PAY-4", status="Closed", summary="Payments page <b>fixed</b>")
    collect(sessions, cfg)

    row = issues(sessions)["PAY-4"]
    assert (row["status"], row["status_category"], row["title"]) == (
        "Closed",
        "done",
        "Payments page <b>fixed</b>",
    )
    assert [t[2:] for t in transitions(sessions) if t[0] == "PAY-4"] == [
        ("Open", "In Progress"),
        ("In Progress", "Closed"),
    ]
    assert len(issues(sessions)) == 25


def test_full_refresh_reads_every_page_again(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 25)
    cfg = make_config(jira)
    collect(sessions, cfg)
    searches = jira.count(SEARCH)
    collect(sessions, cfg, full_refresh=True)
    assert jira.count(SEARCH) - searches == 3
    assert "updated >=" not in jira.requests[-3].query["jql"][0]


def test_truncated_changelog_is_completed_from_the_changelog_endpoint(
    sessions: sessionmaker[Session],
) -> None:
    with JiraServer(changelog_limit=2) as server:
        server.generate("PAY", 3, histories=7)
        collect(sessions, make_config(server))
        changelog_calls = server.count(API + "/issue/")
    assert len(transitions(sessions)) == 3 * 7
    assert len({t[1] for t in transitions(sessions)}) == 21
    assert changelog_calls == 3


def test_jql_option_narrows_every_project(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 30)
    collect(sessions, make_config(jira, jql="issuetype = Incident"))
    stored = issues(sessions)
    assert sorted(stored) == ["PAY-1", "PAY-11", "PAY-21"]
    assert all(row["is_incident"] for row in stored.values())


def test_project_globs_are_expanded_against_the_project_list(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 3)
    jira.generate("PAD", 2)
    jira.generate("OPS", 4)
    results = collect(sessions, make_config(jira, ["PA*"]))
    assert [(r.scope, r.records) for r in results] == [("PAD", 2), ("PAY", 3)]


def test_service_field_by_name_is_read_from_its_custom_field(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.add_issue(
        "PAY",
        created=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        components=["web"],
        custom={"customfield_10100": {"value": "payments-api", "id": "7"}},
    )
    collect(sessions, make_config(jira, service_field="Service"))
    assert issues(sessions)["PAY-1"]["service"] == "payments-api"
    assert jira.count(API + "/field") == 1


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("429", {"retry_after": "0"}),
        ("502", {"count": 3}),
        ("503", {"retry_after": "0"}),
        ("slow", {"delay_s": 1.5}),
        ("reset", {}),
        ("truncate", {}),
        ("cut", {}),
    ],
)
def test_transient_fault_mid_pagination_is_retried_without_gaps_or_duplicates(
    sessions: sessionmaker[Session],
    jira: JiraServer,
    kind: str,
    options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = jira.generate("PAY", 45)
    fault = jira.inject(kind, after=2, **options)
    caplog.set_level(logging.WARNING, logger="collectors.retry")
    # a short timeout for the slow answer alone: an ordinary answer late on a loaded machine
    # would cost a retry the count below does not expect
    [result] = collect(sessions, make_config(jira, timeout_s=0.3 if kind == "slow" else 5))
    assert result.status == "success", result.error
    assert fault.count == 0  # the fault was served
    if kind == "slow":  # the client gave up on its timeout, not on a hang-up
        assert "timed out; retrying" in caplog.text, caplog.text
    assert sorted(issues(sessions)) == sorted(i.key for i in made)
    assert len(transitions(sessions)) == 2 * 45
    retries = options.get("count", 1)
    assert jira.count(SEARCH) == 5 + retries


def test_rate_limit_waits_as_long_as_retry_after_says(
    sessions: sessionmaker[Session], jira: JiraServer, caplog: pytest.LogCaptureFixture
) -> None:
    jira.generate("PAY", 25)
    fault = jira.inject("429", after=1, retry_after="1")
    caplog.set_level(logging.WARNING, logger="collectors.retry")
    # at each wait: how many searches had arrived, and how many 429s were still to be given
    clock = VirtualClock(mark=lambda: (jira.count(SEARCH), fault.count))
    [result] = collect(sessions, make_config(jira), clock=clock)
    assert result.status == "success"
    assert "jira PAY search (startAt=10): HTTP 429; retrying in 1.0s" in caplog.text
    assert len(issues(sessions)) == 25
    # one wait, of Retry-After's second, after the 429 and before the search that followed
    [wait] = clock.waits
    searched, to_give = wait.mark
    assert wait.seconds == 1.0 and to_give == 0
    assert jira.count(SEARCH) > searched


def test_persistent_502_fails_the_scope_and_keeps_the_pages_already_written(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    made = jira.generate("PAY", 35)
    jira.inject("502", after=2, count=3)
    cfg = make_config(jira, retry_attempts=3)
    [result] = collect(sessions, cfg)
    assert result.status == "failed"
    assert result.error == "jira PAY: search (startAt=20): HTTP 502"
    assert sorted(issues(sessions)) == sorted(i.key for i in made[:20])

    [again] = collect(sessions, cfg)
    assert again.status == "success"
    assert sorted(issues(sessions)) == sorted(i.key for i in made)


def test_bad_credentials_fail_at_once_without_retry_or_secret(
    sessions: sessionmaker[Session],
    jira: JiraServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wrong-token-that-must-not-leak"
    monkeypatch.setenv("JIRA_TOKEN", wrong)
    jira.generate("PAY", 3)
    jira.generate("OPS", 3)
    caplog.set_level(logging.DEBUG)
    results = collect(sessions, make_config(jira, ["PAY", "OPS"]))
    assert [(r.scope, r.status) for r in results] == [("OPS", "failed"), ("PAY", "failed")]
    reason = "jira: serverInfo: HTTP 401: authentication failed; check JIRA_USER/JIRA_TOKEN"
    assert [r.error for r in results] == [reason, reason]
    assert len(jira.requests) == 1  # one serverInfo, never retried, never repeated per scope
    leaked = [wrong, base64.b64encode(f"{USER}:{wrong}".encode()).decode()]
    stored_errors = " ".join(e or "" for _, _, e in runs(sessions))
    for secret in leaked:
        assert secret not in caplog.text
        assert secret not in stored_errors


def test_successful_collection_logs_no_secret(
    sessions: sessionmaker[Session], jira: JiraServer, caplog: pytest.LogCaptureFixture
) -> None:
    jira.generate("PAY", 15)
    jira.inject("502", after=1)
    caplog.set_level(logging.DEBUG)
    [result] = collect(sessions, make_config(jira))
    assert result.status == "success"
    assert "HTTP 502" in caplog.text
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    assert TOKEN not in caplog.text
    assert basic not in caplog.text


def test_forbidden_project_fails_alone_and_the_others_are_collected(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 12)
    jira.generate("SEC", 4)
    jira.forbidden.add("SEC")
    results = collect(sessions, make_config(jira, ["PAY", "SEC"]))
    by_scope = {r.scope: r for r in results}
    assert by_scope["PAY"].status == "success"
    assert by_scope["PAY"].records == 12
    assert by_scope["SEC"].status == "failed"
    assert by_scope["SEC"].error == (
        "jira SEC: search (startAt=0): HTTP 403: permission denied: "
        "You do not have permission to browse project 'SEC'."
    )
    sec_searches = [r for r in jira.requests if "SEC" in r.query.get("jql", [""])[0]]
    assert len(sec_searches) == 1


def test_unknown_project_fails_its_scope_with_jiras_reason(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 5)
    results = collect(sessions, make_config(jira, ["PAY", "NOPE"]))
    assert [(r.scope, r.status) for r in results] == [("NOPE", "failed"), ("PAY", "success")]
    assert results[0].error == (
        "jira NOPE: search (startAt=0): HTTP 400: the query was refused: "
        "The value 'NOPE' does not exist for the field 'project'."
    )
    assert ("NOPE", "failed", results[0].error) in runs(sessions)


def test_malformed_issue_is_skipped_with_a_logged_reason(
    sessions: sessionmaker[Session], jira: JiraServer, caplog: pytest.LogCaptureFixture
) -> None:
    made = jira.generate("PAY", 12)
    made[4].fields = {**made[4].fields, "created": "last tuesday"}
    caplog.set_level(logging.WARNING)
    [result] = collect(sessions, make_config(jira))
    assert (result.status, result.records, result.skipped) == ("partial", 11, 1)
    assert "issue PAY-5: created: not a timestamp: 'last tuesday'" in caplog.text
    assert "PAY-5" not in issues(sessions)
    assert len(issues(sessions)) == 11


def test_killed_run_resumes_without_gaps_or_duplicates(
    store_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with JiraServer() as server:
        made = server.generate("PAY", 60)
        stall = server.inject("stall", after=3)
        config = tmp_path / "maturity.toml"
        config.write_text(
            f'[store]\nurl = "{store_url}"\n\n'
            f'[sources.jira]\nurl = "{server.url}"\npage_size = 10\n\n'
            '[[teams]]\nname = "payments"\njira = ["PAY"]\n'
        )
        env = {**os.environ, "PYTHONPATH": _pythonpath(), "MATURITY_CONFIG": str(config)}
        proc = clirun.popen(
            [sys.executable, "-m", "maturity", "collect", "--source", "jira"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while stall.count > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stall.count == 0, "the collector never reached the fourth page"
        while len(issues(sessions)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stall.release.set()
        assert len(issues(sessions)) == 30  # three pages written, the fourth never answered
        searches = server.count(SEARCH)

        cfg = make_config(server)
        [result] = collect(sessions, cfg)
        resumed = [r.query for r in server.requests[-(server.count(SEARCH) - searches) :]]

    assert result.status == "success"
    assert sorted(issues(sessions)) == sorted(i.key for i in made)
    assert len(transitions(sessions)) == 2 * 60
    # The resumed run started from the stored cursor, not from the first issue.
    assert 'updated >= "' in resumed[0]["jql"][0]
    assert len(resumed) <= 4


def test_wrong_context_path_fails_with_404_at_once(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 3)
    cfg = Config.model_validate(
        {
            "sources": {"jira": {"url": jira.url.removesuffix("/jira") + "/tracker"}},
            "teams": [{"name": "payments", "jira": ["PAY"]}],
        }
    )
    [result] = collect(sessions, cfg)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("jira: serverInfo: HTTP 404: not found")
    assert len(jira.requests) == 1


def test_token_without_user_is_sent_as_a_personal_access_token(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_USER")
    with JiraServer(user=None, token=TOKEN) as server:
        server.generate("PAY", 4)
        [result] = collect(sessions, make_config(server))
    assert (result.status, result.records) == ("success", 4)


def test_user_without_token_is_refused_naming_the_variable(
    sessions: sessionmaker[Session], jira: JiraServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_TOKEN")
    [result] = collect(sessions, make_config(jira))
    assert result.status == "failed"
    assert result.error == (
        "jira: JIRA_USER is set but JIRA_TOKEN is not; set both, or neither for anonymous access"
    )
    assert jira.requests == []


def test_team_option_collects_only_that_teams_projects(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 3)
    jira.generate("OPS", 2)
    cfg = Config.model_validate(
        {
            "sources": {"jira": {"url": jira.url}},
            "teams": [{"name": "payments", "jira": ["PAY"]}, {"name": "ops", "jira": ["OPS"]}],
        }
    )
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    results = jira_collector.collect(CollectContext(config=cfg, sessions=sessions, team="ops"))
    assert [(r.scope, r.records) for r in results] == [("OPS", 2)]
    assert sorted(issues(sessions)) == ["OPS-1", "OPS-2"]


def test_cli_reports_a_failed_project_and_never_prints_the_token(
    sqlite_url: str, jira: JiraServer, tmp_path: Path
) -> None:
    jira.generate("PAY", 5)
    config = tmp_path / "maturity.toml"
    config.write_text(
        f'[store]\nurl = "{sqlite_url}"\n\n[sources.jira]\nurl = "{jira.url}"\n\n'
        '[[teams]]\nname = "payments"\njira = ["PAY", "NOPE"]\n'
    )
    env = {**os.environ, "PYTHONPATH": _pythonpath(), "MATURITY_CONFIG": str(config)}
    done = clirun.run(
        [sys.executable, "-m", "maturity", "collect", "--source", "jira"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "1 of 2 scope(s) failed" in output
    assert "NOPE" in output and "failed" in output
    assert TOKEN not in output
    assert base64.b64encode(f"{USER}:{TOKEN}".encode()).decode() not in output


@pytest.mark.parametrize("offset_hours", [13, -5])
def test_lookback_catches_late_updates_within_its_window_in_the_servers_zone(
    sessions: sessionmaker[Session], offset_hours: int
) -> None:
    with JiraServer(tz=dt.timezone(dt.timedelta(hours=offset_hours))) as server:
        server.generate("PAY", 12)
        cfg = make_config(server, lookback_minutes=5)
        collect(sessions, cfg)
        newest = max(i.updated for i in server.issues.values())
        # Indexed late: updated before the newest issue already collected.
        late = server.add_issue("PAY", created=newest - dt.timedelta(minutes=3))
        too_late = server.add_issue("PAY", created=newest - dt.timedelta(minutes=7))
        collect(sessions, cfg)
    stored = issues(sessions)
    assert late.key in stored
    assert too_late.key not in stored


def test_credentials_echoed_by_the_server_are_redacted_from_the_error(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    jira.generate("PAY", 3)
    jira.inject("echo")
    [result] = collect(sessions, make_config(jira))
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    assert result.status == "failed"
    assert result.error == "jira PAY: search (startAt=0): HTTP 400: the query was refused: " + (
        f"Bad request with Basic *** ({USER}:***)"
    )
    stored = " ".join(e or "" for _, _, e in runs(sessions))
    assert TOKEN not in stored and basic not in stored


def test_truncated_changelog_falls_back_to_the_issue_where_the_endpoint_is_missing(
    sessions: sessionmaker[Session],
) -> None:
    with JiraServer(changelog_limit=2, changelog_endpoint=False) as server:
        server.generate("PAY", 3, histories=6)
        [result] = collect(sessions, make_config(server))
        endpoint_calls = server.count(API + "/issue/10001/changelog")
        issue_calls = server.count(API + "/issue/10001") - endpoint_calls
    assert result.status == "success"
    assert len(transitions(sessions)) == 3 * 6
    assert (endpoint_calls, issue_calls) == (1, 1)


def test_cursor_never_moves_back_when_the_lookback_holds_more_than_a_page(
    sessions: sessionmaker[Session], jira: JiraServer
) -> None:
    # 30 issues two seconds apart: all inside the five-minute look-back, three pages of 10.
    jira.generate("PAY", 30, step=dt.timedelta(seconds=2))
    cfg = make_config(jira)
    collect(sessions, cfg)
    with session_scope(sessions) as session:
        first = session.scalar(select(tables.Cursor.value))
    jira.inject("502", after=1, count=10)  # the re-run stops after its first page
    [result] = collect(sessions, make_config(jira, retry_attempts=2))
    with session_scope(sessions) as session:
        second = session.scalar(select(tables.Cursor.value))
    assert result.status == "failed"
    assert first is not None and second == first


# --- issue 15: what a re-run writes, what a full refresh removes -----------------------------


def test_unchanged_rerun_writes_no_row_though_the_lookback_reads_issues_again(
    jira: JiraServer, sessions: sessionmaker[Session]
) -> None:
    from tests.rowwrites import counting

    jira.add_project("PAY")
    jira.generate("PAY", 25, histories=3)
    cfg = make_config(jira)
    collect(sessions, cfg)
    searches = jira.count(SEARCH)
    with counting(sessions) as written:
        [result] = collect(sessions, cfg)
        assert result.status == "success", result.error
        assert jira.count(SEARCH) == searches + 1  # the look-back re-reads the newest issues
        assert result.records > 0
        assert written() == {}, written()


def test_full_refresh_removes_issues_deleted_in_jira_and_counts_them(
    jira: JiraServer, sessions: sessionmaker[Session]
) -> None:
    jira.add_project("PAY")
    jira.add_project("OPS")
    made = jira.generate("PAY", 12, histories=2)
    jira.generate("OPS", 3)
    cfg = make_config(jira, ["PAY", "OPS"])
    collect(sessions, cfg)
    assert len(issues(sessions)) == 15
    for issue in made[:3]:
        jira.delete_issue(issue.key)
    collect(sessions, cfg)  # incremental: a deletion is not seen
    assert len(issues(sessions)) == 15
    results = {r.scope: r for r in collect(sessions, cfg, full_refresh=True)}
    assert results["PAY"].status == "success"
    assert results["PAY"].counts["issues_deleted"] == 3
    assert results["OPS"].counts["issues_deleted"] == 0
    kept = issues(sessions)
    assert sorted(kept) == sorted([i.key for i in made[3:]] + ["OPS-1", "OPS-2", "OPS-3"])
    assert {key for key, *_ in transitions(sessions)} == set(kept)
    with session_scope(sessions) as session:
        run = session.scalars(
            select(tables.CollectorRun).where(tables.CollectorRun.scope == "PAY")
        ).all()[-1]
    assert run.counts is not None and run.counts["issues_deleted"] == 3
