"""Login for browsers: the viewer token entered once opens a session, whose random id an HttpOnly,
SameSite=Strict cookie holds; logging out deletes the session."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from maturity.store import write
from maturity.store.engine import session_scope
from web import deps, security
from web.deps import ContextDep, SettingsDep
from web.templating import render

router = APIRouter()
Next = Annotated[str, Query(max_length=2000)]
COOKIE_MAX_AGE = 30 * 24 * 3600


def safe_next(path: str) -> str:
    """Where to go after login: a path on this site only (never //host or a scheme)."""
    if not path.startswith("/") or path.startswith(("//", "/\\")) or "\\" in path:
        return "/"
    return path


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: Next = "/") -> Response:
    """The login form (only useful when MATURITY_VIEWER_TOKEN is set)."""
    if settings.viewer_token is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "failed": False})


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    context: ContextDep,
    token: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the viewer token and open a session: the cookie holds a random id, the store its
    digest (never the token); too many failures from one address answer 429."""
    target = safe_next(next)
    viewer = settings.viewer_token
    if viewer is None:
        return RedirectResponse(target, status_code=303)
    deps.check_attempts(request)
    if not (
        security.token_matches(token, viewer) or security.token_matches(token, settings.admin_token)
    ):
        deps.failures(request).fail(deps.client_address(request))
        return render(request, "login.html", {"next": target, "failed": True}, status_code=401)
    session_id = security.new_session_id()
    digest = security.session_digest(session_id)
    now = dt.datetime.now(dt.UTC)
    with session_scope(context.sessions) as session:
        write.open_login_session(
            session,
            id_hash=digest,
            role="viewer",
            binding=security.session_binding(viewer, digest),
            expires_at=now + dt.timedelta(seconds=COOKIE_MAX_AGE),
            now=now,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        security.COOKIE,
        session_id,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        # https as the client used it: behind a proxy listed in [web] trusted_proxies, uvicorn
        # takes the scheme from its X-Forwarded-Proto
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, context: ContextDep) -> Response:
    """End the session: its row is deleted, so the cookie (or any copy of it) stops working."""
    session_id = request.cookies.get(security.COOKIE)
    if session_id and len(session_id) <= 200:
        with session_scope(context.sessions) as session:
            write.close_login_session(session, id_hash=security.session_digest(session_id))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        security.COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
