"""What an attacker or an unlucky operator tries: every case answers 4xx/503 with a reason in the
web, one line in the CLI; sessions are revocable; authentication failures are rate-limited."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, func, select

from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from tests import clirun, liveserver, scoredstore, webstore
from tests.clirun import run_maturity

pytestmark = pytest.mark.integration
ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], proc.stderr


# --- pages and reports that used to answer 500 --------------------------------------------


@pytest.fixture
def scored(tmp_path: Path, sqlite_url: str) -> Iterator[AppContext]:
    context = webstore.make_context(tmp_path, sqlite_url)
    scoredstore.seed_scored(context, weeks=3)  # weeks ending 2026-11-08, -15 and -22
    yield context
    context.close()


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("to=2020-01-05", "No snapshot for this team up to"),
        ("from=2030-01-01", "Weeks 2030-01-01 to the latest."),
    ],
)
def test_a_team_page_for_a_period_without_snapshots_answers_without_a_trend(
    scored: AppContext, query: str, note: str
) -> None:
    page = webstore.client(scored).get(f"/teams/alpha?{query}")
    assert page.status_code == 200
    assert note in page.text
    assert "Trend of the levels" not in page.text


NUL_REQUESTS = [
    ("POST", "/api/v1/surveys", {"team": "\x00", "links": 1}),
    ("POST", "/api/v1/surveys", {"team": "payments", "links": 1, "base_url": "http://x\x00"}),
    ("POST", "/api/v1/surveys/abc/responses", {"token": "\x00", "answers": {}}),
    ("GET", "/api/v1/teams/%00", None),
    ("GET", "/api/v1/teams/%00/surveys", None),
    ("GET", "/api/v1/teams/%00/levels", None),
    ("GET", "/api/v1/snapshots?team=%00", None),
    ("GET", "/teams/%00", None),
    ("GET", "/teams/%00/surveys", None),
    ("GET", "/teams/%00/report", None),
    ("GET", "/survey/%00", None),
    ("GET", "/survey/%00/thanks", None),
]


def test_a_nul_in_any_text_a_client_sends_is_a_4xx_on_both_stores(
    tmp_path: Path, store_url: str
) -> None:
    # PostgreSQL refuses NUL in a text parameter; a fuzzer found a 500 through the survey API
    context = webstore.make_context(tmp_path, store_url)
    try:
        webstore.seed_demo(context)
        with webstore.client(context, admin_token=ADMIN, viewer_token=VIEWER) as web:
            auth = {"Authorization": f"Bearer {ADMIN}"}
            for method, path, body in NUL_REQUESTS:
                answer = web.request(method, path, json=body, headers=auth)
                assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
            form = web.post("/survey/%00", data={"token": "t"}, headers=auth)
            assert form.status_code == 404, form.text
    finally:
        context.close()


def test_a_report_for_year_one_is_refused_with_a_reason_in_the_web_and_the_cli(
    scored: AppContext,
) -> None:
    answer = webstore.client(scored).get("/teams/alpha/report?format=md&from=0001-01-01")
    assert answer.status_code == 422
    assert "0001-01-01 is outside the dates a report covers (1970-01-01 to 2099-12-31)" in (
        answer.text
    )
    assert scored.config_path is not None
    proc = run_maturity(scored.config_path, "report", "--team", "alpha", "--from", "0001-01-01")
    _one_line_error(proc, "0001-01-01 is outside the dates a report covers")
    late = run_maturity(scored.config_path, "report", "--team", "alpha", "--to", "9999-12-31")
    _one_line_error(late, "9999-12-31 is outside the dates a report covers")


def _deep_toml(depth: int = 5000) -> str:
    return "x = " + "[" * depth + "]" * depth + "\n"


def test_a_deeply_nested_model_file_is_a_422_in_the_api_and_one_line_in_the_cli(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    answer = webstore.client(context, admin_token=ADMIN).post(
        "/api/v1/model",
        content=_deep_toml().encode(),
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert answer.status_code == 422
    assert answer.json() == {"detail": "model.toml: nested too deeply to be a model"}
    deep = tmp_path / "deep.toml"
    deep.write_text(_deep_toml(), encoding="utf-8")
    assert context.config_path is not None
    proc = run_maturity(context.config_path, "model", "check", str(deep))
    _one_line_error(proc, "deep.toml: nested too deeply to be a model")
    context.close()


def test_a_write_while_a_long_ingest_holds_the_sqlite_writer_is_a_503_with_retry_after(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)

    # A busy timeout of 0.2 s instead of 30 s, so that the test does not wait half a minute.
    @event.listens_for(context.engine, "connect")
    def _short_wait(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")  # type: ignore[attr-defined]

    context.engine.dispose()
    web = webstore.client(context, admin_token=ADMIN)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN IMMEDIATE")  # the writer's lock, as a long ingest holds it
    try:
        answer = web.post(
            "/api/v1/events",
            json=[webstore.build("b1", "payments-ci", 1)],
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    finally:
        holder.rollback()
        holder.close()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "10"
    assert "the store is busy with another write" in answer.json()["detail"]
    again = web.post(
        "/api/v1/events",
        json=[webstore.build("b1", "payments-ci", 1)],
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert again.status_code == 200, again.text
    context.close()


# --- configuration ------------------------------------------------------------------------


def test_a_config_path_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    proc = run_maturity(folder, "status")
    _one_line_error(proc, "conf.d: is a folder, not a configuration file")


def test_an_unsupported_database_url_is_one_line_and_never_shows_its_password(
    tmp_path: Path,
) -> None:
    config = tmp_path / "maturity.toml"
    config.write_text('[store]\nurl = "mysql://root:hunter2@db/maturity"\n', encoding="utf-8")
    proc = run_maturity(config, "status")
    _one_line_error(proc, "store.url: Value error, unsupported database URL (scheme 'mysql')")
    assert "hunter2" not in proc.stderr
    ok = tmp_path / "ok.toml"
    ok.write_text("[settings]\nwindow_days = 30\n", encoding="utf-8")
    env_url = clirun.run(
        [sys.executable, "-m", "maturity", "--config", str(ok), "status"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "MATURITY_DATABASE_URL": "mysql://u:hunter2@db/m"},
    )
    _one_line_error(env_url, "unsupported database 'mysql'")
    assert "hunter2" not in env_url.stderr


def test_an_empty_config_is_one_line_and_creates_no_store(tmp_path: Path) -> None:
    config = tmp_path / "maturity.toml"
    config.write_text("# nothing here yet\n", encoding="utf-8")
    proc = run_maturity(config, "status")
    _one_line_error(proc, "the configuration is empty (write one with 'maturity init')")
    assert not (tmp_path / "maturity.db").exists()


# --- CSV: one escaping rule for the CLI and the API ---------------------------------------

HOSTILE = [" =1+1", "\uff1dcmd|' /C calc'!A0", "\u3000@SUM(A1)", "\t-2+3", "+49 30 1234"]


def test_the_cli_export_and_the_api_neutralise_the_same_cells(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(
        tmp_path, sqlite_url, extra='\n[[teams]]\nname = "ops"\nservices = ["*"]\n'
    )
    webstore.ingest(
        context,
        *[webstore.deployment(f"d{i}", name, "production", 3) for i, name in enumerate(HOSTILE)],
    )
    expected = {"'" + name for name in HOSTILE}  # every one could start a formula
    api = webstore.client(context).get("/api/v1/environments?format=csv")
    assert {r["service"] for r in csv.DictReader(io.StringIO(api.text))} == expected
    assert context.config_path is not None
    out = tmp_path / "deployments.csv"
    proc = run_maturity(context.config_path, "export", "deployments", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8", newline="") as f:
        assert {r["service"] for r in csv.DictReader(f)} == expected
    context.close()


# --- ingest: streamed, in batches, all or nothing ----------------------------------------


def _build_line(i: int) -> str:
    return json.dumps(
        {
            "kind": "build",
            "id": f"b{i}",
            "pipeline": "payments-ci",
            "result": "success",
            "started_at": "2026-11-02T10:00:00Z",
        }
    )


def test_a_bad_event_on_the_last_line_writes_nothing_and_names_its_line(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    path = tmp_path / "events.jsonl"
    # 4,999 good lines: two full batches of 2,000 are written into the transaction first.
    lines = [_build_line(i) for i in range(4_999)] + ['{"kind": "build", "id": "late"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert context.config_path is not None
    proc = run_maturity(context.config_path, "ingest", str(path))
    assert proc.returncode == 2
    assert "events.jsonl: line 5000: pipeline: Field required" in proc.stderr
    assert "1 invalid line(s) in events.jsonl; nothing was written" in proc.stderr
    with session_scope(context.sessions) as s:
        assert s.scalar(select(func.count()).select_from(tables.Build)) == 0
        run = s.scalars(select(tables.CollectorRun).where(tables.CollectorRun.source == "events"))
        assert [r.status for r in run] == ["failed"]
    context.close()


def _peak_rss_kib(config: Path, events_file: Path) -> int:
    """Peak memory of ``maturity ingest`` in a process of its own, in KiB."""
    script = (
        "import resource, sys\n"
        "from maturity import cli\n"
        "sys.argv = ['maturity', '--config', sys.argv[1], 'ingest', sys.argv[2]]\n"
        "try:\n    cli.app()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(config), str(events_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=config.parent,
    )
    assert "ingested 1" in proc.stdout or "ingested 2" in proc.stdout, proc.stderr
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_ingest_memory_stays_flat_in_the_size_of_the_file(tmp_path: Path, sqlite_url: str) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    assert context.config_path is not None
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small.write_text("".join(_build_line(i) + "\n" for i in range(10_000)), encoding="utf-8")
    large.write_text("".join(_build_line(i) + "\n" for i in range(100_000)), encoding="utf-8")
    context.close()
    low = _peak_rss_kib(context.config_path, small)
    high = _peak_rss_kib(context.config_path, large)
    # Ten times the events (17 MB more file): held whole, they took ~150 MB more.
    assert high - low < 40 * 1024, (low, high)


# --- sessions, cookies and failed authentication -----------------------------------------


def _login(web: httpx.Client | object, token: str, **headers: str) -> object:
    return web.post(  # type: ignore[attr-defined]
        "/login", data={"token": token, "next": "/"}, headers=headers, follow_redirects=False
    )


def test_the_login_cookie_is_a_random_session_that_logout_revokes(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    web = webstore.client(context, viewer_token=VIEWER, follow_redirects=False)
    first = _login(web, VIEWER)
    assert first.status_code == 303  # type: ignore[attr-defined]
    cookie = web.cookies["maturity_viewer"]
    web.cookies.clear()
    _login(web, VIEWER)
    second = web.cookies["maturity_viewer"]
    assert cookie != second  # a fresh random id each time, not a digest of the token
    with session_scope(context.sessions) as s:
        stored = list(s.scalars(select(tables.LoginSession.id_hash)))
    assert len(stored) == 2 and cookie not in stored and second not in stored
    thief = webstore.client(context, viewer_token=VIEWER, follow_redirects=False)
    thief.cookies.set("maturity_viewer", cookie)
    assert thief.get("/api/v1/teams").status_code == 200
    web.cookies.clear()
    web.cookies.set("maturity_viewer", cookie)
    assert web.post("/logout").status_code == 303
    # The copied cookie stops working with the logout; the other session stays open.
    assert thief.get("/api/v1/teams").status_code == 401
    other = webstore.client(context, viewer_token=VIEWER)
    other.cookies.set("maturity_viewer", second)
    assert other.get("/api/v1/teams").status_code == 200
    # A new viewer token ends every session opened with the old one.
    rotated = webstore.client(context, viewer_token=VIEWER + "-rotated")
    rotated.cookies.set("maturity_viewer", second)
    assert rotated.get("/api/v1/teams").status_code == 401
    context.close()


def test_failed_logins_and_bearer_tokens_are_rate_limited_with_retry_after(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    web = webstore.client(context, viewer_token=VIEWER, admin_token=ADMIN, follow_redirects=False)
    for _ in range(10):
        assert _login(web, "wrong-guess-0123456789").status_code == 401  # type: ignore[attr-defined]
    refused = _login(web, VIEWER)  # even the right token: guessing must gain nothing
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert 1 <= int(refused.headers["retry-after"]) <= 300  # type: ignore[attr-defined]
    api = web.get("/api/v1/teams", headers={"Authorization": f"Bearer {VIEWER}"})
    assert api.status_code == 429
    assert "too many failed authentication attempts" in api.json()["detail"]
    # Bearer failures count too, on a fresh application (a fresh count), and an answer kept
    # for the right token is no way around the lockout.
    fresh = webstore.client(context, viewer_token=VIEWER, admin_token=ADMIN, ingest_token=INGEST)
    kept = fresh.get("/api/v1/model", headers={"Authorization": f"Bearer {VIEWER}"})
    assert kept.status_code == 200
    assert (
        fresh.get("/api/v1/model", headers={"Authorization": f"Bearer {VIEWER}"}).headers["x-cache"]
        == "hit"
    )
    for _ in range(10):
        wrong = fresh.post("/api/v1/events", json=[], headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    limited = fresh.get("/api/v1/teams", headers={"Authorization": f"Bearer {VIEWER}"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    again = fresh.get("/api/v1/model", headers={"Authorization": f"Bearer {VIEWER}"})
    assert again.status_code == 429
    # A browser without any credentials is not an attempt: it still gets the login page.
    assert fresh.get("/overview").status_code == 401
    context.close()


@pytest.mark.parametrize(
    ("trusted", "secure"), [('["127.0.0.1"]', True), ("[]", False)], ids=["trusted", "untrusted"]
)
def test_the_cookie_is_secure_when_a_trusted_proxy_says_the_client_used_tls(
    tmp_path: Path, sqlite_url: str, trusted: str, secure: bool
) -> None:
    webstore.make_context(tmp_path, sqlite_url, extra=f"\n[web]\ntrusted_proxies = {trusted}\n")
    with liveserver.maturity_serve(
        tmp_path / "maturity.toml", env={"MATURITY_VIEWER_TOKEN": VIEWER}
    ) as served:
        answer = httpx.post(
            f"{served.url}/login",
            data={"token": VIEWER, "next": "/"},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("maturity_viewer=")
    assert ("; secure" in cookie.lower()) is secure, cookie


def test_serve_refuses_a_16_letter_admin_token_of_one_letter(
    tmp_path: Path, sqlite_url: str
) -> None:
    webstore.make_context(tmp_path, sqlite_url).close()
    proc = clirun.run(
        [sys.executable, "-m", "maturity", "--config", str(tmp_path / "maturity.toml"), "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "MATURITY_ADMIN_TOKEN": "a" * 16},
        timeout=60,
        check=False,
    )
    _one_line_error(proc, "MATURITY_ADMIN_TOKEN must be at least 16 random characters")
    assert "a" * 16 not in proc.stderr
