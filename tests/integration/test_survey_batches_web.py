"""Held survey answers through the web: rate limits count accepted answers only, the event loop
never waits for the store, a closed round writes or discards what is held, and no figure of
fewer than k people reaches any page, export, report or score."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import itertools
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from maturity import survey_batches, surveys
from maturity.context import AppContext
from maturity.store.engine import normalize_url, session_scope
from tests import webstore
from tests.integration.test_survey_web import ADMIN, form, open_round, settle, submit
from web.app import create_app
from web.settings import WebSettings

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def client(context: AppContext, **tokens: str) -> Any:
    return webstore.client(context, follow_redirects=False, **tokens)


def _responses(context: AppContext, public_id: str) -> int:
    with session_scope(context.sessions) as s:
        return surveys.results(s, public_id).responses


# --- rate limit ---------------------------------------------------------------------------


def test_junk_posts_do_not_lock_people_with_real_links_out(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=6, k=5)
    # More failed attempts than the round's 30 answers a minute: made-up codes, answers off
    # the scale with a real code, made-up codes through the JSON API.
    for i in range(35):
        junk = c.post(f"/survey/{public_id}", data=form(context, public_id, f"junk-{i}", 3))
        assert junk.status_code == 409
    for _ in range(5):
        assert submit(c, context, public_id, tokens[0], 9).status_code == 422
        api = c.post(
            f"/api/v1/surveys/{public_id}/responses", json={"token": "junk", "answers": {}}
        )
        assert api.status_code == 409
    assert submit(c, context, public_id, tokens[0]).status_code == 303
    assert submit(c, context, public_id, tokens[1]).status_code == 303


# --- the event loop -----------------------------------------------------------------------


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The application behind a real uvicorn server in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def store_held_busy(context: AppContext) -> Iterator[None]:
    """Another program holds the store the way a long ingest or a backup does.

    SQLite: the writer lock and a read transaction (no batch can be written, no checkpoint can
    finish). PostgreSQL: an exclusive lock on the token table (even reading a token waits).
    """
    url = make_url(normalize_url(context.url))
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        other = sqlite3.connect(url.database, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("SELECT count(*) FROM survey_tokens").fetchall()
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            conn.execute(text("LOCK TABLE survey_tokens IN ACCESS EXCLUSIVE MODE"))
            yield
            conn.rollback()
    finally:
        eng.dispose()


def test_the_event_loop_serves_static_files_while_an_answer_waits_for_the_store(
    context: AppContext,
) -> None:
    app = create_app(context, settings=WebSettings(admin_token=SecretStr(ADMIN)))
    # The batch's scrub waits for the store as long as it is held (as a real one does for 2 s).
    app.state.survey_holder = survey_batches.Holder(
        context.sessions, sweep_s=0.1, scrub_timeout_s=10
    )
    with serving(app) as base, httpx.Client(base_url=base, follow_redirects=False) as h:
        r = h.post(
            "/api/v1/surveys",
            json={"team": "payments", "links": 3, "k": 3},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        links = r.json()["links"]
        public_id = links[0].split("/survey/")[1].split("#")[0]
        sheets = [form(context, public_id, link.split("#token=")[1], 4) for link in links]
        answered: list[int] = []

        def answer_all() -> None:
            with httpx.Client(base_url=base, timeout=60) as other:
                for sheet in sheets:  # the third is the round's last link: a batch is due
                    answered.append(other.post(f"/survey/{public_id}", data=sheet).status_code)

        latencies = []
        assert h.get("/static/app.css").status_code == 200  # the first answer opens the file
        with store_held_busy(context):
            started = time.monotonic()
            sender = threading.Thread(target=answer_all)
            sender.start()
            while time.monotonic() - started < 2.5:
                t0 = time.perf_counter()
                assert h.get("/static/app.css").status_code == 200
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)
            written_while_busy = _responses(context, public_id)
        sender.join(timeout=60)
        deadline = time.monotonic() + 30
        while _responses(context, public_id) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _responses(context, public_id) == 3
    assert answered == [303, 303, 303]
    assert written_while_busy == 0  # the store really was held while the files were asked for
    # Without the fix, every file asked for while the store is held waits for it (seconds).
    # A shared, loaded CI machine may deschedule the server for a moment: nine in ten within
    # 100 ms, and none near a second.
    assert len(latencies) > 40
    slow = [round(x, 3) for x in latencies if x >= 0.1]
    assert len(slow) <= len(latencies) // 10, slow
    assert max(latencies) < 1.0, slow


# --- closing a round ----------------------------------------------------------------------


def test_closing_writes_k_or_more_held_answers_as_a_last_batch(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=8, k=5)
    for token in tokens[:6]:
        assert submit(c, context, public_id, token, 3).status_code == 303
    settle(c)
    assert _responses(context, public_id) == 0  # 6 held: fewer than 2k, links left
    closed = c.post(
        f"/api/v1/surveys/{public_id}/close", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert closed.json() == {
        "id": public_id,
        "open": False,
        "written": 6,
        "discarded": 0,
        "held": 0,
    }
    assert _responses(context, public_id) == 6
    assert submit(c, context, public_id, tokens[6], 3).status_code == 410


def test_closing_discards_fewer_than_k_held_answers(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=8, k=5)
    for i, token in enumerate(tokens[:4]):
        assert submit(c, context, public_id, token, 3, f"private words {i}").status_code == 303
    closed = c.post(
        f"/api/v1/surveys/{public_id}/close", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert (closed.json()["written"], closed.json()["discarded"]) == (0, 4)
    assert _responses(context, public_id) == 0
    with session_scope(context.sessions) as s:
        assert surveys.link_counts(s, surveys.get_round(s, public_id).id) == (8, 0)
    page = c.get("/teams/payments/surveys")
    assert "5 more responses needed (k = 5)" in page.text
    assert "discarded" in caplog.text and "private words" not in caplog.text


def test_a_round_closed_elsewhere_is_settled_by_the_servers_sweep(context: AppContext) -> None:
    app = create_app(context, settings=WebSettings(admin_token=SecretStr(ADMIN)))
    app.state.survey_holder = survey_batches.Holder(context.sessions, sweep_s=0.1)
    c = webstore.TestClient(app, follow_redirects=False)
    public_id, tokens = open_round(c, links=8, k=5)
    for token in tokens[:5]:
        assert submit(c, context, public_id, token, 2).status_code == 303
    with session_scope(context.sessions) as s:  # as `maturity survey close` does
        surveys.close_round(s, public_id)
    deadline = time.monotonic() + 20
    while _responses(context, public_id) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _responses(context, public_id) == 5
    assert app.state.survey_holder.held() == 0


def test_the_thanks_page_says_the_answer_is_held_and_the_link_stays_valid(
    context: AppContext,
) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=6, k=5)
    first = submit(c, context, public_id, tokens[0])
    thanks = c.get(first.headers["location"]).text
    assert "your answers are received" in thanks
    assert "not stored yet" in thanks and "at least 4 other people" in thanks
    assert "send the form again with the same link" in thanks
    assert "fewer than 5 answers are held, those answers are" in thanks
    again = submit(c, context, public_id, tokens[0])
    assert again.status_code == 409 and "held" in again.text
    # A restart loses what was held, and the link still works.
    restarted = client(context, admin_token=ADMIN)
    assert submit(restarted, context, public_id, tokens[0]).status_code == 303


# --- fewer than k ratings, everywhere ------------------------------------------------------


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_a_question_rated_by_fewer_than_k_shows_no_figure_on_the_page_api_or_csv(
    context: AppContext,
) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=6, k=5)
    with session_scope(context.sessions) as s:
        questions = surveys.questions_of(surveys.get_round(s, public_id))
    lone = questions[0]  # a source-control question: its dimension's mean must ignore it
    rated = next(q for q in questions if q.dimension == lone.dimension and q.id != lone.id)
    for i, token in enumerate(tokens):
        sheet = {f"a.{q.id}": "dont_know" for q in questions}
        sheet[f"a.{rated.id}"] = "2"
        sheet[f"a.{lone.id}"] = "5" if i == 0 else "dont_know"  # one person rates it
        assert c.post(f"/survey/{public_id}", data={"token": token, **sheet}).status_code == 303
    settle(c)
    assert _responses(context, public_id) == 6
    api = c.get("/api/v1/teams/payments/surveys").json()
    (shown,) = api["rounds"]
    by_id = {q["id"]: q for q in shown["questions"]}
    assert by_id[lone.id]["hidden"] is True
    assert [by_id[lone.id][f] for f in ("mean", "answered", "dont_know", "counts")] == [None] * 4
    assert by_id[rated.id]["hidden"] is False and by_id[rated.id]["mean"] == 2.0
    assert shown["by_dimension"][lone.dimension] == 2.0  # not (5 + 2) / 2
    page = c.get("/teams/payments/surveys").text
    row = page.split(html.escape(lone.text, quote=True))[1].split("</tr>")[0]
    assert "hidden: fewer than 5 ratings" in row and "5.00" not in row
    assert "3.50" not in page  # the dimension's mean with the lone 5 in it
    rows = {
        r["question_id"]: r for r in _csv(c.get("/api/v1/teams/payments/surveys?format=csv").text)
    }
    assert rows[lone.id]["hidden"] == "fewer than k ratings"
    assert all(rows[lone.id][f] == "" for f in ("mean", "n_1", "n_5", "dont_know"))
    assert rows[rated.id]["mean"] == "2.0" and rows[rated.id]["hidden"] == ""


def test_results_change_only_in_steps_of_at_least_k(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    public_id, tokens = open_round(c, links=20, k=5)
    published = []
    for i, token in enumerate(tokens):
        assert submit(c, context, public_id, token, 1 + i % 5, f"note {i}").status_code == 303
        settle(c)
        (listed,) = c.get("/api/v1/teams/payments/surveys").json()["rounds"]
        figures = json.dumps([listed["responses"], listed.get("questions")], sort_keys=True)
        published.append((listed["responses"], figures))
    assert published[-1][0] == 20
    steps = [
        (before[0], after[0])
        for before, after in itertools.pairwise(published)
        if before[1] != after[1]
    ]
    assert steps  # the figures did change, at each batch only
    assert all(after - before >= 5 for before, after in steps)
