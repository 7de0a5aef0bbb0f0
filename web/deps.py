"""Dependency injection of the web application, every dependency as an ``Annotated`` alias."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from maturity.context import AppContext
from maturity.store import logins
from web import security
from web.settings import ADMIN_ENV, INGEST_ENV, WebSettings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_context(request: Request) -> AppContext:
    """The configuration and store the application serves."""
    context: AppContext = request.app.state.context
    return context


def get_settings(request: Request) -> WebSettings:
    """The tokens and display settings the application was created with."""
    settings: WebSettings = request.app.state.settings
    return settings


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[WebSettings, Depends(get_settings)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """A session for one request; reads only, so it is closed without a commit."""
    session = context.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Viewer:
    """Who is reading: anyone (reading is open), a holder of the viewer token, or an admin."""

    role: Literal["anyone", "viewer", "admin"]


def client_address(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For only from a trusted proxy: uvicorn)."""
    return request.client.host if request.client else "unknown"


def failures(request: Request) -> security.FailureLimiter:
    """The application's count of failed authentication attempts per client address."""
    limiter: security.FailureLimiter = request.app.state.auth_failures
    return limiter


def check_attempts(request: Request) -> None:
    """429 with ``Retry-After`` when this client failed to authenticate too often lately."""
    wait = failures(request).retry_after(client_address(request))
    if wait is not None:
        raise HTTPException(
            429,
            "too many failed authentication attempts from this address; try again later",
            headers={"Retry-After": str(wait)},
        )


def has_session(request: Request, settings: WebSettings) -> bool:
    """Whether the login cookie names a live session opened with the current viewer token.

    Reads the store: call it from a worker thread (sync routes and dependencies are)."""
    session_id = request.cookies.get(security.COOKIE)
    if not session_id or settings.viewer_token is None or len(session_id) > 200:
        return False
    digest = security.session_digest(session_id)
    context: AppContext = request.app.state.context
    with context.sessions() as session:
        found = logins.get_login_session(session, id_hash=digest, now=dt.datetime.now(dt.UTC))
    return found is not None and security.binding_matches(found[1], settings.viewer_token, digest)


def viewer_role(
    request: Request, settings: WebSettings
) -> Literal["anyone", "viewer", "admin"] | None:
    """Who may read, from the ``Authorization: Bearer`` token or the browser's login cookie;
    None when reading needs a token and the request brings none that is valid."""
    token = security.bearer(request.headers.get("authorization"))
    if security.token_matches(token, settings.admin_token):
        return "admin"
    if settings.viewer_token is None:
        return "anyone"
    if security.token_matches(token, settings.viewer_token) or has_session(request, settings):
        return "viewer"
    return None


def require_viewer(request: Request, settings: SettingsDep) -> Viewer:
    """Let a request read if reading is open, or it brings the viewer or admin token."""
    presented = security.bearer(request.headers.get("authorization")) is not None
    if presented:
        check_attempts(request)
    role = viewer_role(request, settings)
    if role is None:
        if presented:
            failures(request).fail(client_address(request))
        raise HTTPException(401, "a viewer token is needed to read this", headers=_CHALLENGE)
    return Viewer(role)


def _bearer_checked(request: Request) -> str | None:
    token = security.bearer(request.headers.get("authorization"))
    if token is not None:
        check_attempts(request)
    return token


def _failed(request: Request, token: str | None) -> None:
    if token is not None:
        failures(request).fail(client_address(request))


def require_admin(request: Request, settings: SettingsDep) -> Viewer:
    """Let a request through only with the administrator token."""
    if settings.admin_token is None:
        raise HTTPException(403, f"administrative actions are disabled: set {ADMIN_ENV}")
    token = _bearer_checked(request)
    if security.token_matches(token, settings.admin_token):
        return Viewer("admin")
    if security.token_matches(token, settings.viewer_token):
        raise HTTPException(403, "the viewer token cannot be used for administrative actions")
    _failed(request, token)
    raise HTTPException(401, "the administrator token is needed", headers=_CHALLENGE)


def require_ingest(request: Request, settings: SettingsDep) -> Viewer:
    """Let a request send events with the ingest token or the administrator token."""
    if settings.admin_token is None and settings.ingest_token is None:
        raise HTTPException(403, f"sending events is disabled: set {INGEST_ENV} or {ADMIN_ENV}")
    token = _bearer_checked(request)
    if security.token_matches(token, settings.admin_token) or security.token_matches(
        token, settings.ingest_token
    ):
        return Viewer("admin")
    if security.token_matches(token, settings.viewer_token):
        raise HTTPException(403, "the viewer token cannot send events")
    _failed(request, token)
    raise HTTPException(401, "the ingest or administrator token is needed", headers=_CHALLENGE)


ViewerDep = Annotated[Viewer, Depends(require_viewer)]
AdminDep = Annotated[Viewer, Depends(require_admin)]
IngestDep = Annotated[Viewer, Depends(require_ingest)]
