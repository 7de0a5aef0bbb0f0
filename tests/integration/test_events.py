"""`maturity ingest`: JSON lines of builds, deployments, incidents and pull requests, validated,
then upserted."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collectors import events
from maturity.store import engine as engine_mod
from maturity.store import tables
from tests import clirun

pytestmark = pytest.mark.integration

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
HOSTILE = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "'; DROP TABLE builds; --",
    '=HYPERLINK("http://evil")',
    "日本語 ✓ \u202eRTL",
]


def build(n: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "kind": "build",
        "id": f"b{n}",
        "pipeline": "payments-api",
        "number": n,
        "commit_sha": SHA,
        "branch": "main",
        "result": "success",
        "stage": "test",
        "started_at": "2026-11-24T09:12:00+01:00",
        "duration_s": 312.5,
        "tests": {"total": 10, "failed": 1, "skipped": 2},
        "lint": True,
        "url": "https://ci.example.com/1",
    } | over


def deployment(n: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"d{n}",
        "service": "payments-api",
        "environment": "production",
        "version": f"1.{n}.0",
        "commit_sha": SHA,
        "status": "success",
        "started_at": "2026-11-24T10:00:00Z",
        "finished_at": "2026-11-24T10:04:30Z",
        "trigger": "automated",
        "hotfix": True,
        "build": "b1",
    } | over


def incident(n: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "kind": "incident",
        "id": f"i{n}",
        "service": "payments-api",
        "key": f"INC-{n}",
        "title": "Card payments time out",
        "started_at": "2026-11-24T11:30:00Z",
        "resolved_at": "2026-11-24T12:10:00Z",
        "priority": "P1",
        "deployment": "d1",
    } | over


def pull_request(n: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "id": f"mr-{n}",
        "repository": "payments-api",
        "number": n,
        "title": "Retry card captures",
        "state": "merged",
        "created_at": "2026-11-23T09:00:00Z",
        "first_commit_at": "2026-11-22T16:20:00Z",
        "first_review_at": "2026-11-23T10:05:00Z",
        "merged_at": "2026-11-23T11:02:00Z",
        "reviews": 2,
        "approvals": 1,
        "merge_commit_sha": SHA,
    } | over


def jsonl(*items: Any) -> str:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "maturity.toml"
    path.write_text(
        '[[teams]]\nname = "payments"\nservices = ["payments-*"]\n'
        '[[teams]]\nname = "search"\nservices = ["search*"]\n',
        encoding="utf-8",
    )
    return path


def run_cli(
    tmp_path: Path, store_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MATURITY_DATABASE_URL": store_url}
    return clirun.run(
        [sys.executable, "-m", "maturity", "--config", str(write_config(tmp_path)), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        input=stdin,
        check=False,
    )


def count(sessions: sessionmaker[Session], model: type[tables.Base]) -> int:
    with engine_mod.session_scope(sessions) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_valid_file_round_trips_into_builds_deployments_and_incidents(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        jsonl(build(1), "", deployment(1), incident(1), build(2, pipeline="search-web")),
        encoding="utf-8",
    )
    proc = run_cli(tmp_path, store_url, "ingest", str(path))
    assert proc.returncode == 0, proc.stderr
    assert (
        "ingested 2 builds, 1 deployments, 1 incidents, 0 pull requests from events.jsonl"
        in proc.stdout
    )
    with engine_mod.session_scope(sessions) as s:
        team_of = {t.id: t.name for t in s.scalars(select(tables.Team))}
        b = s.scalars(select(tables.Build).order_by(tables.Build.external_id)).all()
        d = s.scalars(select(tables.Deployment)).one()
        i = s.scalars(select(tables.Issue)).one()
        run = s.scalars(select(tables.CollectorRun)).one()
    assert [(x.source, x.scope, x.external_id, team_of[x.team_id or 0]) for x in b] == [
        ("events", "payments-api", "b1", "payments"),
        ("events", "search-web", "b2", "search"),
    ]
    assert (b[0].job, b[0].number, b[0].commit_sha, b[0].branch, b[0].result) == (
        "payments-api",
        1,
        SHA,
        "main",
        "success",
    )
    assert b[0].started_at == dt.datetime(2026, 11, 24, 8, 12, tzinfo=dt.UTC)
    assert (b[0].duration_s, b[0].tests_total, b[0].tests_failed, b[0].tests_skipped) == (
        312.5,
        10,
        1,
        2,
    )
    assert (b[0].has_lint, b[0].stage, b[0].url) == (True, "test", "https://ci.example.com/1")
    assert (d.service, d.environment, d.version, d.status, d.trigger) == (
        "payments-api",
        "production",
        "1.1.0",
        "success",
        "automated",
    )
    assert (d.is_hotfix, d.is_rollback, d.build_ref, d.commit_sha) == (True, False, "b1", SHA)
    assert d.finished_at - d.started_at == dt.timedelta(minutes=4, seconds=30)
    assert team_of[d.team_id or 0] == "payments"
    assert (i.is_incident, i.key, i.title, i.service, i.deployment_ref, i.priority) == (
        True,
        "INC-1",
        "Card payments time out",
        "payments-api",
        "d1",
        "P1",
    )
    assert i.created_at == dt.datetime(2026, 11, 24, 11, 30, tzinfo=dt.UTC)
    assert i.resolved_at == dt.datetime(2026, 11, 24, 12, 10, tzinfo=dt.UTC)
    assert (run.source, run.scope, run.status, run.records) == (
        "events",
        "ingest:events.jsonl",
        "success",
        4,
    )
    assert run.counts == {"build": 2, "deployment": 1, "incident": 1, "pull_request": 0}


def test_reingesting_changes_nothing_and_a_resent_event_updates_in_place(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(build(1), deployment(1, status="running"), incident(1)), "utf-8")
    for _ in range(2):
        assert run_cli(tmp_path, store_url, "ingest", str(path)).returncode == 0
    assert (count(sessions, tables.Build), count(sessions, tables.Deployment)) == (1, 1)
    assert count(sessions, tables.Issue) == 1
    path.write_text(jsonl(deployment(1, status="success")), "utf-8")
    assert run_cli(tmp_path, store_url, "ingest", str(path)).returncode == 0
    with engine_mod.session_scope(sessions) as s:
        statuses = s.scalars(select(tables.Deployment.status)).all()
        runs = s.scalar(select(func.count()).select_from(tables.CollectorRun))
    assert statuses == ["success"]
    assert runs == 3


def test_same_id_twice_in_one_file_keeps_the_later_event(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        jsonl(deployment(1, status="running"), deployment(1, status="failure")), "utf-8"
    )
    assert run_cli(tmp_path, store_url, "ingest", str(path)).returncode == 0
    with engine_mod.session_scope(sessions) as s:
        assert s.scalars(select(tables.Deployment.status)).all() == ["failure"]


def test_invalid_lines_write_nothing_and_each_is_named_with_its_reason(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        jsonl(
            build(1),
            "{not json",
            deployment(2, status="deployed"),
            incident(3, started_at="2026-11-24T11:30:00"),
            build(4, comit_sha=SHA),
            deployment(5),
        ),
        encoding="utf-8",
    )
    proc = run_cli(tmp_path, store_url, "ingest", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("bad.jsonl: line 2: not valid JSON")
    assert lines[1].startswith("bad.jsonl: line 3: status: Input should be 'success'")
    assert lines[2] == "bad.jsonl: line 4: started_at: Input should have timezone info"
    assert lines[3] == "bad.jsonl: line 5: comit_sha: Extra inputs are not permitted"
    assert "4 invalid line(s) in bad.jsonl; nothing was written" in lines[4]
    assert count(sessions, tables.Build) == count(sessions, tables.Deployment) == 0
    with engine_mod.session_scope(sessions) as s:
        run = s.scalars(select(tables.CollectorRun)).one()
    assert (run.scope, run.status, run.records) == ("ingest:bad.jsonl", "failed", 0)
    assert run.error == "4 invalid event(s); nothing written"


def test_skip_invalid_writes_the_valid_events_and_reports_the_rest(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(jsonl(build(1), "[]", deployment(1), build(2, result="green")), "utf-8")
    proc = run_cli(tmp_path, store_url, "ingest", "--skip-invalid", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "mixed.jsonl: line 2:" in proc.stderr
    assert "mixed.jsonl: line 4: result:" in proc.stderr
    assert "2 invalid line(s) skipped" in proc.stderr
    assert (count(sessions, tables.Build), count(sessions, tables.Deployment)) == (1, 1)
    with engine_mod.session_scope(sessions) as s:
        run = s.scalars(select(tables.CollectorRun)).one()
    assert (run.status, run.records, run.error) == ("partial", 2, "2 invalid event(s) skipped")


def test_more_than_twenty_invalid_lines_are_listed_up_to_twenty_then_counted(
    tmp_path: Path, sqlite_url: str
) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text(jsonl(*[build(n, result="?") for n in range(25)]), "utf-8")
    proc = run_cli(tmp_path, sqlite_url, "ingest", str(path))
    assert proc.returncode == 2
    listed = [line for line in proc.stderr.splitlines() if re.match(r"many.jsonl: line \d+:", line)]
    assert len(listed) == 20
    assert "many.jsonl: ... and 5 more invalid line(s)" in proc.stderr


def test_events_are_read_from_standard_input_with_a_dash(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    proc = run_cli(tmp_path, store_url, "ingest", "-", stdin=jsonl(incident(7)))
    assert proc.returncode == 0, proc.stderr
    with engine_mod.session_scope(sessions) as s:
        assert s.scalars(select(tables.Issue.key)).all() == ["INC-7"]
        assert s.scalars(select(tables.CollectorRun.scope)).all() == ["ingest:stdin"]


@pytest.mark.parametrize(
    "started_at",
    ["2026-11-24T11:30:00", "2026-11-24 11:30", "2026-11-24", 1795000000],
)
def test_times_without_an_offset_are_refused(started_at: Any) -> None:
    parsed = events.parse_objects([build(1, started_at=started_at)])
    assert parsed.events == []
    assert parsed.invalid[0].reason.startswith("started_at:")


def test_a_time_with_an_offset_is_stored_as_the_same_instant() -> None:
    parsed = events.parse_objects([build(1, started_at="2026-11-24T23:30:00-05:00")])
    assert parsed.events[0].started_at == dt.datetime(2026, 11, 25, 4, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"finished_at": "2026-11-24T09:00:00Z"}, "finished_at is before started_at"),
        ({"url": "javascript:alert(1)"}, "url must start with https:// or http://"),
        ({"commit_sha": "not-a-sha"}, "commit_sha: String should match pattern"),
        ({"service": "x" * 501}, "service: String should have at most 500 characters"),
        ({"environment": "prod\x00"}, "text must not contain NUL characters"),
        ({"version": "\ud800"}, "version: Input should be a valid string"),
        ({"id": ""}, "id: String should have at least 1 character"),
        ({"started_at": "1900-01-01T00:00:00Z"}, "time must lie between 1970 and 2100"),
    ],
)
def test_out_of_bounds_deployment_fields_are_refused_with_a_reason(
    over: dict[str, Any], reason: str
) -> None:
    parsed = events.parse_objects([deployment(1, **over)])
    assert parsed.events == []
    assert reason in parsed.invalid[0].reason


def test_hostile_strings_are_stored_exactly_as_sent(sessions: sessionmaker[Session]) -> None:
    items = [
        deployment(n, service=text, environment=text, version=text)
        for n, text in enumerate(HOSTILE)
    ] + [incident(n, title=text, key=text) for n, text in enumerate(HOSTILE)]
    parsed = events.parse_lines(jsonl(*items).splitlines())
    assert parsed.invalid == []
    result = events.ingest(sessions, parsed, scope="ingest:hostile.jsonl")
    assert result.counts == {"build": 0, "deployment": 5, "incident": 5, "pull_request": 0}
    with engine_mod.session_scope(sessions) as s:
        services = set(s.scalars(select(tables.Deployment.service)))
        versions = set(s.scalars(select(tables.Deployment.version)))
        titles = set(s.scalars(select(tables.Issue.title)))
        keys = set(s.scalars(select(tables.Issue.key)))
    assert services == versions == titles == keys == set(HOSTILE)
    assert count(sessions, tables.Build) == 0  # the DROP TABLE text stayed text


def test_malformed_bytes_and_huge_lines_are_invalid_lines_not_crashes() -> None:
    parsed = events.parse_lines(
        [b"\xff\xfe{}\n", b"{" + b" " * (events.MAX_LINE_CHARS + 1) + b"}", b"\n"]
    )
    assert [(i.position, i.reason) for i in parsed.invalid] == [
        (1, "not valid UTF-8"),
        (2, f"line longer than {events.MAX_LINE_CHARS} characters"),
    ]


def test_schema_option_prints_a_json_schema_of_the_four_kinds(
    tmp_path: Path, sqlite_url: str
) -> None:
    proc = run_cli(tmp_path, sqlite_url, "ingest", "--schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert set(schema["discriminator"]["mapping"]) == {
        "build",
        "deployment",
        "incident",
        "pull_request",
    }
    deploy = schema["$defs"]["DeploymentEvent"]
    assert set(deploy["required"]) == {
        "id",
        "kind",
        "service",
        "environment",
        "started_at",
        "status",
    }
    assert deploy["additionalProperties"] is False


def test_every_example_in_the_events_documentation_is_a_valid_event() -> None:
    doc = Path(__file__).parents[2] / "docs" / "events.md"
    blocks = re.findall(r"```json\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    parsed = events.parse_lines(block.strip() for block in blocks)
    assert parsed.invalid == []
    assert [e.kind for e in parsed.events] == ["build", "deployment", "incident", "pull_request"]


def test_a_rule_across_fields_is_reported_without_the_kind_as_a_field() -> None:
    parsed = events.parse_objects([deployment(1, finished_at="2026-11-24T09:00:00Z")])
    assert parsed.invalid[0].reason == "finished_at is before started_at"
    parsed = events.parse_objects([build(1, tests={"total": 1, "failed": 2})])
    assert parsed.invalid[0].reason == "tests: failed + skipped cannot exceed total"
    parsed = events.parse_objects([incident(1, resolved_at="2026-11-24T11:00:00Z")])
    assert parsed.invalid[0].reason == "resolved_at is before started_at"


def test_a_byte_order_mark_on_the_first_line_is_ignored() -> None:
    parsed = events.parse_lines([b"\xef\xbb\xbf" + json.dumps(build(1)).encode() + b"\n"])
    assert parsed.invalid == []
    assert [e.id for e in parsed.events] == ["b1"]


# --- pull requests --------------------------------------------------------------------------


def _team_id(sessions: sessionmaker[Session], name: str) -> int:
    with engine_mod.session_scope(sessions) as s:
        found = s.scalar(select(tables.Team.id).where(tables.Team.name == name))
    assert found is not None
    return found


def _synced(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    from maturity import config as config_mod
    from maturity import teams as teams_mod

    with engine_mod.session_scope(sessions) as s:
        teams_mod.sync(s, config_mod.load(write_config(tmp_path)))


def test_a_pull_request_joins_the_collected_repository_of_its_name(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _synced(sessions, tmp_path)
    search = _team_id(sessions, "search")
    with engine_mod.session_scope(sessions) as s:
        repo = tables.Repository(
            key="git:/srv/payments-api", kind="git", name="payments-api", location="/srv/x"
        )
        repo.team_id = search  # the repository's own team wins over the services globs
        s.add(repo)
    result = events.ingest(sessions, events.parse_objects([pull_request(1)]), scope="test")
    assert result.counts["pull_request"] == 1
    with engine_mod.session_scope(sessions) as s:
        pr = s.scalars(select(tables.PullRequest)).one()
        assert pr.repository_id == repo.id
        assert (pr.number, pr.state, pr.review_count, pr.approval_count) == (1, "merged", 2, 1)
        assert pr.author_hash is None
        assert s.scalar(select(func.count()).select_from(tables.Repository)) == 1


def test_a_pull_request_of_an_unknown_repository_belongs_to_the_glob_owner_and_updates_in_place(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _synced(sessions, tmp_path)
    opened = pull_request(7, repository="search-api", state="open", merged_at=None)
    events.ingest(sessions, events.parse_objects([opened]), scope="test")
    events.ingest(
        sessions, events.parse_objects([pull_request(7, repository="search-api")]), scope="test"
    )
    with engine_mod.session_scope(sessions) as s:
        pr = s.scalars(select(tables.PullRequest)).one()  # the same row, updated
        repo = s.get(tables.Repository, pr.repository_id)
        assert repo is not None
        assert (repo.kind, repo.name, repo.key) == ("events", "search-api", "events:search-api")
        assert repo.team_id == _team_id(sessions, "search")
        assert pr.state == "merged" and pr.merged_at is not None


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"merged_at": None}, "merged_at is set exactly when state is 'merged'"),
        ({"state": "open"}, "merged_at is set exactly when state is 'merged'"),
        ({"first_review_at": "2026-11-22T09:00:00Z"}, "first_review_at is before created_at"),
        ({"first_commit_at": "2026-11-23T12:00:00Z"}, "merged_at is before first_commit_at"),
        ({"number": 0}, "number: Input should be greater than or equal to 1"),
        ({"author": "someone"}, "author: Extra inputs are not permitted"),
    ],
)
def test_inconsistent_pull_requests_are_refused_with_a_reason(
    over: dict[str, Any], reason: str
) -> None:
    parsed = events.parse_objects([pull_request(1, **over)])
    assert [i.reason for i in parsed.invalid] == [reason]


def test_ingested_pull_requests_give_the_review_rate_and_lifetime(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    from maturity import config as config_mod
    from maturity import model as model_mod
    from maturity import pipeline

    _synced(sessions, tmp_path)
    week = dt.date(2026, 11, 29)
    merged = [
        pull_request(
            n,
            created_at=f"2026-11-{10 + n}T09:00:00Z",
            first_commit_at=f"2026-11-{10 + n}T08:00:00Z",
            first_review_at=f"2026-11-{10 + n}T10:00:00Z" if n <= 3 else None,
            merged_at=f"2026-11-{10 + n}T{8 + 3 * n:02d}:00:00Z",
            reviews=1 if n <= 3 else 0,
            approvals=0,
        )
        for n in (1, 2, 3, 4)
    ]
    assert events.ingest(sessions, events.parse_objects(merged), scope="test").written
    pipeline.score(
        sessions,
        config_mod.load(write_config(tmp_path)),
        model_mod.load(),
        week=week,
        backfill=0,
        today=week,
    )
    payments = _team_id(sessions, "payments")
    with engine_mod.session_scope(sessions) as s:
        values = dict(
            s.execute(
                select(tables.MetricValue.metric, tables.MetricValue.value).where(
                    tables.MetricValue.team_id == payments,
                    tables.MetricValue.period_end == week,
                    tables.MetricValue.metric.in_(["review_rate", "pr_lifetime_hours"]),
                )
            ).all()
        )
    assert values["review_rate"] == pytest.approx(3 / 4)
    # lifetimes from the first commit: 3n hours for n = 1..4, median 7.5
    assert values["pr_lifetime_hours"] == pytest.approx(7.5)


def test_moving_a_repository_to_another_team_moves_its_pull_requests(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    from maturity import teams as teams_mod

    _synced(sessions, tmp_path)
    events.ingest(
        sessions, events.parse_objects([pull_request(3, repository="search-api")]), scope="t"
    )
    payments = _team_id(sessions, "payments")
    with engine_mod.session_scope(sessions) as s:  # what a changed maturity.toml syncs to
        s.execute(tables.Ownership.__table__.delete().where(tables.Ownership.source == "events"))
        s.add(tables.Ownership(team_id=payments, source="events", pattern="search-api"))
    with engine_mod.session_scope(sessions) as s:
        teams_mod.reattribute(s)
    with engine_mod.session_scope(sessions) as s:
        repo = s.scalars(select(tables.Repository).where(tables.Repository.kind == "events")).one()
        assert repo.team_id == payments


def test_pull_requests_sent_before_the_repository_was_collected_move_to_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _synced(sessions, tmp_path)
    early = [pull_request(1), pull_request(2)]
    events.ingest(sessions, events.parse_objects(early), scope="t")
    with engine_mod.session_scope(sessions) as s:  # the git collector now reads it
        repo = tables.Repository(
            key="git:/srv/payments-api", kind="git", name="payments-api", location="/srv/x"
        )
        s.add(repo)
    later = [pull_request(2, title="resent"), pull_request(3)]
    events.ingest(sessions, events.parse_objects(later), scope="t")
    with engine_mod.session_scope(sessions) as s:
        rows = s.execute(
            select(
                tables.PullRequest.repository_id,
                tables.PullRequest.number,
                tables.PullRequest.title,
            )
        ).all()
        kinds = s.scalars(select(tables.Repository.kind)).all()
    assert sorted((n, t) for _, n, t in rows) == [
        (1, "Retry card captures"),
        (2, "resent"),
        (3, "Retry card captures"),
    ]
    assert {r for r, _, _ in rows} == {repo.id}
    assert kinds == ["git"]
