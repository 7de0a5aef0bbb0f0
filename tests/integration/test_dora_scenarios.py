"""DORA keys of small histories, computed by hand from docs/scoring.md.

Every scenario is a real git repository (merges, squashes, rebases made by git), collected by
the git collector, with deployments, incidents and pull requests sent as events through
``events.ingest``, scored by ``pipeline.score`` into a real store. The expected
values are literals; the comment beside each says how it was computed. The window is one week
(``window_days = 7``), so a value belongs to exactly one week: Monday 2026-11-02 to Sunday
2026-11-08 (UTC unless a test says otherwise).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors.git as git_collector
from collectors import events
from collectors.base import CollectContext
from maturity import config, model, pipeline, teams
from maturity.store import tables
from maturity.store.engine import session_scope
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration

UTC = dt.UTC
WEEK = dt.date(2026, 11, 8)  # Sunday: the week Monday 2026-11-02 .. Sunday 2026-11-08


def t(day: int, hour: int, minute: int = 0, tz: dt.tzinfo = UTC) -> dt.datetime:
    """A time in November 2026."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=tz)


class Scenario:
    """One team (``payments``), one repository (``api``), events, and the scores of a week."""

    def __init__(
        self,
        tmp_path: Path,
        sessions: sessionmaker[Session],
        *,
        tz: str = "UTC",
        services: tuple[str, ...] = ("api", "web"),
        rules: dict[str, Any] | None = None,
    ) -> None:
        self.sessions = sessions
        self.repo = GitRepo(tmp_path / "api")
        self.events: list[dict[str, Any]] = []
        self.n = 0
        self.cfg = config.Config.model_validate(
            {
                "settings": {
                    "window_days": 7,
                    "timezone": tz,
                    "cache_dir": str(tmp_path / "cache"),
                },
                "rules": rules or {},
                "teams": [
                    {
                        "name": "payments",
                        "repositories": [str(self.repo.path)],
                        "services": list(services),
                    }
                ],
            }
        )

    # --- git -------------------------------------------------------------------------

    def commit(self, when: dt.datetime, *, authored: dt.datetime | None = None) -> str:
        """A commit (one new file) committed at ``when``, authored at ``authored`` or then."""
        self.n += 1
        (self.repo.path / f"f{self.n}.txt").write_text(f"{self.n}\n", encoding="utf-8")
        self.repo.git("add", "-A")
        env = self.repo.env(when)
        env["GIT_AUTHOR_DATE"] = (authored or when).strftime("%Y-%m-%dT%H:%M:%S%z")
        self.repo.git("commit", "-q", "--no-verify", "-m", f"change {self.n}", env=env)
        return self.repo.head()

    def merge(self, branch: str, when: dt.datetime) -> str:
        """A merge commit (``--no-ff``) of ``branch`` into the current branch."""
        self.repo.git(
            "merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch, env=self.repo.env(when)
        )
        return self.repo.head()

    # --- events ----------------------------------------------------------------------

    def deploy(
        self,
        at: dt.datetime,
        sha: str | None = None,
        *,
        service: str = "api",
        environment: str = "production",
        status: str = "success",
        minutes: int = 0,
        **extra: Any,
    ) -> str:
        """A deployment event; returns its id."""
        ident = extra.pop("id", None) or f"dep-{len(self.events) + 1}"
        event: dict[str, Any] = {
            "kind": "deployment",
            "id": ident,
            "service": service,
            "environment": environment,
            "status": status,
            "started_at": at.isoformat(),
            "finished_at": (at + dt.timedelta(minutes=minutes)).isoformat(),
            **extra,
        }
        if sha is not None:
            event["commit_sha"] = sha
        self.events.append(event)
        return ident

    def incident(
        self,
        started: dt.datetime,
        resolved: dt.datetime | None = None,
        *,
        service: str = "api",
        deployment: str | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "kind": "incident",
            "id": f"inc-{len(self.events) + 1}",
            "service": service,
            "title": "checkout fails",
            "started_at": started.isoformat(),
        }
        if resolved is not None:
            event["resolved_at"] = resolved.isoformat()
        if deployment is not None:
            event["deployment"] = deployment
        self.events.append(event)

    def pull_request(self, **fields: Any) -> None:
        self.events.append(
            {
                "kind": "pull_request",
                "id": f"pr-{len(self.events) + 1}",
                "repository": "api",
                "state": "merged",
                **{
                    k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in fields.items()
                },
            }
        )

    # --- collect, ingest, score --------------------------------------------------------

    def collect(self) -> events.IngestResult:
        with session_scope(self.sessions) as session:
            teams.sync(session, self.cfg)
        results = git_collector.collect(CollectContext(self.cfg, self.sessions))
        assert all(r.status == "success" for r in results), results
        result = events.ingest(self.sessions, events.parse_objects(self.events), scope="test")
        with session_scope(self.sessions) as session:
            teams.reattribute(session)
        return result

    def score(
        self, week: dt.date = WEEK, *, backfill: int | None = None, path: Path | None = None
    ) -> None:
        result = self.collect()
        assert result.written, result.invalid
        pipeline.score(
            self.sessions, self.cfg, model.load(path), week=week, backfill=backfill, today=week
        )

    def evidence(self, criterion: str, week: dt.date = WEEK) -> dict[str, Any]:
        with session_scope(self.sessions) as session:
            for ev in session.scalars(
                select(tables.Snapshot.evidence).where(tables.Snapshot.period_end == week)
            ):
                for item in ev["criteria"]:
                    if item["id"] == criterion:
                        return dict(item)
        raise AssertionError(f"no criterion {criterion}")

    def values(self, week: dt.date = WEEK, team: str = "payments") -> dict[str, float | None]:
        return {k: v for k, (v, _) in self.rows(week, team).items()}

    def rows(
        self, week: dt.date = WEEK, team: str = "payments"
    ) -> dict[str, tuple[float | None, int]]:
        M, T = tables.MetricValue, tables.Team
        with session_scope(self.sessions) as session:
            found = session.execute(
                select(M.metric, M.value, M.sample_size)
                .join(T, T.id == M.team_id)
                .where(T.name == team, M.period_end == week)
            ).all()
        return {m: (v, n) for m, v, n in found}


@pytest.fixture
def sqlite_sessions(sqlite_url: str) -> sessionmaker[Session]:
    from maturity.store import engine as engine_mod

    return engine_mod.make_sessionmaker(engine_mod.make_engine(sqlite_url))


# --- lead time by content ---------------------------------------------------------------------


def test_feature_commits_ship_with_the_first_deployment_after_their_merge(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    s.commit(t(2, 8))  # c0 on main, Monday 08:00
    s.repo.checkout("feature", new=True)
    s.commit(t(2, 10))  # f1
    s.commit(t(2, 12))  # f2
    s.deploy(t(2, 13))  # names no commit: ships what main held at 13:00, i.e. c0 (by time)
    s.repo.checkout("main")
    merge = s.merge("feature", t(3, 10))  # Tuesday 10:00
    s.deploy(t(3, 12), merge)  # contains f1 and f2
    # a model whose deployment criterion asks for a lead time of a day at most
    default = Path(model.__file__).parent / "models" / "default.toml"
    text = default.read_text(encoding="utf-8")
    assert text.count('check = "deployment_frequency >= 1"') == 1
    custom = tmp_path / "model.toml"
    custom.write_text(
        text.replace('check = "deployment_frequency >= 1"', 'check = "lead_time_hours <= 24"'),
        encoding="utf-8",
    )
    s.score(path=custom)
    rows = s.rows()
    # c0: 08:00 -> 13:00 = 5 h (by time); f1: Mon 10:00 -> Tue 12:00 = 26 h; f2: 24 h.
    # The merge commit is not a change. Median of 5, 24, 26 = 24 over 3 changes.
    assert rows["lead_time_hours"] == (24.0, 3)
    assert rows["lead_time_matched_by_time"] == (1.0, 1)  # c0 only
    metric = s.evidence("dep.frequent_deploys")["metric"]
    assert (metric["name"], metric["value"], metric["sample_size"]) == ("lead_time_hours", 24.0, 3)
    assert metric["matched_by_time"] == 1  # said in the evidence: one of the 3 by time
    assert metric["verdict"] == "met"  # 24 <= 24


def test_a_squash_merge_sent_with_an_abbreviated_sha_starts_at_its_first_commit(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0)  # c0: 1 h
    s.repo.checkout("feature", new=True)
    s.commit(t(2, 10))
    s.commit(t(2, 14))
    s.repo.checkout("main")
    s.repo.git("merge", "-q", "--squash", "feature")
    squash = s.commit(t(3, 9))  # the squash commit: authored and committed Tuesday 09:00
    s.repo.git("branch", "-D", "feature")
    s.pull_request(
        number=1,
        created_at=t(2, 10, 30),
        first_commit_at=t(2, 10),
        merged_at=t(3, 9),
        merge_commit_sha=squash[:12],
    )
    s.deploy(t(3, 10), squash[:12])
    s.score()
    with session_scope(sessions) as session:
        stored = session.scalars(select(tables.PullRequest.merge_commit_sha)).all()
        deployed = session.scalars(
            select(tables.Deployment.commit_sha).where(tables.Deployment.commit_sha.is_not(None))
        ).all()
    assert stored == [squash]
    assert sorted(deployed) == sorted([c0, squash])
    # c0: 1 h; the squash commit starts at the pull request's first commit, Monday 10:00, and
    # ships Tuesday 10:00: 24 h. Median of 1 and 24 = 12.5.
    assert s.rows()["lead_time_hours"] == (12.5, 2)


def test_every_commit_of_a_rebase_merge_starts_at_the_pull_requests_first_commit(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0)  # c0: 1 h
    s.repo.checkout("feature", new=True)
    s.commit(t(2, 10))  # r1, authored Monday 10:00
    s.commit(t(2, 14))  # r2, authored Monday 14:00
    s.commit(t(2, 20))  # r3, authored Monday 20:00
    s.repo.checkout("main")
    s.commit(t(3, 8))  # c1 on main, Tuesday 08:00
    s.repo.checkout("feature")
    # the rebase rewrites r1, r2, r3 at Tuesday 09:00 (committer time), author times kept
    s.repo.git("rebase", "-q", "main", env=s.repo.env(t(3, 9)))
    tip = s.repo.head()
    s.repo.checkout("main")
    s.repo.git("merge", "-q", "--ff-only", "feature")
    s.repo.git("branch", "-D", "feature")
    s.pull_request(
        number=2,
        created_at=t(2, 11),
        first_commit_at=t(2, 10),
        merged_at=t(3, 9),
        merge_commit_sha=tip,
    )
    s.deploy(t(3, 10), tip)
    s.score()
    # c0 1 h; c1 Tue 08:00 -> Tue 10:00 = 2 h; r1, r2 and r3 all start at Monday 10:00 (the
    # pull request's first commit) and ship Tuesday 10:00: 24 h each (by their own author
    # times r2 would be 20 h and r3 14 h). Median of 1, 2, 24, 24, 24 = 24.
    assert s.rows()["lead_time_hours"] == (24.0, 5)


def test_staging_failed_and_cancelled_deployments_ship_nothing(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0, environment="staging")
    s.deploy(t(2, 10), c0, status="failure")
    s.deploy(t(2, 11), c0, status="cancelled")
    s.deploy(t(3, 8), c0)
    s.score()
    rows = s.rows()
    assert rows["lead_time_hours"] == (24.0, 1)  # Monday 08:00 -> the success Tuesday 08:00
    assert rows["deployment_frequency"] == (1.0, 1)  # 1 successful production / 1 week
    assert rows["production_deployments"] == (3.0, 3)  # failed, cancelled, succeeded
    # started in the window and finished: the failure and the success (cancelled is neither);
    # 1 failed of 2 = 0.5
    assert rows["change_failure_rate"] == (0.5, 2)


def test_a_deployment_counts_as_a_change_in_the_week_it_started(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(8, 20))
    s.deploy(t(8, 23), c0, status="failure", minutes=120)  # Sunday 23:00 -> Monday 01:00
    nxt = WEEK + dt.timedelta(weeks=1)
    s.score(nxt, backfill=1)
    assert s.rows(WEEK)["change_failure_rate"] == (1.0, 1)  # started on Sunday: 1 failed of 1
    assert s.rows(nxt)["change_failure_rate"] == (None, 0)  # not again when it finished


def test_a_rollback_ships_nothing_and_marks_the_change_before_it(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    s.commit(t(2, 8))  # c0
    c1 = s.commit(t(2, 9))
    s.deploy(t(2, 10), c1)  # ships c0 (2 h) and c1 (1 h)
    c2 = s.commit(t(2, 11))
    s.deploy(t(2, 12), None, rollback=True, version="v1")  # names no commit
    s.deploy(t(3, 11), c2)  # c2: Mon 11:00 -> Tue 11:00 = 24 h
    s.score()
    rows = s.rows()
    # 2, 1, 24: median 2 (by time, the rollback would have shipped c2 in 1 h: median 1)
    assert rows["lead_time_hours"] == (2.0, 3)
    assert rows["lead_time_matched_by_time"] == (0.0, 0)
    # changes: the two forward deployments; the first is followed by a rollback: 1 / 2
    assert rows["change_failure_rate"] == (0.5, 2)
    # rework: the rollback among 3 finished production deployments: 1 / 3
    assert rows["rework_rate"][0] == pytest.approx(1 / 3)
    assert rows["rework_rate"][1] == 3
    assert rows["deployment_frequency"] == (3.0, 3)


def test_a_batch_ships_with_the_deployment_of_its_last_commit(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    s.commit(t(7, 12))  # Saturday
    s.commit(t(7, 13))
    b3 = s.commit(t(7, 14))
    s.deploy(t(7, 15), b3, minutes=60)  # ends 16:00
    s.score()
    # 16:00 - 12:00 = 4 h, 3 h, 2 h: median 3
    assert s.rows()["lead_time_hours"] == (3.0, 3)


# --- incidents: failures, recovery, rework, open incidents ------------------------------------


def test_hotfixes_incidents_recovery_rework_and_open_incidents(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    d0 = s.deploy(t(2, 9), c0)
    s.incident(t(2, 10), t(2, 14))  # I1 (api): attributed to d0, resolved in 4 h
    h1 = s.commit(t(2, 11))
    s.deploy(t(2, 12), h1, hotfix=True)  # d1: a hotfix, made while I1 was open
    s.incident(t(3, 7), t(5, 7), service="web")  # I2 (web, no web deployment): 48 h
    c2 = s.commit(t(3, 8))
    s.deploy(t(3, 9), c2)  # d2: during I2, but of another service: planned
    s.incident(t(4, 9))  # I3 (api): never resolved; the latest api deployment before it is d2
    c3 = s.commit(t(4, 8))
    d3 = s.deploy(t(4, 10), c3)  # d3: while I3 is open
    s.incident(t(6, 12), t(10, 12), deployment=d3)  # I4: names d3; resolved after the week
    s.score()
    rows = s.rows()
    assert d0 == "dep-1"
    # changes: d0, d1, d2, d3 (4). Failed: d0 (I1, and the hotfix after it), d2 (I3), d3 (I4):
    # 3 / 4 = 0.75
    assert rows["change_failure_rate"] == (0.75, 4)
    # rework: d1 (hotfix, and during I1) and d3 (during I3) of 4 = 0.5
    assert rows["rework_rate"] == (0.5, 4)
    # time to restore, every incident resolved in the week: I1 4 h, I2 48 h: median 26
    assert rows["time_to_restore_hours"] == (26.0, 2)
    # failed deployment recovery: only incidents caused by a deployment: I1, 4 h
    assert rows["failed_deployment_recovery_hours"] == (4.0, 1)
    # open at the week's end (Monday 2026-11-09 00:00): I3 since Wednesday 09:00 = 4 days 15 h
    # = 111 h, and I4 (resolved only on the 10th); the oldest is shown
    assert rows["open_incident_age_hours"] == (111.0, 2)


def test_an_incident_reference_matches_within_the_incidents_service(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0, service="api", id="42")
    s.deploy(t(2, 10), c0, service="web", id="42")  # ids are unique per service only
    s.incident(t(2, 11), service="web", deployment="42")
    s.deploy(t(3, 9), c0, service="api", version="1.2")
    s.deploy(t(3, 10), c0, service="web", version="1.2")
    s.incident(t(3, 11), service="api", deployment="1.2")
    s.score()
    # 4 changes; failed: web's 42 and api's 1.2 only: 2 / 4 = 0.5
    assert s.rows()["change_failure_rate"] == (0.5, 4)


# --- abbreviated shas ---------------------------------------------------------------------


def test_an_unknown_abbreviated_sha_is_refused_with_its_reason(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0[:7])  # fine: resolves
    s.deploy(t(2, 10), "0000000deadbeef")
    result = s.collect()
    assert not result.written
    assert [(i.position, i.reason) for i in result.invalid] == [
        (
            1,
            "commit_sha: unknown abbreviated sha 0000000deadbeef: no collected commit of the "
            "team's repositories starts with it (collect them first, or send the full sha)",
        )
    ]
    with session_scope(sessions) as session:
        assert session.scalars(select(tables.Deployment.id)).all() == []


def test_an_ambiguous_abbreviated_sha_is_refused(sqlite_sessions: sessionmaker[Session]) -> None:
    with session_scope(sqlite_sessions) as session:
        team = tables.Team(name="payments", slug="payments")
        session.add(team)
        session.flush()
        session.add(tables.Ownership(team_id=team.id, source="events", pattern="api"))
        repo = tables.Repository(
            key="git:/api", kind="git", name="api", location="/api", team_id=team.id
        )
        session.add(repo)
        session.flush()
        for sha in ("abcdef1" + "0" * 33, "abcdef1" + "1" * 33):
            session.add(
                tables.Commit(
                    repository_id=repo.id,
                    sha=sha,
                    author_hash="a",
                    authored_at=t(2, 8),
                    author_tz_offset=0,
                    committed_at=t(2, 8),
                    committer_tz_offset=0,
                    is_merge=False,
                )
            )
    parsed = events.parse_objects(
        [
            {
                "kind": "deployment",
                "id": "d",
                "service": "api",
                "environment": "prod",
                "status": "success",
                "started_at": t(2, 9).isoformat(),
                "commit_sha": "ABCDEF1",
            },
            {
                "kind": "deployment",
                "id": "e",
                "service": "api",
                "environment": "prod",
                "status": "success",
                "started_at": t(2, 9).isoformat(),
                "commit_sha": "abcdef10",
            },
        ]
    )
    result = events.ingest(sqlite_sessions, parsed, scope="test", skip_invalid=True)
    assert [(i.position, i.reason) for i in result.invalid] == [
        (
            0,
            "commit_sha: ambiguous abbreviated sha abcdef1: several commits of the team's "
            "repositories start with it (send more digits or the full sha)",
        )
    ]
    with session_scope(sqlite_sessions) as session:
        stored = session.scalars(select(tables.Deployment.commit_sha)).all()
    assert stored == ["abcdef1" + "0" * 33]  # eight digits name one commit: stored in full


# --- quiet weeks, unknown teams, time zones -------------------------------------------------


def test_a_quiet_week_is_zero_and_a_team_without_records_unknown(
    tmp_path: Path, sqlite_sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sqlite_sessions)
    s.cfg = config.Config.model_validate(
        {
            **s.cfg.model_dump(exclude={"base_dir"}),
            "teams": [*s.cfg.model_dump()["teams"], {"name": "search", "services": ["search"]}],
        }
    )
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0)
    s.incident(t(2, 10), t(2, 12))
    later = WEEK + dt.timedelta(weeks=1)
    s.score(later, backfill=1)
    quiet = s.rows(later)
    assert quiet["deployment_frequency"] == (0.0, 0)  # a deployment a week ago, none since
    assert quiet["lead_time_hours"] == (None, 0)  # a median of nothing is unknown
    assert quiet["open_incident_age_hours"] == (0.0, 0)  # the tracker is known, none open
    assert s.rows(WEEK)["deployment_frequency"] == (1.0, 1)
    nothing = s.values(later, team="search")
    assert nothing["deployment_frequency"] is None
    assert nothing["open_incident_age_hours"] is None
    assert nothing["lead_time_hours"] is None


def test_a_sunday_evening_deployment_belongs_to_the_week_of_the_configured_zone(
    tmp_path: Path, sqlite_sessions: sessionmaker[Session]
) -> None:
    ny = dt.timezone(dt.timedelta(hours=-5))  # New York in November (EST)
    s = Scenario(tmp_path, sqlite_sessions, tz="America/New_York")
    c0 = s.commit(t(8, 20, tz=ny))  # Sunday 20:00 in New York = Monday 01:00 UTC
    s.deploy(t(8, 23, 30, tz=ny), c0)  # Sunday 23:30 in New York = Monday 04:30 UTC
    s.score()
    rows = s.rows()
    assert rows["deployment_frequency"] == (1.0, 1)
    assert rows["lead_time_hours"] == (3.5, 1)  # 20:00 -> 23:30


def test_with_utc_weeks_the_same_deployment_is_next_weeks(
    tmp_path: Path, sqlite_sessions: sessionmaker[Session]
) -> None:
    ny = dt.timezone(dt.timedelta(hours=-5))
    s = Scenario(tmp_path, sqlite_sessions)
    c0 = s.commit(t(8, 20, tz=ny))
    s.deploy(t(8, 23, 30, tz=ny), c0)
    nxt = WEEK + dt.timedelta(weeks=1)
    s.score(nxt, backfill=1)
    # in UTC the deployment is on Monday the 9th: the week ending the 8th has no record yet
    assert s.rows(WEEK)["deployment_frequency"] == (None, 0)
    assert s.rows(nxt)["deployment_frequency"] == (1.0, 1)
    assert s.rows(nxt)["lead_time_hours"] == (3.5, 1)


# --- services and repositories -------------------------------------------------------------


def test_a_deployment_ships_only_from_the_repository_of_its_service(
    tmp_path: Path, sqlite_sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sqlite_sessions, rules={"service_repositories": {"web": ["web-ui"]}})
    other = GitRepo(tmp_path / "web-ui")
    s.cfg = config.Config.model_validate(
        {
            **s.cfg.model_dump(exclude={"base_dir"}),
            "teams": [
                {
                    "name": "payments",
                    "repositories": [str(s.repo.path), str(other.path)],
                    "services": ["api", "web"],
                }
            ],
        }
    )
    c0 = s.commit(t(2, 8))  # api
    env = other.env(t(2, 9))
    (other.path / "index.html").write_text("<p>\n", encoding="utf-8")
    other.git("add", "-A")
    other.git("commit", "-q", "-m", "page", env=env)  # web-ui, Monday 09:00
    s.deploy(t(2, 10), None, service="web")  # names no commit: web-ui's main at 10:00
    s.deploy(t(3, 8), c0, service="api", repository="api")
    s.score()
    rows = s.rows()
    # web-ui's commit: 09:00 -> 10:00 = 1 h (by time); api's c0 only with the api deployment:
    # Monday 08:00 -> Tuesday 08:00 = 24 h (the web deployment at 10:00 is not its service's).
    # Median of 1 and 24 = 12.5
    assert rows["lead_time_hours"] == (12.5, 2)
    assert rows["lead_time_matched_by_time"] == (1.0, 1)


# --- DORA 2024 deployment-frequency tiers, at their edges ----------------------------------


@pytest.mark.parametrize(
    ("deployments", "tier"),
    [
        # 90 deployments in a 90-day window: 90 / (90 / 7) = 7 a week = daily: "daily to weekly"
        (90, "high"),
        # 91: 91 / (90 / 7) = 7.08 a week: more than daily, i.e. on demand (several a day)
        (91, "elite"),
        # 13: 13 / (90 / 7) = 1.011 a week: "daily to weekly"
        (13, "high"),
        # 12: 12 / (90 / 7) = 0.933 a week, below weekly; >= 12 / 52 = 0.2308: "weekly to monthly"
        (12, "medium"),
        # 3: 3 / (90 / 7) = 0.2333 a week >= 0.2308 (once a month): "weekly to monthly"
        (3, "medium"),
        # 2: 2 / (90 / 7) = 0.1556 a week: below monthly, "monthly to every six months"
        (2, "low"),
    ],
)
def test_deployment_frequency_tiers_at_their_edges(
    deployments: int, tier: str, tmp_path: Path
) -> None:
    from maturity import metrics
    from tests import history as h

    start = dt.datetime(2026, 8, 11, 6, tzinfo=UTC)  # the window's first day (90 days to WEEK)
    f = h.frames(
        deployments=[
            h.deployment(when=start + dt.timedelta(hours=23 * i)) for i in range(deployments)
        ]
    )
    out = metrics.compute(f, [WEEK])
    value = float(out[out["metric"] == "deployment_frequency"]["value"].iloc[0])
    assert value == pytest.approx(deployments * 7 / 90)
    assert metrics.tier("deployment_frequency", value) == tier


def test_an_incident_opened_long_before_the_window_still_shows_its_age(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0)
    # opened 2026-06-01 00:00, never resolved: far before what the week's window reads
    s.incident(dt.datetime(2026, 6, 1, tzinfo=UTC))
    s.score()
    # June 1 -> November 9 (the week's end) = 30 + 31 + 31 + 30 + 31 + 8 = 161 days = 3864 h
    assert s.rows()["open_incident_age_hours"] == (3864.0, 1)


def test_a_deployment_naming_a_repository_ships_from_it_and_an_unknown_one_is_refused(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    s = Scenario(tmp_path, sessions)
    c0 = s.commit(t(2, 8))
    s.deploy(t(2, 9), c0, repository="api")
    s.deploy(t(2, 10), None, repository="nope")
    result = s.collect()
    assert [(i.position, i.reason) for i in result.invalid] == [
        (1, "repository: no repository of that name is known (configure and collect it)")
    ]
    s.events.pop()
    s.score()
    R, D = tables.Repository, tables.Deployment
    with session_scope(sessions) as session:
        named = session.execute(select(R.name).join(D, D.repository_id == R.id)).scalars().all()
    assert named == ["api"]
    assert s.rows()["lead_time_hours"] == (1.0, 1)
