"""Factories for web tests: a configured store with teams, events, commits and collector runs."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from collectors import events
from maturity import teams
from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from web.app import create_app
from web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SHA_A = "a" * 40
SHA_B = "b" * 40
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'


def make_context(tmp_path: Path, store_url: str, *, extra: str = "") -> AppContext:
    """A context on ``store_url`` whose configuration has two teams owning services."""
    config = tmp_path / "maturity.toml"
    config.write_text(
        f"[store]\nurl = {json.dumps(store_url)}\n\n"
        '[[teams]]\nname = "payments"\nservices = ["payments-*"]\n\n'
        '[[teams]]\nname = "search"\nservices = ["search-*"]\n' + extra,
        encoding="utf-8",
    )
    context = AppContext(config_path=config)
    with session_scope(context.sessions) as session:
        teams.sync(session, context.config)
    return context


def client(
    context: AppContext,
    *,
    follow_redirects: bool = True,
    stale_hours: float = 26.0,
    **tokens: str,
) -> TestClient:
    """The web application on ``context``, with tokens given as ``viewer_token=...`` etc."""
    settings = WebSettings(stale_hours=stale_hours, **{k: SecretStr(v) for k, v in tokens.items()})
    return TestClient(create_app(context, settings=settings), follow_redirects=follow_redirects)


def at(day: int, hour: int = 12) -> str:
    """An ISO time in November 2026."""
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC).isoformat()


def deployment(n: str, service: str, environment: str, day: int, **over: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": n,
        "service": service,
        "environment": environment,
        "status": "success",
        "started_at": at(day),
    } | over


def build(n: str, pipeline: str, day: int, hour: int = 12, **over: Any) -> dict[str, Any]:
    return {
        "kind": "build",
        "id": n,
        "pipeline": pipeline,
        "result": "success",
        "started_at": at(day, hour),
    } | over


def ingest(context: AppContext, *items: dict[str, Any]) -> None:
    """Write events through the same path as ``maturity ingest``."""
    parsed = events.parse_objects(list(items))
    assert parsed.invalid == [], parsed.invalid
    events.ingest(context.sessions, parsed, scope="ingest:test.jsonl")


def add_commit(session: Session, sha: str, subject: str) -> None:
    repo = tables.Repository(key=f"git:/r/{sha[:6]}", kind="git", name="repo", location="/r")
    session.add(repo)
    session.flush()
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    session.add(
        tables.Commit(
            repository_id=repo.id,
            sha=sha,
            author_hash="0" * 32,
            authored_at=when,
            author_tz_offset=0,
            committed_at=when,
            committer_tz_offset=0,
            is_merge=False,
            subject=subject,
        )
    )


def add_run(
    session: Session,
    source: str,
    scope: str,
    status: str,
    started: dt.datetime,
    *,
    records: int = 0,
    error: str | None = None,
    counts: dict[str, int] | None = None,
) -> None:
    session.add(
        tables.CollectorRun(
            source=source,
            scope=scope,
            started_at=started,
            finished_at=started + dt.timedelta(seconds=30),
            status=status,
            records=records,
            counts=counts,
            error=error,
        )
    )


def seed_demo(context: AppContext, *, hostile: bool = False) -> None:
    """A small organisation: two services through staging to production, builds, runs."""
    service = XSS_IMG if hostile else "payments-api"
    job = XSS_SCRIPT if hostile else "payments-api-build"
    now = dt.datetime.now(dt.UTC)
    recent = (now - dt.timedelta(days=3)).isoformat()
    ingest(
        context,
        build("b1", "payments-api", 10, 9, commit_sha=SHA_A, job=job, number=41),
        deployment("d1", service, "staging", 10, version="1.0", commit_sha=SHA_A),
        deployment("d2", service, "production", 11, version="1.0", commit_sha=SHA_A),
        deployment("d3", "search-web", "production", 12, version="7", commit_sha=SHA_B),
        deployment("d4", "search-web", "qa" if not hostile else XSS_SCRIPT, 12, version="7"),
        deployment("d5", "payments-worker", "production", 1, started_at=recent),
        deployment("d6", "payments-worker", "staging", 1, started_at=recent),
    )
    with session_scope(context.sessions) as session:
        add_commit(session, SHA_A, XSS_SCRIPT + " fix" if hostile else "Fix rounding")
        add_run(
            session,
            "jenkins",
            XSS_IMG if hostile else "payments/*",
            "failed",
            now - dt.timedelta(hours=1),
            error=XSS_SCRIPT if hostile else "HTTP 401 from Jenkins",
        )
        add_run(session, "jira", "PAY", "success", now - dt.timedelta(days=5), records=12)
