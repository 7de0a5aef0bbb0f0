"""The survey API: open and close rounds (admin), answer (one-time token), read k-gated results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from maturity import listings, surveys
from maturity import model as model_mod
from maturity.store.engine import session_scope
from web.api.schemas import PLAIN_TEXT, Problem
from web.deps import AdminDep, ContextDep, SessionDep, ViewerDep
from web.export import CSV_RESPONSE, csv_response
from web.surveys import form, view

router = APIRouter(tags=["surveys"], responses={401: {"model": Problem}})
Slug = Annotated[str, Path(min_length=1, max_length=200, pattern=PLAIN_TEXT)]
PublicId = Annotated[str, Path(pattern=form.PUBLIC_ID)]
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv to download")]


class OpenRound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(
        min_length=1, max_length=200, pattern=PLAIN_TEXT, description="The team's URL name."
    )
    links: int = Field(ge=1, le=surveys.MAX_LINKS)
    k: int = Field(default=surveys.DEFAULT_K, ge=surveys.MIN_K, le=surveys.MAX_LINKS)
    closes_on: dt.date | None = None
    base_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=PLAIN_TEXT,
        description="Where people reach this application.",
    )


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200, pattern=PLAIN_TEXT)
    answers: dict[str, int | Literal["dont_know"] | None] = Field(max_length=500)
    comment: str | None = Field(default=None, max_length=surveys.MAX_COMMENT)


@router.post(
    "/surveys",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OpenRound.model_json_schema()}},
        }
    },
)
async def open_round(request: Request, context: ContextDep, _admin: AdminDep) -> Any:
    """Open a round for a team; the answer holds its one-time links, shown this once only."""
    # The body is read after the token check, so that nobody without it learns what it takes.
    raw = await request.body()
    if len(raw) > form.MAX_BODY:
        raise HTTPException(413, "the body is too large")
    try:
        body = OpenRound.model_validate_json(raw)
    except ValidationError as exc:
        detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise HTTPException(422, detail) from None
    opened = await run_in_threadpool(_open, context, body)
    base = (body.base_url or str(request.base_url)).rstrip("/")
    links = [f"{base}/survey/{opened.public_id}#token={t}" for t in opened.tokens]
    return JSONResponse(
        {"id": opened.public_id, "team": body.team, "k": body.k, "links": links},
        status_code=201,
        headers={"cache-control": "no-store"},
    )


def _open(context: Any, body: OpenRound) -> surveys.OpenedRound:
    try:
        m = model_mod.load(context.config.model_path())
    except model_mod.ModelError as exc:
        raise HTTPException(500, f"the model cannot be loaded: {exc}") from None
    try:
        with session_scope(context.sessions) as session:
            team_id = listings.team_id_of(session, body.team)
            if team_id is None:
                raise HTTPException(404, f"no team {body.team!r}")
            opened = surveys.open_round(
                session,
                team_id=team_id,
                questions=surveys.questions_for_model(m),
                links=body.links,
                model_version=str(m.version),
                k=body.k,
                closes_on=body.closes_on,
            )
    except surveys.SurveyError as exc:
        raise HTTPException(422, str(exc)) from None
    return opened


@router.post("/surveys/{public_id}/close")
def close_round(
    public_id: PublicId, request: Request, context: ContextDep, _admin: AdminDep
) -> Any:
    """Close a round: its unused links stop working, and the answers this server holds for it
    are written as a last batch if there are at least k of them, else discarded."""
    try:
        with session_scope(context.sessions) as session:
            surveys.close_round(session, public_id)
    except surveys.UnknownRound:
        raise HTTPException(404, "no such survey round") from None
    settled = form.holder(request).finish(public_id)
    return {
        "id": public_id,
        "open": False,
        "written": settled.written,
        "discarded": settled.discarded,
        "held": settled.held,
    }


@router.post("/surveys/{public_id}/responses", status_code=202)
def answer(public_id: PublicId, body: Answer, request: Request) -> Any:
    """Answer a round with a one-time token (in the body, never in the URL).

    202: the answer is held and will be written in a shuffled batch of at least k (the token
    stays valid until then; if the server restarts first, send it again).
    """
    taken = form.record(request, public_id, body.token, body.answers, body.comment)
    if isinstance(taken, Response):
        messages = {
            404: "no such survey round",
            409: "the token is unknown or was already used",
            410: "the survey is closed",
            429: "too many answers for this round right now; retry in a minute",
            503: "the server is shutting down; send the answer again in a minute",
        }
        detail = messages.get(taken.status_code, "the answers are not valid")
        headers = {"retry-after": "60"} if taken.status_code in (429, 503) else None
        raise HTTPException(taken.status_code, detail, headers=headers)
    return {"held": True, "k": taken.k}


@router.get("/teams/{slug}/surveys", responses=CSV_RESPONSE)
def team_surveys(
    slug: Slug, request: Request, session: SessionDep, _viewer: ViewerDep, format: Format = "json"
) -> Any:
    """A team's rounds: response counts always, results only for rounds with at least k."""
    team_id = listings.team_id_of(session, slug)
    if team_id is None:
        raise HTTPException(404, f"no team {slug!r}")
    views = view.team_rounds(session, team_id, held=form.holder(request).held)
    if format == "csv":
        return csv_response(view.csv_rows(views), view.CSV_COLUMNS, filename=f"{slug}-surveys.csv")
    return {
        "rounds": [v.as_dict() for v in views],
        "perception_gaps": [g.as_dict() for g in view.gaps(session, team_id)],
    }
