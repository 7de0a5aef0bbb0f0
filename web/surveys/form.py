"""The public survey form: anyone with a link answers once; no login, no token in any URL.

The token comes in the POST body. The link carries it after ``#``, which browsers never send,
so no access log (ours or a proxy's) can record it; ``static/survey.js`` copies it into the
form, and without JavaScript the person pastes it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from maturity import surveys
from maturity.store.engine import session_scope
from web.deps import ContextDep, SessionDep
from web.pages import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("web.surveys")
#: a whole form is a few kilobytes; anything far larger is not an answer sheet
MAX_BODY = 64 * 1024
PUBLIC_ID = r"^[A-Za-z0-9_-]{1,64}$"


def limiter(request: Request) -> surveys.SubmissionLimiter:
    """The application's submission limiter (one per application, per round)."""
    state = request.app.state
    if getattr(state, "survey_limiter", None) is None:
        state.survey_limiter = surveys.SubmissionLimiter()
    found: surveys.SubmissionLimiter = state.survey_limiter
    return found


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


def _problem(request: Request, status: int, title: str, text: str) -> Response:
    return _no_store(
        render(
            request,
            "survey_message.html",
            {"title": title, "text": text, "status_code": status},
            status_code=status,
        )
    )


def unknown_link(request: Request) -> Response:
    return _problem(
        request,
        404,
        "Unknown survey",
        "This link does not lead to a survey. Check that you copied all of it.",
    )


def closed_round(request: Request) -> Response:
    return _problem(
        request, 410, "This survey is closed", "It no longer takes answers. Thank you anyway."
    )


def spent_token(request: Request) -> Response:
    return _problem(
        request,
        409,
        "This link cannot be used",
        "The code is unknown or was already used: each link takes one answer. If you have not "
        "answered yet, check the code, or ask for a new link.",
    )


def too_many(request: Request) -> Response:
    response = _problem(
        request,
        429,
        "Too many answers at once",
        "This survey takes a limited number of answers a minute. Please wait a minute and send "
        "the form again (go back: your answers are still there).",
    )
    response.headers["retry-after"] = "60"
    return response


@router.get("/survey/{public_id}")
def survey_form(request: Request, public_id: str, session: SessionDep) -> Response:
    """The form of a round: the model's questions and CAMS on a 1-5 scale, and a comment."""
    try:
        survey = surveys.get_round(session, public_id)
    except surveys.UnknownRound:
        return unknown_link(request)
    if not surveys.is_open(survey):
        return closed_round(request)
    return _no_store(
        render(
            request,
            "survey_form.html",
            {
                "public_id": survey.public_id,
                "questions": surveys.questions_of(survey),
                "scale": surveys.SCALE_LABELS,
                "max_comment": surveys.MAX_COMMENT,
                "closes_on": survey.closes_on,
            },
        )
    )


def parse_form(body: bytes) -> tuple[str, dict[str, Any], str | None]:
    """Token, answers (``a.<question id>`` fields) and comment of a url-encoded form body."""
    token, comment = "", None
    answers: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if name == "token":
            token = value
        elif name == "comment":
            comment = value
        elif name.startswith("a."):
            answers[name[2:]] = value
    return token, answers, comment


def record(
    request: Request, context: Any, public_id: str, token: str, answers: Any, comment: Any
) -> Response | None:
    """Spend the token and store the answers; None when it worked, else the page to show."""
    # Only rounds that exist are counted, so that made-up ids cannot fill the limiter's memory.
    session = context.sessions()
    try:
        surveys.get_round(session, public_id)
    except surveys.UnknownRound:
        return unknown_link(request)
    finally:
        session.close()
    if not limiter(request).allow(public_id):
        return too_many(request)
    try:
        with session_scope(context.sessions) as session:
            surveys.submit(
                session, public_id=public_id, token=token, answers=answers, comment=comment
            )
    except surveys.UnknownRound:
        return unknown_link(request)
    except surveys.RoundClosed:
        return closed_round(request)
    except surveys.InvalidToken:
        return spent_token(request)
    except surveys.InvalidAnswers as exc:
        return _problem(
            request,
            422,
            "These answers cannot be stored",
            f"{exc}. Go back to the form, correct it and send it again; nothing was stored "
            "and your link still works.",
        )
    with session_scope(context.sessions) as session:
        surveys.scrub(session)
    return None


@router.post("/survey/{public_id}")
async def survey_submit(request: Request, public_id: str, context: ContextDep) -> Response:
    """Store one answer sheet, then send the person to the confirmation (303, no token)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return _problem(request, 413, "Too large", "The form is far larger than any answer.")
    token, answers, comment = parse_form(body)
    if not token.strip():
        return _problem(
            request,
            422,
            "The code is missing",
            "Paste the code of your link (the part after #token=) into the form and send it again.",
        )
    problem = record(request, context, public_id, token, answers, comment)
    if problem is not None:
        return problem
    return RedirectResponse(f"/survey/{public_id}/thanks", status_code=303)


@router.get("/survey/{public_id}/thanks")
def survey_thanks(request: Request, public_id: str, session: SessionDep) -> Response:
    """What was stored and what was not."""
    try:
        surveys.get_round(session, public_id)
    except surveys.UnknownRound:
        return unknown_link(request)
    return _no_store(render(request, "survey_thanks.html", {"max_comment": surveys.MAX_COMMENT}))
