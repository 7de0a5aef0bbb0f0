"""One week, one value: a week scored alone, in a backfill, across a chunk boundary, from the web
action or on the schedule stores the same rows (scenarios computed by hand, SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity import model as model_mod
from maturity import pipeline, survey_batches, surveys
from maturity.config import Config
from maturity.context import AppContext
from maturity.store import scores, tables
from maturity.store.engine import session_scope
from tests import history as h
from tests.integration.test_actions import ADMIN, AS_ADMIN, wait_done
from tests.webstore import client
from web import jobs as web_jobs

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
MODEL = model_mod.load(None)
SUNDAY = dt.date(2026, 11, 22)
NEXT_SUNDAY = dt.date(2026, 11, 29)


def metric(sessions: sessionmaker[Session], name: str, week: dt.date) -> tuple[Any, int]:
    """(value, sample size) stored for the only team, ``name`` and the week ending ``week``."""
    with session_scope(sessions) as s:
        rows = scores.metric_series(s, metrics=[name], since=week, until=week)
    assert len(rows) == 1, rows
    value = rows["value"].iloc[0]
    return (None if value is None or value != value else float(value)), int(
        rows["sample_size"].iloc[0]
    )


def _payments(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        team = hist.team("payments")
        return team, hist.repository(team, "api")


# --- a Sunday deployment, a Monday incident ------------------------------------------------


def _sunday_deployment_monday_incident(sessions: sessionmaker[Session]) -> None:
    team, _repo = _payments(sessions)
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        hist.deployments(
            [
                h.deployment(
                    team,
                    h.at("2026-11-22", 22),  # Sunday 22:00 UTC: the week ending 2026-11-22
                    service="payments-api",
                    finished_at=h.at("2026-11-22", 22, 10),
                )
            ]
        )
        # Monday 09:00, 11 hours later (< the 72 attribution hours): the week ending 11-29
        hist.issues(
            [
                h.issue(
                    team,
                    h.at("2026-11-23", 9),
                    service="payments-api",
                    resolved_at=h.at("2026-11-23", 11),
                )
            ]
        )


@pytest.mark.parametrize(
    "how",
    ["alone", "backfill", "chunk boundary"],
)
def test_a_sunday_deployment_fails_by_a_monday_incident_however_its_week_is_scored(
    sessions: sessionmaker[Session], how: str
) -> None:
    _sunday_deployment_monday_incident(sessions)
    if how == "alone":
        pipeline.score(sessions, Config(), MODEL, week=SUNDAY, today=NEXT_SUNDAY)
    elif how == "backfill":
        pipeline.score(sessions, Config(), MODEL, week=NEXT_SUNDAY, backfill=1, today=NEXT_SUNDAY)
    else:  # the Sunday's week ends one chunk, the Monday's starts the next
        pipeline.score(
            sessions, Config(), MODEL, week=NEXT_SUNDAY, backfill=1, chunk_weeks=1,
            today=NEXT_SUNDAY,
        )  # fmt: skip
    # one production deployment in the window, and one incident attributed to it: 1 / 1
    assert metric(sessions, "change_failure_rate", SUNDAY) == (1.0, 1)
    assert metric(sessions, "deployment_frequency", SUNDAY)[1] == 1


def test_the_monday_incident_restores_in_the_week_it_was_resolved(
    sessions: sessionmaker[Session],
) -> None:
    _sunday_deployment_monday_incident(sessions)
    pipeline.score(sessions, Config(), MODEL, week=NEXT_SUNDAY, backfill=1, today=NEXT_SUNDAY)
    assert metric(sessions, "time_to_restore_hours", SUNDAY) == (None, 0)  # not resolved yet
    # created 09:00, resolved 11:00: 2 hours; the Sunday deployment is still in the 90-day window
    assert metric(sessions, "time_to_restore_hours", NEXT_SUNDAY) == (2.0, 1)
    assert metric(sessions, "change_failure_rate", NEXT_SUNDAY) == (1.0, 1)


# --- an incident that names an older deployment -----------------------------------------


def _incident_naming_a_deployment(
    sessions: sessionmaker[Session], deployed: str, created: str, resolved: str
) -> None:
    team, _repo = _payments(sessions)
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        hist.deployments(
            [h.deployment(team, h.at(deployed, 12), external_id="rel-7", service="payments-api")]
        )
        hist.issues(
            [
                h.issue(
                    team,
                    h.at(created, 10),
                    service="payments-api",
                    deployment_ref="rel-7",
                    resolved_at=h.at(resolved, 10),
                )
            ]
        )


@pytest.mark.parametrize("backfill", [0, 20, 40])
@pytest.mark.parametrize(
    ("deployed", "created", "resolved", "restore", "recovery"),
    [
        # named 76 days after its deployment, resolved 64 days later: 1,536 hours
        ("2026-07-01", "2026-09-15", "2026-11-18", 1536.0, (1536.0, 1)),
        # named 120 days after its deployment (more than 90): in no week, however far a run reads
        ("2026-05-18", "2026-09-15", "2026-11-18", 1536.0, (None, 0)),
        # resolved as the window opens (08-26), 90 days after its creation, 88 days after its
        # deployment: its deployment lies 178 days before the window, read by every run
        ("2026-03-01", "2026-05-28", "2026-08-26", 2160.0, (2160.0, 1)),
    ],
)
def test_an_incident_naming_an_older_deployment_recovers_the_same_however_its_week_is_scored(
    sessions: sessionmaker[Session],
    backfill: int,
    deployed: str,
    created: str,
    resolved: str,
    restore: float,
    recovery: tuple[Any, int],
) -> None:
    # the week ending 11-22 alone has its 90-day window open on 08-25; a 20 or 40-week backfill
    # reads deployments from months earlier, so a run-dependent read would find rel-7 only then
    _incident_naming_a_deployment(sessions, deployed, created, resolved)
    pipeline.score(sessions, Config(), MODEL, week=SUNDAY, backfill=backfill, today=SUNDAY)
    assert metric(sessions, "failed_deployment_recovery_hours", SUNDAY) == recovery
    # the time to restore counts every incident resolved in the window, caused or not
    assert metric(sessions, "time_to_restore_hours", SUNDAY) == (restore, 1)


@pytest.mark.parametrize("backfill", [0, 40])
def test_an_incident_naming_a_version_deployed_twice_recovers_from_the_latest(
    sessions: sessionmaker[Session], backfill: int
) -> None:
    team, _repo = _payments(sessions)
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        # v1 went out 120 days before the incident (too old) and again 76 days before it
        hist.deployments(
            [
                h.deployment(team, h.at(day, 12), version="v1", service="payments-api")
                for day in ("2026-05-18", "2026-07-01")
            ]
        )
        hist.issues(
            [
                h.issue(
                    team,
                    h.at("2026-09-15", 10),
                    service="payments-api",
                    deployment_ref="v1",
                    resolved_at=h.at("2026-11-18", 10),
                )
            ]
        )
    pipeline.score(sessions, Config(), MODEL, week=SUNDAY, backfill=backfill, today=SUNDAY)
    # the latest v1 before the incident is its cause, 76 days before it: it counts, 1,536 hours
    assert metric(sessions, "failed_deployment_recovery_hours", SUNDAY) == (1536.0, 1)


# --- a lead time whose commit predates the window ---------------------------------------


def _old_commit_and_a_fresh_one(sessions: sessionmaker[Session]) -> None:
    team, repo = _payments(sessions)
    fresh = h.sha("fresh")
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        hist.commits(
            repo,
            [
                # 2026-05-01: 201 days before the deployment, more than the 90-day look-back
                h.commit(team, h.at("2026-05-01", 10), sha=h.sha("old")),
                h.commit(team, h.at("2026-11-18", 10), sha=fresh),
            ],
        )
        hist.deployments(
            [
                h.deployment(
                    team,
                    h.at("2026-11-18", 14),
                    repository_id=repo,
                    commit_sha=fresh,
                    service="payments-api",
                )
            ]
        )


@pytest.mark.parametrize("backfill", [0, 9])
def test_a_lead_time_of_four_hours_alone_is_four_hours_in_a_ten_week_backfill(
    sessions: sessionmaker[Session], backfill: int
) -> None:
    _old_commit_and_a_fresh_one(sessions)
    pipeline.score(sessions, Config(), MODEL, week=SUNDAY, backfill=backfill, today=SUNDAY)
    # committed 10:00, deployed (started = finished) 14:00: 4.0 hours, one change; the May
    # commit waited 201 days (> 90) and counts in no week
    assert metric(sessions, "lead_time_hours", SUNDAY) == (4.0, 1)


def _a_change_that_waited_past_the_look_back(sessions: sessionmaker[Session]) -> None:
    team, repo = _payments(sessions)
    waited, fresh = h.sha("waited"), h.sha("fresh")
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        hist.commits(
            repo,
            [
                # 2026-05-01: 201 days before the deployment of its child, more than 90
                h.commit(team, h.at("2026-05-01", 10), sha=waited),
                h.commit(team, h.at("2026-11-18", 10), sha=fresh, parents=waited),
            ],
        )
        hist.deployments(
            [
                h.deployment(
                    team,
                    h.at("2026-11-18", 14),
                    repository_id=repo,
                    commit_sha=fresh,
                    service="payments-api",
                )
            ]
        )


@pytest.mark.parametrize("backfill", [0, 9, 20])
def test_a_change_shipped_after_the_look_back_counts_in_no_backfill(
    sessions: sessionmaker[Session], backfill: int
) -> None:
    # the week alone (its 90-day window opens 08-24) reads commits from 05-26, 90 days before
    # that; ten or twenty-one weeks read the May commit too, and its child's deployment holds it
    _a_change_that_waited_past_the_look_back(sessions)
    pipeline.score(sessions, Config(), MODEL, week=SUNDAY, backfill=backfill, today=SUNDAY)
    # only the fresh change: committed 10:00, deployed 14:00, 4.0 hours; the May change
    # shipped 201 days (> 90) after its commit and counts in no week, however it is scored
    assert metric(sessions, "lead_time_hours", SUNDAY) == (4.0, 1)


# --- survey answers, whoever scores ---------------------------------------------------------

CRITERION = "sc.branching_defined"


def _answered_round(context: AppContext, today: dt.date) -> None:
    questions = surveys.questions_for_model(MODEL)
    with session_scope(context.sessions) as s:
        team_id = s.query(tables.Team.id).filter(tables.Team.name == "payments").scalar()
        made = surveys.open_round(
            s, team_id=team_id, questions=questions, links=5, model_version="t", today=today
        )
    sheets = [(t, {q.id: 5 for q in questions}, None) for t in made.tokens]
    survey_batches.write_answers(context.sessions, made.public_id, sheets, today=today)


def _survey_part(context: AppContext) -> dict[str, Any]:
    with session_scope(context.sessions) as s:
        snaps = scores.latest_snapshots(s)
    mine = snaps[(snaps["team"] == "payments") & (snaps["dimension"] == "source_control")]
    assert len(mine) == 1
    [criterion] = [c for c in mine["evidence"].iloc[0]["criteria"] if c["id"] == CRITERION]
    part: dict[str, Any] = criterion["survey"]
    return part


#: five people answered 5 to every question: the mean 5.0 reaches the criterion's min_mean
MET = {"verdict": "met", "mean": 5.0, "responses": 5}


def test_survey_criteria_stay_met_when_the_web_action_scores(context: AppContext) -> None:
    today = dt.datetime.now(dt.UTC).date()
    _answered_round(context, today)
    pipeline.score(context.sessions, context.config, MODEL, today=today)
    assert {k: _survey_part(context)[k] for k in MET} == MET
    c = client(context, admin_token=ADMIN)
    started = c.post("/api/v1/actions/score", headers=AS_ADMIN)
    assert started.status_code == 202
    assert wait_done(c, started.json()["id"])["status"] == "success"
    assert {k: _survey_part(context)[k] for k in MET} == MET


def test_survey_criteria_stay_met_when_the_schedule_scores(context: AppContext) -> None:
    today = dt.datetime.now(dt.UTC).date()
    _answered_round(context, today)
    jobs, stop = web_jobs.Jobs(), threading.Event()
    thread = web_jobs.every(jobs, context, dt.timedelta(hours=1), stop)
    deadline = time.monotonic() + 60
    job = None
    while time.monotonic() < deadline:
        job = jobs.latest()
        if job is not None and job.status in ("success", "failed"):
            break
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert job is not None and job.kind == "collect+score" and job.status == "success", job
    assert {k: _survey_part(context)[k] for k in MET} == MET


# --- an issue created in one week and changed two weeks later ------------------------------


@pytest.mark.parametrize("backfill", [0, 2])
def test_an_issue_counts_for_freshness_from_its_creation_whatever_the_later_change(
    sessions: sessionmaker[Session], backfill: int
) -> None:
    team, _repo = _payments(sessions)
    with session_scope(sessions) as s:
        h.StoreHistory(s).issues(
            [
                h.issue(
                    team,
                    h.at("2026-11-04", 12),
                    updated_at=h.at("2026-11-18", 12),
                    is_incident=False,
                )
            ]
        )
    first = dt.date(2026, 11, 8)
    pipeline.score(
        sessions,
        Config(),
        MODEL,
        week=first + dt.timedelta(weeks=backfill),
        backfill=backfill,
        today=SUNDAY,
    )
    # created Wednesday 11-04: 4 days before the week's end on Sunday 11-08
    assert metric(sessions, "freshness_tracker_days", first) == (4.0, 1)
    if backfill:
        # 11-15 - 11-04 = 11 days (the change is later); 11-22 - 11-18 = 4 days
        assert metric(sessions, "freshness_tracker_days", dt.date(2026, 11, 15)) == (11.0, 1)
        assert metric(sessions, "freshness_tracker_days", SUNDAY) == (4.0, 1)


# --- a Sunday commit built two days, or ten days, later --------------------------------------


@pytest.mark.parametrize("backfill", [0, 2])
@pytest.mark.parametrize(
    ("build_day", "covered"),
    [
        ("2026-11-24", 1.0),  # Tuesday 10:00, 46 hours later (within 7 days): 1 built / 1
        ("2026-12-02", 0.0),  # 10 days later, past the 7 days: 0 built / 1
    ],
)
def test_a_commit_is_covered_by_a_build_within_seven_days_however_its_week_is_scored(
    sessions: sessionmaker[Session], backfill: int, build_day: str, covered: float
) -> None:
    team, repo = _payments(sessions)
    built = h.sha("built later")
    with session_scope(sessions) as s:
        hist = h.StoreHistory(s)
        hist.commits(repo, [h.commit(team, h.at("2026-11-22", 12), sha=built)])
        hist.builds([h.build(team, h.at(build_day, 10), commit_sha=built)])
    pipeline.score(
        sessions,
        Config(),
        MODEL,
        week=SUNDAY + dt.timedelta(weeks=backfill),
        backfill=backfill,
        today=SUNDAY + dt.timedelta(weeks=backfill),
    )
    assert metric(sessions, "ci_coverage", SUNDAY) == (covered, 1)
