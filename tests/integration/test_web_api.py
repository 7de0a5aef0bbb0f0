"""The JSON API and the pages through FastAPI's TestClient, on real SQLite and PostgreSQL stores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import warnings
from typing import Any

import pytest
from sqlalchemy import func, select, text

from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from reports import charts
from tests import webstore
from tests.webstore import client
from web.app import PLOTLY_JS, create_app
from web.security import COOKIE
from web.settings import WebSettings

with warnings.catch_warnings():
    # starlette's TestClient announces a successor package that is not installed here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- teams --------------------------------------------------------------------------------


def test_teams_lists_every_team_with_its_ownership_and_counts(context: AppContext) -> None:
    webstore.seed_demo(context)
    body = client(context).get("/api/v1/teams").json()
    assert [t["name"] for t in body] == ["payments", "search"]
    payments, search = body
    assert payments["ownership"] == {"events": ["payments-*"]}
    assert (payments["builds"], payments["deployments"], payments["incidents"]) == (1, 4, 0)
    assert (search["builds"], search["deployments"]) == (0, 2)
    assert search["last_deployment_at"] == "2026-11-12T12:00:00Z"


def test_one_team_by_slug_and_an_unknown_team_is_a_404(context: AppContext) -> None:
    c = client(context)
    assert c.get("/api/v1/teams/search").json()["name"] == "search"
    missing = c.get("/api/v1/teams/nobody")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no team 'nobody'"}
    for url in ("/api/v1/environments?team=nobody", "/api/v1/deployments/weekly?team=nobody"):
        assert c.get(url).status_code == 404
    page = c.get("/environments?team=<b>nobody</b>")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "no team &#39;&lt;b&gt;nobody&lt;/b&gt;&#39;" in page.text


# --- environments -------------------------------------------------------------------------


def test_environments_holds_the_latest_success_per_service_and_environment(
    context: AppContext,
) -> None:
    webstore.seed_demo(context)
    webstore.ingest(
        context,
        # A newer but failed production deployment does not replace the running version.
        webstore.deployment("d7", "payments-api", "production", 13, status="failure", version="2"),
        # A production version never seen in staging.
        webstore.deployment("d8", "search-web", "production", 14, version="8", commit_sha="c" * 40),
        # Without versions, the same commit in staging before production counts.
        webstore.deployment("d9", "search-api", "staging", 3, commit_sha="d" * 40),
        webstore.deployment("d10", "search-api", "production", 4, commit_sha="d" * 40),
        # Staging only after production does not.
        webstore.deployment("d11", "search-ui", "production", 3, commit_sha="e" * 40),
        webstore.deployment("d12", "search-ui", "staging", 4, commit_sha="e" * 40),
    )
    with session_scope(context.sessions) as s:
        webstore.add_commit(s, webstore.SHA_B, "Search faster")
    body = client(context).get("/api/v1/environments").json()
    assert body["services"] == [
        "payments-api",
        "payments-worker",
        "search-api",
        "search-ui",
        "search-web",
    ]
    assert body["environments"] == ["qa", "staging", "production"]
    cells = {(p["service"], p["environment"]): p for p in body["placements"]}
    prod = cells[("payments-api", "production")]
    assert (prod["version"], prod["commit_sha"], prod["deployed_at"]) == (
        "1.0",
        webstore.SHA_A,
        "2026-11-11T12:00:00Z",
    )
    assert prod["commit_subject"] == "Fix rounding"
    assert prod["build"]["job"] == "payments-api-build"
    assert (prod["build"]["number"], prod["build"]["result"]) == (41, "success")
    assert prod["via_staging"] is True
    assert prod["staging_deployed_at"] == "2026-11-10T12:00:00Z"
    assert (prod["team"], prod["tier"]) == ("payments", "production")
    search = cells[("search-web", "production")]
    assert (search["version"], search["via_staging"], search["build"]) == ("8", False, None)
    assert cells[("search-web", "qa")]["via_staging"] is None  # only production is checked
    assert cells[("payments-worker", "production")]["via_staging"] is None  # nothing to match
    assert cells[("search-api", "production")]["via_staging"] is True
    assert cells[("search-api", "production")]["staging_deployed_at"] == "2026-11-03T12:00:00Z"
    assert cells[("search-ui", "production")]["via_staging"] is False
    assert len(body["placements"]) == 10


def test_environments_of_one_team_leave_the_others_out(context: AppContext) -> None:
    webstore.seed_demo(context)
    body = client(context).get("/api/v1/environments?team=search").json()
    assert body["services"] == ["search-web"]
    assert {p["team"] for p in body["placements"]} == {"search"}


def test_deployments_per_week_count_successes_by_monday_and_environment(
    context: AppContext,
) -> None:
    now = dt.datetime.now(dt.UTC)
    monday = (now - dt.timedelta(days=now.weekday())).date()
    week_start = dt.datetime.combine(monday, dt.time(), dt.UTC)
    # Two moments of this week that are already past, whatever the time of the run.
    this_week = [week_start + (now - week_start) / 3, week_start + (now - week_start) / 2]
    last_week = week_start - dt.timedelta(days=6)
    webstore.ingest(
        context,
        *[
            webstore.deployment(f"p{n}", "payments-api", "production", 1, started_at=when)
            for n, when in enumerate(t.isoformat() for t in [*this_week, last_week])
        ],
        webstore.deployment(
            "f1",
            "payments-api",
            "production",
            1,
            status="failure",
            started_at=this_week[0].isoformat(),
        ),
    )
    body = client(context).get("/api/v1/deployments/weekly?weeks=4").json()
    assert body == [
        {
            "week": (monday - dt.timedelta(days=7)).isoformat(),
            "environment": "production",
            "tier": "production",
            "deployments": 1,
        },
        {
            "week": monday.isoformat(),
            "environment": "production",
            "tier": "production",
            "deployments": 2,
        },
    ]
    assert client(context).get("/api/v1/deployments/weekly?weeks=1").json()[0]["deployments"] == 2


# --- collection ---------------------------------------------------------------------------


def test_collector_runs_come_newest_first_and_filter_by_source_status_and_limit(
    context: AppContext,
) -> None:
    webstore.seed_demo(context)
    c = client(context)
    runs = c.get("/api/v1/collector-runs").json()
    assert [r["source"] for r in runs] == ["events", "jenkins", "jira"]
    assert runs[0]["counts"] == {"build": 1, "deployment": 6, "incident": 0, "pull_request": 0}
    assert runs[1]["error"] == "HTTP 401 from Jenkins"
    assert runs[2]["duration_s"] == 30.0
    assert [r["source"] for r in c.get("/api/v1/collector-runs?status=failed").json()] == [
        "jenkins"
    ]
    assert [r["scope"] for r in c.get("/api/v1/collector-runs?source=jira").json()] == ["PAY"]
    assert len(c.get("/api/v1/collector-runs?limit=1").json()) == 1


def test_freshness_marks_a_source_stale_when_its_last_success_is_too_old(
    context: AppContext,
) -> None:
    webstore.seed_demo(context)
    c = client(context)
    fresh = {f["source"]: f for f in c.get("/api/v1/freshness").json()}
    assert fresh["jira"]["stale"] is True  # five days since its last success
    assert fresh["jenkins"]["stale"] is True  # never succeeded
    assert fresh["jenkins"]["last_success_at"] is None
    assert fresh["jenkins"]["failed_scopes"] == 1
    assert fresh["events"]["stale"] is False
    week = {f["source"]: f["stale"] for f in c.get("/api/v1/freshness?stale_hours=168").json()}
    assert week == {"events": False, "jenkins": True, "jira": False}
    page = c.get("/collection").text
    assert page.count('<tr class="stale">') == 2


# --- CSV ----------------------------------------------------------------------------------


def test_csv_exports_have_the_api_columns_and_neutralise_formulas(context: AppContext) -> None:
    webstore.ingest(
        context,
        webstore.deployment("x1", "=cmd|' /C calc'!A0", "+prod", 10, version="-2+3"),
        webstore.deployment("x2", "@SUM(A1)", "production", 10, version="1.0"),
    )
    with session_scope(context.sessions) as s:
        webstore.add_run(s, "jenkins", "job", "failed", dt.datetime.now(dt.UTC), error="=1+1")
    c = client(context)
    env = c.get("/api/v1/environments?format=csv")
    assert env.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="environments.csv"' in env.headers["content-disposition"]
    table = rows(env.text)
    assert {r["service"] for r in table} == {"'=cmd|' /C calc'!A0", "'@SUM(A1)"}
    assert {r["environment"] for r in table} == {"'+prod", "production"}
    assert {r["version"] for r in table} == {"'-2+3", "1.0"}
    runs = rows(c.get("/api/v1/collector-runs?format=csv&source=jenkins").text)
    assert runs[0]["error"] == "'=1+1"
    for url in (
        "/api/v1/teams?format=csv",
        "/api/v1/freshness?format=csv",
        "/api/v1/deployments/weekly?format=csv",
    ):
        answer = c.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
    teams = rows(c.get("/api/v1/teams?format=csv").text)
    assert [t["name"] for t in teams] == ["payments", "search"]


# --- bad parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/collector-runs?limit=0",
        "/api/v1/collector-runs?limit=abc",
        "/api/v1/collector-runs?status=exploded",
        "/api/v1/teams?format=xml",
        "/api/v1/deployments/weekly?weeks=0",
        "/api/v1/freshness?stale_hours=-1",
        "/api/v1/freshness?stale_hours=nan",
        "/api/v1/environments?team=%00",
        "/api/v1/collector-runs?source=a%00b",
    ],
)
def test_bad_parameters_are_a_422_json_with_the_parameter_named(
    context: AppContext, url: str
) -> None:
    answer = client(context).get(url)
    assert answer.status_code == 422
    param = url.split("?")[1].split("=")[0]
    assert answer.json()["detail"][0]["loc"] == ["query", param]


def test_a_nul_character_in_a_path_or_page_parameter_is_a_422_not_a_server_error(
    context: AppContext,
) -> None:
    c = client(context)
    assert c.get("/api/v1/teams/a%00b").status_code == 422
    assert c.get("/environments?team=%00").status_code == 422
    assert c.get("/collection?source=%00").status_code == 422


def test_a_filter_left_blank_by_a_form_means_all(context: AppContext) -> None:
    webstore.seed_demo(context)
    c = client(context)
    assert c.get("/environments?team=").status_code == 200
    assert c.get("/collection?source=&status=").status_code == 200
    everyone = c.get("/api/v1/environments?team=").json()
    assert {p["team"] for p in everyone["placements"]} == {"payments", "search"}
    assert len(c.get("/api/v1/collector-runs?source=&status=").json()) == 3


def test_bad_parameters_on_a_page_are_a_422_page(context: AppContext) -> None:
    answer = client(context).get("/collection?status=<script>")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "status: Input should be" in answer.text
    assert "<script>" not in answer.text.split("<main>")[1]


def test_unknown_paths_are_404_json_under_the_api_and_a_page_elsewhere(
    context: AppContext,
) -> None:
    c = client(context)
    api = c.get("/api/v1/nothing-here")
    assert (api.status_code, api.json()) == (404, {"detail": "Not Found"})
    page = c.get("/nothing-here")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text


# --- tokens -------------------------------------------------------------------------------


READ_URLS = ["/", "/collection", "/environments", "/api/v1/teams", "/api/v1/collector-runs"]


def test_reading_is_open_to_all_when_no_viewer_token_is_set(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    for url in READ_URLS:
        assert c.get(url).status_code == 200, url


def test_a_viewer_token_closes_pages_and_api_to_requests_without_it(
    context: AppContext,
) -> None:
    c = client(context, admin_token=ADMIN, viewer_token=VIEWER)
    for url in READ_URLS:
        answer = c.get(url)
        assert answer.status_code == 401, url
        if url.startswith("/api/"):
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json() == {"detail": "a viewer token is needed to read this"}
        else:
            assert 'name="token"' in answer.text  # the login form
        assert c.get(url, headers=bearer("wrong-token-0123456789")).status_code == 401
        assert c.get(url, headers=bearer(VIEWER)).status_code == 200
        assert c.get(url, headers=bearer(ADMIN)).status_code == 200


def test_login_sets_an_httponly_strict_cookie_that_opens_reading(context: AppContext) -> None:
    c = client(context, viewer_token=VIEWER)
    wrong = c.post("/login", data={"token": "nope", "next": "/collection"})
    assert wrong.status_code == 401
    assert "That token is not valid." in wrong.text
    ok = c.post("/login", data={"token": VIEWER, "next": "/collection"}, follow_redirects=False)
    assert (ok.status_code, ok.headers["location"]) == (303, "/collection")
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert VIEWER not in cookie
    assert c.get("/collection").status_code == 200
    assert c.get("/api/v1/teams").status_code == 200
    out = c.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    c.cookies.clear()
    assert c.get("/collection").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_the_site(context: AppContext, target: str) -> None:
    c = client(context, viewer_token=VIEWER)
    ok = c.post("/login", data={"token": VIEWER, "next": target}, follow_redirects=False)
    assert ok.headers["location"] == "/"


def test_events_need_the_ingest_or_admin_token(context: AppContext) -> None:
    event = webstore.deployment("t1", "payments-api", "production", 10)
    closed = client(context, viewer_token=VIEWER)
    assert closed.post("/api/v1/events", json=event, headers=bearer(VIEWER)).status_code == 403
    c = client(context, admin_token=ADMIN, viewer_token=VIEWER, ingest_token=INGEST)
    missing = c.post("/api/v1/events", json=event)
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    assert c.post("/api/v1/events", json=event, headers=bearer("x" * 20)).status_code == 401
    assert c.post("/api/v1/events", json=event, headers=bearer(VIEWER)).status_code == 403
    assert c.post("/api/v1/events", json=event, headers=bearer(INGEST)).status_code == 200
    assert c.post("/api/v1/events", json=event, headers=bearer(ADMIN)).status_code == 200
    with session_scope(context.sessions) as s:
        assert s.scalar(select(func.count()).select_from(tables.Deployment)) == 1


# --- events over HTTP ---------------------------------------------------------------------


def test_posting_events_writes_them_once_however_often_they_are_sent(
    context: AppContext,
) -> None:
    c = client(context, admin_token=ADMIN)
    batch = [
        webstore.build("b1", "payments-api", 10, commit_sha=webstore.SHA_A),
        webstore.deployment("d1", "payments-api", "production", 10, commit_sha=webstore.SHA_A),
        {
            "kind": "incident",
            "id": "i1",
            "service": "payments-api",
            "title": "Down",
            "started_at": webstore.at(11),
        },
    ]
    for _ in range(2):
        answer = c.post("/api/v1/events", json=batch, headers=bearer(ADMIN))
        assert answer.status_code == 200
        assert answer.json()["written"] == {
            "build": 1,
            "deployment": 1,
            "incident": 1,
            "pull_request": 0,
        }
    single = c.post(
        "/api/v1/events",
        json=webstore.deployment("d1", "payments-api", "production", 10, status="failure"),
        headers=bearer(ADMIN),
    )
    assert single.json()["written"] == {
        "build": 0,
        "deployment": 1,
        "incident": 0,
        "pull_request": 0,
    }
    with session_scope(context.sessions) as s:
        assert s.scalars(select(tables.Deployment.status)).all() == ["failure"]
        assert s.scalar(select(func.count()).select_from(tables.Build)) == 1
        incident = s.scalars(select(tables.Issue)).one()
        assert (incident.is_incident, incident.team_id is not None) == (True, True)
        scopes = s.scalars(select(tables.CollectorRun.scope)).all()
    assert scopes == ["api", "api", "api"]


def test_one_invalid_event_rejects_the_request_with_every_reason(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    batch = [
        webstore.deployment("ok", "payments-api", "production", 10),
        webstore.deployment("naive", "payments-api", "production", 10, started_at="2026-11-10"),
        {"kind": "build", "id": "b"},
        "not an object",
    ]
    answer = c.post("/api/v1/events", json=batch, headers=bearer(ADMIN))
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "3 invalid event(s); nothing was written"
    assert [p["index"] for p in body["invalid"]] == [1, 2, 3]
    assert body["invalid"][0]["reason"] == "started_at: Input should have timezone info"
    assert "pipeline: Field required" in body["invalid"][1]["reason"]
    with session_scope(context.sessions) as s:
        assert s.scalar(select(func.count()).select_from(tables.Deployment)) == 0
        assert s.scalars(select(tables.CollectorRun.status)).all() == ["failed"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 422, "the body is not valid JSON (UTF-8)"),
        (b"\xff\xfe", 422, "the body is not valid JSON (UTF-8)"),
        (b"[" * 100_000 + b"]" * 100_000, 422, "the body is nested too deeply to be an event"),
        (b"[]", 422, "the body holds no event"),
        (
            b" " * (10 * 1024 * 1024 + 1),
            413,
            "the request body is larger than 10485760 bytes, the limit here",
        ),
    ],
)
def test_malformed_event_bodies_are_refused_without_a_server_error(
    context: AppContext, body: bytes, status: int, detail: str
) -> None:
    c = client(context, admin_token=ADMIN)
    answer = c.post(
        "/api/v1/events",
        content=body,
        headers=bearer(ADMIN) | {"Content-Type": "application/json"},
    )
    assert answer.status_code == status
    assert answer.json()["detail"] == detail


# --- pages, headers, secrets --------------------------------------------------------------


def test_pages_show_what_the_store_holds_and_escape_every_source_text(
    context: AppContext,
) -> None:
    webstore.seed_demo(context, hostile=True)
    c = client(context)
    home = c.get("/").text
    assert '<a href="/environments?team=payments">environments</a>' in home
    env = c.get("/environments").text
    collection = c.get("/collection").text
    for page in (env, collection):
        assert webstore.XSS_SCRIPT not in page
        assert webstore.XSS_IMG not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in env
    assert "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;" in env
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in collection
    # The chart's JSON cannot close its <script> element.
    block = env.split('data-plotly-target="chart-deployments-weekly">')[1].split("</script>")[0]
    assert "<" not in block
    assert json.loads(block)["data"]


def test_chart_names_on_a_page_go_through_the_reports_escaper(context: AppContext) -> None:
    """One escaper for pages and reports: quotes are escaped too (``quote=True``)."""
    hostile = "prod \"eu\" <b>x</b> & 'y'"
    webstore.ingest(context, webstore.deployment("h1", "payments-api", hostile, 10))
    env = client(context).get("/environments").text
    block = env.split('data-plotly-target="chart-deployments-weekly">')[1].split("</script>")[0]
    names = [trace["name"] for trace in json.loads(block)["data"]]
    # html.escape by hand: " -> &quot;, < -> &lt;, > -> &gt;, & -> &amp;, ' -> &#x27;
    escaped = "prod &quot;eu&quot; &lt;b&gt;x&lt;/b&gt; &amp; &#x27;y&#x27;"
    assert names == [escaped]
    assert charts.label(hostile) == escaped  # what the reports' figures use


def test_every_response_carries_the_security_headers(context: AppContext) -> None:
    c = client(context, admin_token=ADMIN)
    answers = [
        c.get("/"),
        c.get("/environments"),
        c.get("/api/v1/teams"),
        c.get("/api/v1/teams/nobody"),
        c.get("/api/v1/collector-runs?limit=-1"),
        c.get("/static/app.css"),
        c.get("/vendor/plotly.min.js"),
        c.get("/nowhere"),
        c.post("/api/v1/events", json={}),
    ]
    for answer in answers:
        h = answer.headers
        assert "script-src 'self';" in h["content-security-policy"]
        assert "default-src 'self'" in h["content-security-policy"]
        assert (
            "unsafe-inline" not in h["content-security-policy"].split("script-src")[1].split(";")[0]
        )
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
    assert answers[0].headers["cache-control"] == "no-store"


def test_no_token_appears_in_any_response(context: AppContext) -> None:
    webstore.seed_demo(context)
    c = client(context, admin_token=ADMIN, viewer_token=VIEWER, ingest_token=INGEST)
    seen: list[str] = []
    for url in [*READ_URLS, "/api/v1/openapi.json", "/api/v1/freshness", "/login"]:
        for headers in ({}, bearer(VIEWER), bearer(ADMIN)):
            answer = c.get(url, headers=headers)
            seen.append(answer.text + json.dumps(dict(answer.headers)))
    seen.append(
        c.post("/login", data={"token": VIEWER}, follow_redirects=False).headers["set-cookie"]
    )
    seen.append(c.post("/api/v1/events", json={}, headers=bearer(INGEST)).text)
    for body in seen:
        for token in (ADMIN, VIEWER, INGEST):
            assert token not in body


def test_plotly_js_is_served_from_the_installed_package(context: AppContext) -> None:
    answer = client(context).get("/vendor/plotly.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.content == PLOTLY_JS.read_bytes()


def test_the_openapi_document_describes_every_api_route(context: AppContext) -> None:
    doc: dict[str, Any] = client(context).get("/api/v1/openapi.json").json()
    assert set(doc["paths"]) == {
        "/api/v1/teams",
        "/api/v1/teams/{slug}",
        "/api/v1/collector-runs",
        "/api/v1/freshness",
        "/api/v1/environments",
        "/api/v1/deployments/weekly",
        "/api/v1/events",
        "/api/v1/levels",
        "/api/v1/teams/{slug}/levels",
        "/api/v1/snapshots",
        "/api/v1/metrics",
        "/api/v1/model",
        "/api/v1/dimensions/{dim_id}",
        "/api/v1/actions/collect",
        "/api/v1/actions/score",
        "/api/v1/actions/{job_id}",
        "/api/v1/surveys",
        "/api/v1/surveys/{public_id}/close",
        "/api/v1/surveys/{public_id}/responses",
        "/api/v1/teams/{slug}/surveys",
    }
    ok = doc["paths"]["/api/v1/environments"]["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/EnvironmentsPublic"}
    assert "text/csv" in ok
    body = doc["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 2
    assert {"BuildEvent", "DeploymentEvent", "IncidentEvent"} <= set(doc["components"]["schemas"])
    levels = doc["paths"]["/api/v1/teams/{slug}/levels"]["get"]["responses"]["200"]["content"]
    assert levels["application/json"]["schema"] == {"$ref": "#/components/schemas/TeamLevelsPublic"}
    assert doc["paths"]["/api/v1/model"]["post"]["requestBody"]["content"]["text/plain"]


def test_a_broken_store_is_a_500_that_tells_nothing_about_internals(
    context: AppContext,
) -> None:
    with session_scope(context.sessions) as s:
        s.execute(text("DROP TABLE collector_runs"))
    app = create_app(context, settings=WebSettings())
    c = TestClient(app, raise_server_exceptions=False)
    api = c.get("/api/v1/collector-runs")
    assert (api.status_code, api.json()) == (500, {"detail": "internal error; see the server log"})
    page = c.get("/collection")
    assert page.status_code == 500
    for answer in (api, page):
        assert "collector_runs" not in answer.text
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")


def test_an_empty_store_shows_its_teams_and_says_nothing_was_collected(
    context: AppContext,
) -> None:
    home = client(context).get("/").text
    assert '<table id="teams">' in home
    assert '<span class="muted">events:</span> payments-*' in home
    assert home.count('<td class="num">0</td>') == 6  # no build, deployment, incident yet
    assert "Nothing has been collected yet." in home
    assert client(context).get("/api/v1/freshness").json() == []
