"""Administrative actions over the API (collect, score, model check) and scheduled collection."""

from __future__ import annotations

import datetime as dt
import threading
import time
import warnings
from typing import Any

import pytest
from sqlalchemy import func, select

from maturity import actions
from maturity.context import AppContext
from maturity.model import DEFAULT_PATH
from maturity.store import tables
from tests.webstore import client
from web import jobs as web_jobs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


def wait_done(c: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = c.get(f"/api/v1/actions/{job_id}", headers=AS_ADMIN).json()
        if body["status"] in ("success", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("the action did not finish")


def snapshot_count(context: AppContext) -> int:
    with context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(tables.Snapshot)) or 0)


def test_score_runs_in_the_background_and_stores_snapshots(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    started = c.post("/api/v1/actions/score?backfill=2", headers=AS_ADMIN)
    assert started.status_code == 202
    done = wait_done(c, started.json()["id"])
    assert done["status"] == "success", done
    assert done["result"]["weeks"] == 3
    assert snapshot_count(context) == 2 * 5 * 3  # two teams, five dimensions, three weeks


def test_collect_runs_in_the_background_and_reports_its_scopes(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    started = c.post("/api/v1/actions/collect", headers=AS_ADMIN)
    assert started.status_code == 202 and started.json()["kind"] == "collect"
    done = wait_done(c, started.json()["id"])
    assert done["status"] == "success", done
    result = done["result"]
    assert (result["scopes"], result["records"], result["failed_scopes"]) == (0, 0, 0)


def test_only_one_action_runs_at_a_time() -> None:
    jobs = web_jobs.Jobs()
    gate = threading.Event()
    first = jobs.submit("slow", lambda job: {"waited": gate.wait(10)})
    with pytest.raises(web_jobs.Busy):
        jobs.submit("second", lambda job: {})
    gate.set()
    deadline = time.monotonic() + 10
    while first.status != "success" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.result == {"waited": True}
    assert jobs.submit("third", lambda job: {}, wait=True).status == "success"


def test_a_failing_action_is_failed_without_its_message(context: AppContext) -> None:
    def boom(job: web_jobs.Job) -> dict[str, Any]:
        raise RuntimeError("password=hunter2")

    job = web_jobs.Jobs().submit("boom", boom, wait=True)
    assert job.status == "failed"
    assert job.error is not None and "hunter2" not in job.error


@pytest.mark.parametrize(
    ("tokens", "headers", "status"),
    [
        ({}, AS_ADMIN, 403),  # actions disabled without an administrator token
        ({"admin_token": ADMIN}, {}, 401),
        (
            {"admin_token": ADMIN, "viewer_token": VIEWER},
            {"Authorization": f"Bearer {VIEWER}"},
            403,
        ),
    ],
)
def test_actions_need_the_administrator_token(
    context: AppContext, tokens: dict[str, str], headers: dict[str, str], status: int
) -> None:
    c = client(context, **tokens)
    assert c.post("/api/v1/actions/collect", headers=headers).status_code == status
    assert c.post("/api/v1/actions/score", headers=headers).status_code == status
    assert c.post("/api/v1/model", content=b"x", headers=headers).status_code == status
    assert c.get("/api/v1/actions/1-abc", headers=headers).status_code == status


def test_an_unknown_action_is_a_404_and_a_bad_backfill_a_422(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    assert c.get("/api/v1/actions/nope", headers=AS_ADMIN).status_code == 404
    assert c.post("/api/v1/actions/score?backfill=-1", headers=AS_ADMIN).status_code == 422


def test_a_valid_model_file_is_checked_and_not_stored(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    resp = c.post("/api/v1/model", content=DEFAULT_PATH.read_bytes(), headers=AS_ADMIN)
    assert resp.status_code == 200
    body = resp.json()
    assert body["valid"] is True and body["stored"] is False
    assert body["dimensions"] == 5 and body["criteria"] > 20


def test_a_model_with_a_bad_criterion_is_refused_naming_it(context: AppContext) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        'check = "review_rate', 'check = "no_such_metric', 1
    )
    assert "no_such_metric" in text
    resp = client(context, admin_token=ADMIN).post(
        "/api/v1/model", content=text.encode(), headers=AS_ADMIN
    )
    assert resp.status_code == 422
    assert "no_such_metric" in resp.json()["detail"]
    assert "/tmp" not in resp.json()["detail"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("1d", 86400), ("90s", 90), (" 2H ", 7200)]
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert actions.parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0h", "1w", "h", "1.5h", "-1h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        actions.parse_duration(text)


def test_scheduled_collection_collects_then_scores_and_keeps_going(context: AppContext) -> None:
    jobs = web_jobs.Jobs()
    stop = threading.Event()
    thread = web_jobs.every(jobs, context, dt.timedelta(seconds=0.2), stop)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([j for j in jobs._jobs.values()]) < 2:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    done = [j for j in jobs._jobs.values() if j.status == "success"]
    assert len(done) >= 2
    assert done[0].kind == "collect+score" and done[0].result["snapshots"] == 2 * 5
    assert snapshot_count(context) == 2 * 5
