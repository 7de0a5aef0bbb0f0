"""The response cache: kept answers are the store's answers, per role, until anything changes.

Every test drives the real application over a real store (SQLite file and PostgreSQL) and
changes the store the way scoring, a team sync or a collection does, then checks that the next
answer is built again and shows the change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import random
import shutil
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maturity import pipeline
from maturity.context import AppContext
from maturity.store import tables, version
from maturity.store.engine import session_scope
from tests import scoredstore, webstore
from tests.conftest import drop_postgres_store, new_postgres_store
from tests.webstore import client
from web.app import create_app
from web.cache import ResponseCache, cache_this
from web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

VIEWER = "viewer-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdefgh"
NEXT_WEEK = scoredstore.WEEK + dt.timedelta(days=7)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def context(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppContext]:
    """A scored store of its own per test: these tests write to it."""
    name = None
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "maturity.db")
        url = f"sqlite:///{tmp_path / 'maturity.db'}"
    else:
        url, name = new_postgres_store(request.getfixturevalue("postgres_template"))
    ctx = webstore.make_context(tmp_path, url)
    scoredstore.seed_scored(ctx, weeks=3)
    yield ctx
    ctx.close()
    if name is not None:
        drop_postgres_store(name)


def score_next_week(context: AppContext, slug: str, level: int) -> None:
    """What scoring a new week writes for one team: a snapshot per dimension (new rows)."""
    with session_scope(context.sessions) as session:
        team_id = session.scalar(select(tables.Team.id).where(tables.Team.slug == slug))
        for dim in scoredstore.MODEL.dimensions:
            session.add(
                tables.Snapshot(
                    team_id=team_id,
                    dimension=dim.id,
                    period_end=NEXT_WEEK,
                    level=level,
                    score=level + 0.5,
                    coverage=1.0,
                    evidence={"dimension": dim.id, "criteria": [], "next_steps": []},
                    model_version=scoredstore.MODEL.version,
                    computed_at=dt.datetime.now(dt.UTC),
                )
            )


def add_run(context: AppContext, source: str, finished: dt.datetime, status: str) -> None:
    with session_scope(context.sessions) as session:
        session.add(
            tables.CollectorRun(
                source=source,
                scope=f"{source}-scope",
                started_at=finished - dt.timedelta(minutes=1),
                finished_at=finished,
                status=status,
                records=1,
            )
        )


def test_an_answer_is_kept_until_scoring_writes_and_then_shows_the_new_scores(
    context: AppContext,
) -> None:
    http = client(context)
    first = http.get("/api/v1/teams/alpha/levels")
    again = http.get("/api/v1/teams/alpha/levels")
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")
    assert again.content == first.content
    assert {lv["period_end"] for lv in first.json()["levels"]} == {scoredstore.WEEK.isoformat()}

    score_next_week(context, "alpha", level=4)
    after = http.get("/api/v1/teams/alpha/levels")
    assert after.headers["x-cache"] == "miss"
    levels = after.json()["levels"]
    assert {lv["period_end"] for lv in levels} == {NEXT_WEEK.isoformat()}
    assert {lv["level"] for lv in levels} == {4}
    page = http.get("/teams/alpha")
    assert page.headers["x-cache"] == "miss"
    assert "Expert" in page.text


def test_a_new_team_and_a_removed_team_both_change_the_answer(context: AppContext) -> None:
    http = client(context)
    before = {t["slug"] for t in _levels(http)}
    assert http.get("/api/v1/levels").headers["x-cache"] == "hit"
    with session_scope(context.sessions) as session:
        session.add(tables.Team(name="delta", slug="delta"))
    score_next_week(context, "delta", level=2)
    assert {t["slug"] for t in _levels(http)} == before | {"delta"}
    with session_scope(context.sessions) as session:
        session.execute(tables.Snapshot.__table__.delete().where(tables.Snapshot.level == 2))
        session.delete(
            session.scalars(select(tables.Team).where(tables.Team.slug == "delta")).one()
        )
    assert {t["slug"] for t in _levels(http)} == before


def _levels(http: TestClient) -> list[dict[str, object]]:
    resp = http.get("/api/v1/levels")
    assert resp.status_code == 200
    return list(resp.json())


def test_every_query_string_is_its_own_answer(context: AppContext) -> None:
    http = client(context)
    as_json = http.get("/api/v1/levels")
    as_csv = http.get("/api/v1/levels?format=csv")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert http.get("/api/v1/levels?format=csv").content == as_csv.content
    assert http.get("/api/v1/levels").content == as_json.content


def test_a_reader_without_the_token_never_gets_a_kept_answer(context: AppContext) -> None:
    http = client(context, viewer_token=VIEWER, admin_token=ADMIN)
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    assert http.get("/overview", headers=viewer).headers["x-cache"] == "miss"
    assert http.get("/overview", headers=viewer).headers["x-cache"] == "hit"
    anonymous = http.get("/overview")
    assert anonymous.status_code == 401
    assert "x-cache" not in anonymous.headers
    assert "Level per team" not in anonymous.text
    wrong = http.get("/api/v1/levels", headers={"Authorization": "Bearer wrong-token-wrong-token"})
    assert wrong.status_code == 401
    admin = http.get("/overview", headers={"Authorization": f"Bearer {ADMIN}"})
    assert admin.headers["x-cache"] == "miss"  # each role has its own answers


def test_the_overview_follows_collection_runs_and_the_clock(context: AppContext) -> None:
    http = client(context, stale_hours=1.0)
    now = dt.datetime.now(dt.UTC)
    add_run(context, "github", now - dt.timedelta(minutes=5), "success")
    fresh = http.get("/overview")
    assert '<li class="fresh">' in fresh.text and "github" in fresh.text
    assert http.get("/overview").headers["x-cache"] == "hit"

    add_run(context, "jira", now - dt.timedelta(minutes=2), "failed")
    with_jira = http.get("/overview")
    assert with_jira.headers["x-cache"] == "miss"
    assert "jira" in with_jira.text

    # a source whose success turns stale in ~1.5 s: the kept answer must not outlive that
    turns_stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1) + dt.timedelta(seconds=1.5)
    add_run(context, "jenkins", turns_stale, "success")
    assert _freshness(http.get("/overview").text, "jenkins") == "fresh"
    stale_at = (turns_stale + dt.timedelta(hours=1)).timestamp()
    while time.time() < stale_at + 0.2:  # polled, never a kept answer past the turn
        time.sleep(0.05)
    later = http.get("/overview")
    assert later.headers["x-cache"] == "miss"
    assert _freshness(later.text, "jenkins") == "stale"


def _freshness(page: str, source: str) -> str:
    item = page.split(f"<strong>{source}</strong>")[0].rsplit("<li class=", 1)[1]
    return item.split('"')[1]


def test_a_finished_run_changes_the_version_without_a_new_row(context: AppContext) -> None:
    with context.sessions() as session:
        before = version.store_version(session)
    with session_scope(context.sessions) as session:
        run = tables.CollectorRun(
            source="git",
            scope="repo",
            started_at=dt.datetime.now(dt.UTC),
            status="running",
        )
        session.add(run)
    with context.sessions() as session:
        started = version.store_version(session)
    with session_scope(context.sessions) as session:
        found = session.scalars(select(tables.CollectorRun)).one()
        found.status, found.finished_at = "success", dt.datetime.now(dt.UTC)
    with context.sessions() as session:
        finished = version.store_version(session)
    assert len({before, started, finished}) == 3


def test_gzip_is_offered_and_holds_the_same_bytes(context: AppContext) -> None:
    http = client(context)
    plain = http.get("/teams/alpha", headers={"Accept-Encoding": "identity"})
    packed = http.get("/teams/alpha", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "accept-encoding"
    assert packed.content == plain.content  # httpx decodes the gzip body
    raw = httpx.Client(transport=http._transport, base_url="http://testserver")
    with raw.stream("GET", "/teams/alpha", headers={"Accept-Encoding": "gzip"}) as stream:
        compressed = b"".join(stream.iter_raw())
    assert gzip.decompress(compressed) == plain.content
    assert len(compressed) < len(plain.content) / 3
    for refusal in ("gzip;q=0", "gzip; Q=0.000", "br, gzip;q=0.0"):
        refused = http.get("/teams/alpha", headers={"Accept-Encoding": refusal})
        assert "content-encoding" not in refused.headers, refusal
    weighted = http.get("/teams/alpha", headers={"Accept-Encoding": "gzip;q=0.5"})
    assert weighted.headers["content-encoding"] == "gzip"


def test_errors_and_live_pages_are_never_kept(context: AppContext) -> None:
    http = client(context)
    for _ in range(2):
        missing = http.get("/teams/no-such-team")
        assert missing.status_code == 404
        assert "x-cache" not in missing.headers
        assert "x-cache" not in http.get("/collection").headers
        assert "x-cache" not in http.get("/api/v1/teams").headers
    assert http.get("/overview").headers["content-security-policy"]  # kept answers, same headers
    assert http.get("/overview").headers["content-security-policy"]


def test_concurrent_misses_after_a_rescore_build_the_answer_once(context: AppContext) -> None:
    app = create_app(context, settings=WebSettings())

    async def burst() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/overview")).headers["x-cache"] == "miss"
            score_next_week(context, "beta", level=3)
            answers = await asyncio.gather(*(http.get("/overview") for _ in range(8)))
            assert {a.status_code for a in answers} == {200}
            assert len({a.content for a in answers}) == 1
            return [a.headers["x-cache"] for a in answers]

    # a thread of its own: a browser test earlier in the session may leave a loop running here
    with ThreadPoolExecutor(1) as pool:
        got = pool.submit(asyncio.run, burst()).result()
    assert sorted(got) == ["hit"] * 7 + ["miss"]


def _random_page(request: Request) -> Response:
    cache_this(request)
    return Response(random.Random(request.path_params["n"]).randbytes(10_000))


def test_the_kept_answers_stay_within_their_memory_bound(context: AppContext) -> None:
    app = ResponseCache(
        Starlette(routes=[Route("/{n}", _random_page)]),
        context=context,
        settings=WebSettings(),
        max_bytes=70_000,
    )
    http = TestClient(app)
    gz = {"Accept-Encoding": "gzip"}
    # 10 kB that do not compress: each answer is kept with its gzip copy, about 20 kB
    for n in "abcd":  # the fourth pushes out the first
        assert http.get(f"/{n}", headers=gz).headers["x-cache"] == "miss"
    assert http.get("/d", headers=gz).headers["x-cache"] == "hit"
    assert http.get("/b", headers=gz).headers["x-cache"] == "hit"
    assert http.get("/a", headers=gz).headers["x-cache"] == "miss"
    kept = list(app._entries.values())
    assert len(kept) == 3
    assert app._bytes == sum(e.size for e in kept) <= 70_000


def test_a_slow_reader_does_not_hold_up_the_others(context: AppContext) -> None:
    """The answer is sent after the build's lock is let go: a client that reads slowly keeps
    only itself waiting, not every request for the same URL."""

    async def slow_to_build(request: Request) -> Response:
        await asyncio.sleep(0.3)  # the second request arrives while this one builds
        return _random_page(request)

    app = ResponseCache(
        Starlette(routes=[Route("/{n}", slow_to_build)]),
        context=context,
        settings=WebSettings(),
    )

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/x",
            "raw_path": b"/x",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"t")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def run() -> list[str]:
        order: list[str] = []
        release = asyncio.Event()

        async def quick(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                order.append("quick answered")

        async def slow(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                await release.wait()  # a client that does not read
                order.append("slow answered")

        await app(scope(), receive, quick)  # the path is now known to be cacheable
        score_next_week(context, "alpha", level=1)  # a new version: the next request builds
        slow_task = asyncio.create_task(app(scope(), receive, slow))
        await asyncio.sleep(0.05)
        # waits for the slow request's build, not for its client
        await asyncio.wait_for(app(scope(), receive, quick), timeout=5)
        release.set()
        await slow_task
        return order

    with ThreadPoolExecutor(1) as pool:
        order = pool.submit(asyncio.run, run()).result()
    assert order == ["quick answered", "quick answered", "slow answered"]


def test_rescoring_the_newest_week_changes_the_answer(context: AppContext) -> None:
    """Re-scoring deletes and inserts the newest rows: SQLite must not hand their ids out
    again (AUTOINCREMENT), or the kept answer would outlive the scores it shows."""
    S = tables.Snapshot
    with context.sessions() as session:
        newest = session.scalars(select(S).order_by(S.id.desc()).limit(1)).one()
        team = session.get(tables.Team, newest.team_id)
        assert team is not None
        url = f"/api/v1/teams/{team.slug}/levels"
    http = client(context)
    assert [http.get(url).headers["x-cache"] for _ in range(2)] == ["miss", "hit"]
    with session_scope(context.sessions) as session:
        session.delete(session.get(S, newest.id))
        session.flush()
        values = {c.key: getattr(newest, c.key) for c in S.__table__.columns if c.key != "id"}
        session.add(S(**{**values, "level": 4, "score": 4.25}))
    after = http.get(url)
    assert after.headers["x-cache"] == "miss"
    changed = [lv for lv in after.json()["levels"] if lv["dimension"] == newest.dimension]
    assert [(lv["level"], lv["score"]) for lv in changed] == [(4, 4.25)]


def test_real_rescoring_of_the_newest_week_changes_the_store_version(context: AppContext) -> None:
    with context.sessions() as session:
        before = version.store_version(session)
    pipeline.score(
        context.sessions,
        context.config,
        scoredstore.MODEL,
        week=scoredstore.WEEK,
        backfill=0,
        today=scoredstore.WEEK,
    )
    with context.sessions() as session:
        after = version.store_version(session)
    assert after.snapshots is not None and before.snapshots is not None
    assert after.snapshots > before.snapshots
    assert after.metric_values is not None and before.metric_values is not None
    assert after.metric_values > before.metric_values
