"""The public survey form: anyone with a link answers once; no login, no token in any URL.

The token comes in the POST body. The link carries it after ``#``, which browsers never send,
so no access log (ours or a proxy's) can record it; ``static/survey.js`` copies it into the
form, and without JavaScript the person pastes it.

An accepted answer is held by this process (:mod:`maturity.survey_batches`) and written later
in a shuffled batch of at least k; checking it reads the store, so it runs in a worker thread,
never on the event loop, and the batches are written by the holder's own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from maturity import survey_batches, surveys
from web.deps import SessionDep
from web.templating import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("web.surveys")
#: a whole form is a few kilobytes; anything far larger is not an answer sheet
MAX_BODY = 64 * 1024
PUBLIC_ID = r"^[A-Za-z0-9_-]{1,64}$"
_made = threading.Lock()


def limiter(request: Request) -> surveys.SubmissionLimiter:
    """The application's submission limiter (one per application, per round)."""
    state = request.app.state
    with _made:
        if getattr(state, "survey_limiter", None) is None:
            state.survey_limiter = surveys.SubmissionLimiter()
    found: surveys.SubmissionLimiter = state.survey_limiter
    return found


def holder(request: Request) -> survey_batches.Holder:
    """The application's held answers (one holder per application, stopped at its shutdown)."""
    state = request.app.state
    with _made:
        if getattr(state, "survey_holder", None) is None:
            state.survey_holder = survey_batches.Holder(state.context.sessions)
    found: survey_batches.Holder = state.survey_holder
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


def held_token(request: Request) -> Response:
    return _problem(
        request,
        409,
        "This link was already used",
        "Its answer is held by the server, waiting to be written together with others: there "
        "is nothing more to do.",
    )


def shutting_down(request: Request) -> Response:
    response = _problem(
        request,
        503,
        "The survey is restarting",
        "The server is shutting down; nothing was kept. Send the form again in a minute.",
    )
    response.headers["retry-after"] = "60"
    return response


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
    request: Request, public_id: str, token: str, answers: Any, comment: Any
) -> survey_batches.Receipt | Response:
    """Check the answers and hold them for their batch; the receipt, else the page to show.

    Reads the store: call it from a worker thread. Only accepted answers count against the
    round's rate limit.
    """
    limits = limiter(request)
    slot = limits.reserve(public_id)
    if slot is None:
        return too_many(request)
    try:
        return holder(request).offer(
            public_id=public_id, token=token, answers=answers, comment=comment
        )
    except surveys.SurveyError as exc:
        limits.release(public_id, slot)
        return refusal(request, exc)


def refusal(request: Request, exc: surveys.SurveyError) -> Response:
    """The page that says why an answer was not taken."""
    if isinstance(exc, surveys.UnknownRound):
        return unknown_link(request)
    if isinstance(exc, surveys.RoundClosed):
        return closed_round(request)
    if isinstance(exc, surveys.AlreadyHeld):
        return held_token(request)
    if isinstance(exc, surveys.InvalidToken):
        return spent_token(request)
    if isinstance(exc, surveys.InvalidAnswers):
        return _problem(
            request,
            422,
            "These answers cannot be stored",
            f"{exc}. Go back to the form, correct it and send it again; nothing was stored "
            "and your link still works.",
        )
    return shutting_down(request)


@router.post("/survey/{public_id}")
async def survey_submit(request: Request, public_id: str) -> Response:
    """Hold one answer sheet for its batch, then send the person to the confirmation (303, no
    token)."""
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
    taken = await run_in_threadpool(record, request, public_id, token, answers, comment)
    if isinstance(taken, Response):
        return taken
    return RedirectResponse(f"/survey/{public_id}/thanks", status_code=303)


@router.get("/survey/{public_id}/thanks")
def survey_thanks(request: Request, public_id: str, session: SessionDep) -> Response:
    """What happens to the answer now, what is stored and what is not."""
    try:
        survey = surveys.get_round(session, public_id)
    except surveys.UnknownRound:
        return unknown_link(request)
    return _no_store(
        render(request, "survey_thanks.html", {"max_comment": surveys.MAX_COMMENT, "k": survey.k})
    )
