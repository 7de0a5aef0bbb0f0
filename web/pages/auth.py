"""Login for browsers: the viewer token entered once becomes an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from web import security
from web.deps import SettingsDep
from web.pages import render

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
    token: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the viewer token and remember it in a cookie (a digest, never the token itself)."""
    target = safe_next(next)
    viewer = settings.viewer_token
    if viewer is None:
        return RedirectResponse(target, status_code=303)
    if not (
        security.token_matches(token, viewer) or security.token_matches(token, settings.admin_token)
    ):
        return render(request, "login.html", {"next": target, "failed": True}, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        security.COOKIE,
        security.cookie_value(viewer),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the login cookie."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(security.COOKIE, path="/", httponly=True, samesite="strict")
    return response
