"""The FastAPI application: pages, the JSON API under /api/v1, static files and plotly.js."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import plotly
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from maturity import wiring
from maturity.context import AppContext
from web import api, pages, templating
from web.api import events as events_api
from web.body_limit import BodyLimit
from web.cache import ResponseCache
from web.jobs import Jobs
from web.pages import reports as report_pages
from web.pdfs import PdfRenderer
from web.security import HEADERS, FailureLimiter, SecurityHeaders
from web.settings import WebSettings
from web.surveys import api as surveys_api

log = logging.getLogger("web")
STATIC_DIR = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
API_PREFIX = "/api/"
_TITLES = {
    401: "Log in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    422: "Bad parameter",
    429: "Too many attempts",
    503: "Busy",
}


def create_app(
    context: AppContext | None = None, *, settings: WebSettings | None = None
) -> FastAPI:
    """Build the web application.

    Args:
        context: the configuration and store to serve; by default the one ``MATURITY_CONFIG``
            or ./maturity.toml describes (closed with the application).
        settings: tokens and display settings; by default read from ``MATURITY_*_TOKEN``.
    """
    wiring.wire()
    owned = context is None
    ctx = context or AppContext()
    settings = settings or WebSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        held = getattr(app.state, "survey_holder", None)
        if held is not None:  # writes the held survey answers that reach k; see survey_batches
            await run_in_threadpool(held.stop)
        if owned:
            ctx.close()

    app = FastAPI(
        title="devops-maturity",
        summary="DevOps maturity of teams from the data of git, CI and issue trackers.",
        version="1",
        openapi_url="/api/v1/openapi.json",
        # Swagger UI and ReDoc load script from a CDN and inline; the CSP forbids both.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.state.settings = settings
    app.state.jobs = Jobs()  # background actions, one at a time
    app.state.auth_failures = FailureLimiter()  # failed logins and bearer tokens per address
    app.state.pdfs = PdfRenderer(ctx.config.web.pdf_browsers)  # browsers at once, PDFs kept
    # Inside SecurityHeaders (added last, so outermost): kept answers get the same headers.
    app.add_middleware(ResponseCache, context=ctx, settings=settings)
    app.add_middleware(BodyLimit)  # every route: a body past its limit is refused while read
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    app.include_router(surveys_api.router, prefix=api.PREFIX)
    app.include_router(pages.router())
    app.include_router(report_pages.router, include_in_schema=False)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        # From the installed plotly package, so that no page ever loads script from the network.
        return FileResponse(
            PLOTLY_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _store_error)
    app.add_exception_handler(Exception, _server_error)
    app.openapi = _openapi_with_event_schemas(app)  # type: ignore[method-assign]
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if _wants_json(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    if exc.status_code == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return templating.render(
            request,
            "login.html",
            {"next": target, "failed": False},
            status_code=401,
        )
    response = _error_page(request, exc.status_code, [str(exc.detail)])
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":  # 429 and 503 say when to come back, pages too
            response.headers[name] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if _wants_json(request):
        # No 'input' echo and no exception objects: only where and what.
        detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in errors]
        return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
    lines = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in errors]
    return _error_page(request, 422, lines)


#: how long a client is asked to wait when the store is busy with a long write
BUSY_RETRY_AFTER_S = 10


def store_busy(exc: BaseException) -> bool:
    """Whether a database error means another writer holds the store (worth a retry)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return (
        "database is locked" in text
        or "database table is locked" in text
        or "lock timeout" in text
        or "could not obtain lock" in text
    )


async def _store_error(request: Request, exc: Exception) -> Response:
    if not store_busy(exc):
        return await _server_error(request, exc)
    # SQLite has one writer: a long ingest or collection holds it past the busy timeout.
    log.warning("store busy answering %s %s: %s", request.method, request.url.path, exc)
    detail = "the store is busy with another write (an ingest or a collection); retry shortly"
    headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)}
    response: Response
    if _wants_json(request):
        response = JSONResponse({"detail": detail}, status_code=503, headers=headers)
    else:
        response = _error_page(request, 503, [detail])
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log; the answer says nothing about internals.
    log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
    response: Response
    if _wants_json(request):
        response = JSONResponse({"detail": "internal error; see the server log"}, status_code=500)
    else:
        response = _error_page(request, 500, ["Something went wrong; the server log says what."])
    # This answer leaves through Starlette's outermost middleware, around SecurityHeaders.
    for name, value in HEADERS:
        response.headers[name.decode()] = value.decode()
    response.headers["cache-control"] = "no-store"
    return response


def _error_page(request: Request, status: int, lines: list[str]) -> Response:
    return templating.render(
        request,
        "error.html",
        {"status_code": status, "title": _TITLES.get(status, "Error"), "lines": lines},
        status_code=status,
    )


def _openapi_with_event_schemas(app: FastAPI) -> Any:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                events_api.COMPONENTS
            )
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
