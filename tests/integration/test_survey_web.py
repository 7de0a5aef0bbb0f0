"""The survey form, pages and API over real stores: one answer per link, nothing below k."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import socket
import threading
import time
import warnings
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from maturity import surveys
from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from tests import webstore
from web.app import create_app
from web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
LINK = re.compile(r"/survey/([\w-]+)#token=([\w-]+)$")


def open_round(c: TestClient, links: int = 6, k: int = 5, **extra: Any) -> tuple[str, list[str]]:
    r = c.post(
        "/api/v1/surveys",
        json={"team": "payments", "links": links, "k": k, **extra},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 201, r.text
    found = [LINK.search(link) for link in r.json()["links"]]
    assert all(found)
    ids = {m.group(1) for m in found if m}
    assert len(ids) == 1
    return ids.pop(), [m.group(2) for m in found if m]


def question_ids(context: AppContext, public_id: str) -> list[str]:
    with session_scope(context.sessions) as s:
        return [q.id for q in surveys.questions_of(surveys.get_round(s, public_id))]


def form(context: AppContext, public_id: str, token: str, value: Any, comment: str = "") -> dict:
    data = {f"a.{q}": str(value) for q in question_ids(context, public_id)}
    return {"token": token, "comment": comment, **data}


def settle(c: TestClient) -> None:
    """Write the batches that are due now, without waiting for the holder's thread."""
    c.app.state.survey_holder.settle()  # type: ignore[attr-defined]


def submit(
    c: TestClient,
    context: AppContext,
    public_id: str,
    token: str,
    value: Any = 4,
    comment: str = "",
) -> httpx.Response:
    return c.post(f"/survey/{public_id}", data=form(context, public_id, token, value, comment))


def test_a_link_answers_once_and_lands_on_a_confirmation_without_the_token(
    context: AppContext,
) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c)
    page = c.get(f"/survey/{public_id}")
    assert page.status_code == 200
    assert 'name="token"' in page.text and "#token=" in page.text
    assert "When something breaks" in page.text  # CAMS
    assert '<script src="/static/survey.js"' in page.text
    first = submit(c, context, public_id, tokens[0])
    assert first.status_code == 303
    assert first.headers["location"] == f"/survey/{public_id}/thanks"
    thanks = c.get(first.headers["location"])
    assert thanks.status_code == 200
    assert "What is stored" in thanks.text and "What is not stored" in thanks.text
    again = submit(c, context, public_id, tokens[0])
    assert again.status_code == 409
    assert "already used" in again.text
    unknown = submit(c, context, public_id, "not-a-token")
    assert unknown.status_code == 409
    assert c.get("/survey/nosuchround").status_code == 404
    other = c.post("/survey/nosuchround", data=form(context, public_id, tokens[1], 4))
    assert other.status_code == 404
    for r in (page, first, thanks, again, unknown):
        assert tokens[0] not in r.text and tokens[0] not in r.headers.get("location", "")


def test_a_closed_round_shows_a_clear_page_and_takes_no_answer(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c)
    closed = c.post(
        f"/api/v1/surveys/{public_id}/close", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert closed.status_code == 200
    assert c.get(f"/survey/{public_id}").status_code == 410
    refused = submit(c, context, public_id, tokens[0])
    assert refused.status_code == 410 and "closed" in refused.text


def test_opening_and_closing_need_the_admin_token(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN, viewer_token=VIEWER)
    body = {"team": "payments", "links": 5}
    assert c.post("/api/v1/surveys", json=body).status_code == 401
    viewer = c.post("/api/v1/surveys", json=body, headers={"Authorization": f"Bearer {VIEWER}"})
    assert viewer.status_code == 403
    low_k = c.post(
        "/api/v1/surveys",
        json={**body, "k": 2},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert low_k.status_code == 422
    public_id, _ = open_round(c)
    assert c.post(f"/api/v1/surveys/{public_id}/close").status_code == 401


@pytest.mark.parametrize(
    ("value", "comment", "message"),
    [
        (6, "", "outside the 1-5 scale"),
        (0, "", "outside the 1-5 scale"),
        ("4.5", "", "expected 1-5"),
        ("many", "", "expected 1-5"),
        (3, "x" * (surveys.MAX_COMMENT + 1), "longer than"),
    ],
)
def test_out_of_scale_answers_and_oversized_comments_get_422_and_keep_the_link(
    context: AppContext, value: Any, comment: str, message: str
) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c)
    bad = submit(c, context, public_id, tokens[0], value, comment)
    assert bad.status_code == 422
    assert message in bad.text
    api = c.post(
        f"/api/v1/surveys/{public_id}/responses",
        json={"token": tokens[1], "answers": {"cams.culture": 7}},
    )
    assert api.status_code == 422
    assert submit(c, context, public_id, tokens[0]).status_code == 303


def test_unknown_questions_and_huge_bodies_are_refused(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c)
    extra = {**form(context, public_id, tokens[0], 3), "a.injected": "5"}
    assert c.post(f"/survey/{public_id}", data=extra).status_code == 422
    huge = c.post(f"/survey/{public_id}", data={"token": tokens[0], "comment": "y" * 70_000})
    assert huge.status_code == 413
    no_token = c.post(f"/survey/{public_id}", data=form(context, public_id, "", 3))
    assert no_token.status_code == 422


def test_submissions_beyond_the_rate_limit_get_429(context: AppContext) -> None:
    app = create_app(context, settings=WebSettings(admin_token=SecretStr(ADMIN)))
    app.state.survey_limiter = surveys.SubmissionLimiter(limit=2, window_s=60)
    c = TestClient(app, follow_redirects=False)
    public_id, tokens = open_round(c)
    assert submit(c, context, public_id, tokens[0]).status_code == 303
    assert submit(c, context, public_id, tokens[1]).status_code == 303
    limited = submit(c, context, public_id, tokens[2])
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    api = c.post(f"/api/v1/surveys/{public_id}/responses", json={"token": tokens[3], "answers": {}})
    assert api.status_code == 429
    assert c.app.state.survey_holder.held(public_id) == 2  # type: ignore[attr-defined]


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_no_result_on_page_api_or_csv_below_k_and_all_of_them_at_k(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=5, k=5)
    for i, token in enumerate(tokens[:4]):
        assert submit(c, context, public_id, token, 2, f"secret remark {i}").status_code == 303
    settle(c)
    page = c.get("/teams/payments/surveys")
    assert page.status_code == 200
    assert "5 more responses needed (k = 5)" in page.text
    assert "+4 held" in page.text
    assert "secret remark" not in page.text and "2.00" not in page.text
    api = c.get("/api/v1/teams/payments/surveys").json()
    (shown,) = api["rounds"]
    assert (shown["responses"], shown["held"], shown["needed"]) == (0, 4, 5)
    assert shown["visible"] is False
    assert "questions" not in shown and "comments" not in shown
    assert "secret remark" not in json.dumps(api)
    below = c.get("/api/v1/teams/payments/surveys?format=csv")
    assert below.status_code == 200 and _csv(below.text) == []
    # The fifth and last link: every link has answered, so all five are written together.
    assert submit(c, context, public_id, tokens[4], 2, "secret remark 4").status_code == 303
    settle(c)
    page = c.get("/teams/payments/surveys")
    assert "more response" not in page.text and "held" not in page.text.split("<h2>Rounds")[1]
    assert page.text.count("secret remark") == 5 and "2.00" in page.text
    api = c.get("/api/v1/teams/payments/surveys").json()
    (shown,) = api["rounds"]
    assert shown["visible"] is True and shown["held"] == 0
    assert sorted(shown["comments"]) == [f"secret remark {i}" for i in range(5)]
    assert all(q["mean"] == 2.0 and q["hidden"] is False for q in shown["questions"])
    assert shown["by_dimension"]["source_control"] == 2.0
    rows = _csv(c.get("/api/v1/teams/payments/surveys?format=csv").text)
    assert len(rows) == len(question_ids(context, public_id))
    assert {r["mean"] for r in rows} == {"2.0"} and {r["n_2"] for r in rows} == {"5"}


def test_a_hostile_comment_is_shown_as_text(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=5, k=5)
    for token in tokens:
        assert submit(c, context, public_id, token, 5, webstore.XSS_SCRIPT).status_code == 303
    settle(c)
    page = c.get("/teams/payments/surveys")
    assert webstore.XSS_SCRIPT not in page.text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page.text


def test_the_json_answer_api_takes_a_token_in_the_body_once(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c)
    body = {"token": tokens[0], "answers": {"cams.culture": 5, "cams.sharing": "dont_know"}}
    url = f"/api/v1/surveys/{public_id}/responses"
    first = c.post(url, json=body)
    assert first.status_code == 202 and first.json() == {"held": True, "k": 5}
    assert c.post(url, json=body).status_code == 409
    assert c.post("/api/v1/surveys/nosuch/responses", json=body).status_code == 404


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(st.one_of(st.integers(1, 5), st.just("dont_know")), min_size=5, max_size=9))
def test_no_api_answer_or_export_holds_a_token_or_the_submission_order(
    context: AppContext, values: list[Any]
) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=len(values), k=5)
    comments = [f"note {i:02d}" for i in range(len(values))]
    seen = []
    for token, value, comment in zip(tokens, values, comments, strict=True):
        r = submit(c, context, public_id, token, value, comment)
        assert r.status_code == 303
        seen.append(r.text + r.headers["location"])
    settle(c)
    orders = set()
    for _ in range(6):
        api = c.get("/api/v1/teams/payments/surveys")
        listed = next(x for x in api.json()["rounds"] if x["id"] == public_id)
        assert sorted(listed["comments"]) == comments
        orders.add(tuple(listed["comments"]))
        seen += [api.text, c.get("/api/v1/teams/payments/surveys?format=csv").text]
        seen.append(c.get("/teams/payments/surveys").text)
    # Shuffled on every read: six reads of five or more comments in one same order would be
    # a one-in-ten-billion chance, so a single order means the order is the stored one.
    assert len(orders) > 1
    hashes = [surveys.hash_token(t) for t in tokens]
    for text in seen:
        assert not any(t in text for t in tokens)
        assert not any(h in text for h in hashes)
    with session_scope(context.sessions) as s:
        stored = list(s.scalars(select(tables.SurveyResponse.id)))
    assert not any(t in str(stored) for t in tokens)


# --- the access log of a real server ------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.args))


def test_the_servers_access_log_never_holds_a_token(context: AppContext) -> None:
    app = create_app(context, settings=WebSettings(admin_token=SecretStr(ADMIN)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=True, lifespan="on"))
    records = _Records()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        for name in ("uvicorn.access", "uvicorn.error", "web", "web.surveys"):
            logging.getLogger(name).addHandler(records)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=False) as h:
            r = h.post(
                "/api/v1/surveys",
                json={"team": "payments", "links": 5, "k": 5},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            links = r.json()["links"]
            tokens = [link.split("#token=")[1] for link in links]
            public_id = links[0].split("/survey/")[1].split("#")[0]
            seen: list[str] = []
            page = h.get(f"/survey/{public_id}")
            seen.append(page.text)
            for i, token in enumerate(tokens):
                answered = h.post(
                    f"/survey/{public_id}", data=form(context, public_id, token, 1 + i % 5)
                )
                assert answered.status_code == 303
                seen += [answered.text, answered.headers["location"]]
                seen.append(h.get(answered.headers["location"]).text)
            reused = h.post(f"/survey/{public_id}", data=form(context, public_id, tokens[0], 3))
            assert reused.status_code == 409
            seen += [reused.text, h.get("/api/v1/teams/payments/surveys").text]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for name in ("uvicorn.access", "uvicorn.error", "web", "web.surveys"):
            logging.getLogger(name).removeHandler(records)
    access = [line for line in records.lines if f"/survey/{public_id}" in line]
    assert len(access) >= 11  # the log did record the survey requests
    for token in tokens:
        assert not any(token in line for line in records.lines)
        assert not any(token in text for text in seen)


def test_a_round_closes_itself_on_its_closing_day(context: AppContext) -> None:
    today = dt.date.today()
    with session_scope(context.sessions) as s:
        team_id = s.scalar(select(tables.Team.id).where(tables.Team.slug == "payments"))
        assert team_id is not None
        made = surveys.open_round(
            s,
            team_id=team_id,
            questions=surveys.CAMS_QUESTIONS,
            links=5,
            model_version="t",
            today=today - dt.timedelta(days=7),
            closes_on=today,
        )
    c = client(context)
    assert c.get(f"/survey/{made.public_id}").status_code == 410
    answer = c.post(f"/survey/{made.public_id}", data={"token": made.tokens[0]})
    assert answer.status_code == 410
    listed = c.get("/api/v1/teams/payments/surveys").json()["rounds"]
    assert [(r["id"], r["open"]) for r in listed] == [(made.public_id, False)]


def test_the_form_needs_no_login_but_results_need_the_viewer_token(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN, viewer_token=VIEWER)
    public_id, tokens = open_round(c)
    assert c.get(f"/survey/{public_id}").status_code == 200
    assert submit(c, context, public_id, tokens[0]).status_code == 303
    assert c.get(f"/survey/{public_id}/thanks").status_code == 200
    assert c.get("/teams/payments/surveys").status_code == 401
    assert c.get("/api/v1/teams/payments/surveys").status_code == 401
    shown = c.get("/api/v1/teams/payments/surveys", headers={"Authorization": f"Bearer {VIEWER}"})
    assert shown.status_code == 200 and shown.json()["rounds"][0]["held"] == 1


def client(context: AppContext, **tokens: str) -> TestClient:
    """Redirects are checked, not followed, on these pages."""
    return webstore.client(context, follow_redirects=False, **tokens)
