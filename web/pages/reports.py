"""A team's retrospective report as a download: HTML, Markdown or PDF, from ``reports.build``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import Response

from maturity import model as model_mod
from maturity.store.engine import session_scope
from reports import build, flows, render
from web import pdfs
from web.deps import ContextDep, SessionDep, ViewerDep
from web.params import Slug

router = APIRouter()

MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
}


#: the generation time of the HTML a kept PDF is identified by (any fixed time would do)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@router.get("/teams/{slug}/report")
def team_report(
    request: Request,
    slug: Slug,
    session: SessionDep,
    context: ContextDep,
    _viewer: ViewerDep,
    format: Annotated[Literal["html", "md", "pdf"], Query()] = "html",
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """The report of the team ``slug`` for the period asked (default: as ``maturity report``)."""
    model = model_mod.load(context.config.model_path())
    try:
        report = flows.build_for(
            session, context.config, model, team=slug, start=from_, end=to, today=dt.date.today()
        )
    except build.ReportError as exc:
        status = 404 if str(exc).startswith("no team") else 422
        raise HTTPException(status, str(exc)) from None
    if report.slug != slug:  # a name matched, not the slug: the address names slugs only
        raise HTTPException(404, f"no team with the slug {slug!r}")
    renderer: pdfs.PdfRenderer = request.app.state.pdfs
    fresh = True
    try:
        if format == "pdf":
            # The same report (team, period, data; not the time it was generated) gives the
            # same file: kept, it needs no browser and is no new report run.
            key = pdfs.PdfRenderer.key(
                report.slug, report.start, report.end, render.to_html(report, generated=_EPOCH)
            )
            fresh = renderer.get(key) is None
            body = renderer.render(key, lambda: render.render_bytes(report, format))
        else:
            body = render.render_bytes(report, format)
    except render.ChromiumMissing as exc:
        # The same one sentence as 'maturity report' prints: what to install.
        raise HTTPException(503, str(exc)) from None
    except pdfs.Busy as exc:
        raise HTTPException(
            503,
            f"{exc}; try again in a minute",
            headers={"Retry-After": str(pdfs.RETRY_AFTER_S)},
        ) from None
    if fresh:
        with session_scope(context.sessions) as writer:
            flows.record(writer, report, format)
    # The file name comes from the slug and dates only, never from a team's display name.
    name = f"report-{report.slug}-{report.start}-{report.end}.{format}"
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
