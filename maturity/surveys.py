"""Anonymous self-assessment surveys: rounds, one-time tokens, answers, and the k-anonymity rule.

Anonymity is built into what is stored and how it is written, not promised by who reads it:

* a response row holds its round, its answers and an optional comment, under a random id;
  no token, account, address, user agent or time is kept with it;
* a token is kept only as a SHA-256 hash; spending it flips ``spent`` in another table that
  nothing in the response points to;
* an accepted answer is not written at once: :mod:`maturity.survey_batches` holds it in the
  server's memory and writes answers only in shuffled batches of at least ``k``, together with
  spending exactly their tokens (:func:`check_offer` is the read-only check before holding);
* no result of a round (mean, count per option, comment) leaves this module until the round has
  at least ``k`` responses, no question's figures until it has ``k`` ratings, and comments leave
  it shuffled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import random
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from maturity.store import tables

DEFAULT_K = 5
#: below three responses a mean is one person's answer in disguise
MIN_K = 3
SCALE = (1, 2, 3, 4, 5)
SCALE_LABELS = {
    1: "strongly disagree",
    2: "disagree",
    3: "neither",
    4: "agree",
    5: "strongly agree",
}
MAX_COMMENT = 2_000
MAX_LINKS = 1_000

_rng = random.SystemRandom()


class SurveyError(Exception):
    """A survey operation that cannot be done; the message can be shown to the person."""


class UnknownRound(SurveyError):
    pass


class RoundClosed(SurveyError):
    pass


class InvalidToken(SurveyError):
    """The token is unknown or already spent: one error for both, so probing learns nothing."""


class AlreadyHeld(InvalidToken):
    """This server process already holds an answer for the token, waiting for its batch."""


class InvalidAnswers(SurveyError):
    pass


@dataclass(frozen=True)
class Question:
    """One statement rated on the 1-5 agreement scale (or "don't know")."""

    id: str
    text: str
    dimension: str | None = None
    criterion_id: str | None = None
    cams: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "dimension": self.dimension,
            "criterion_id": self.criterion_id,
            "cams": self.cams,
        }


#: Culture, Automation, Measurement, Sharing: asked in every round beside the model's questions.
CAMS_QUESTIONS: tuple[Question, ...] = (
    Question(
        "cams.culture",
        "When something breaks, we look for causes in the system, not for someone to blame.",
        cams="culture",
    ),
    Question(
        "cams.automation",
        "Repetitive work on our way to production (builds, tests, deployments) is automated.",
        cams="automation",
    ),
    Question(
        "cams.measurement",
        "We look at data about our delivery (build health, deployments, incidents) to decide "
        "what to improve.",
        cams="measurement",
    ),
    Question(
        "cams.sharing",
        "Knowledge is shared openly across the team and with other teams (docs, demos, "
        "retrospectives).",
        cams="sharing",
    ),
)


def hash_token(token: str) -> str:
    """The stored form of a token. Tokens carry 128 random bits, so no salt is needed."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


@dataclass(frozen=True)
class OpenedRound:
    public_id: str
    tokens: list[str]


def open_round(
    session: Session,
    *,
    team_id: int,
    questions: Sequence[Question],
    links: int,
    model_version: str,
    k: int = DEFAULT_K,
    closes_on: dt.date | None = None,
    today: dt.date | None = None,
) -> OpenedRound:
    """Open a round for a team and mint ``links`` one-time tokens (returned once, never stored)."""
    today = today or dt.date.today()
    if k < MIN_K:
        raise SurveyError(f"k must be at least {MIN_K} (got {k}): fewer answers identify people")
    if not 1 <= links <= MAX_LINKS:
        raise SurveyError(f"links must be between 1 and {MAX_LINKS} (got {links})")
    if links < k:
        raise SurveyError(
            f"{links} link(s) can never reach k={k} responses; hand out at least {k} links"
        )
    if closes_on is not None and closes_on <= today:
        raise SurveyError(f"the closing date {closes_on} is not in the future")
    if not questions:
        raise SurveyError("a round needs at least one question")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise SurveyError("question ids must be unique within a round")
    public_id = secrets.token_urlsafe(9)
    while public_id.startswith("-"):  # a leading '-' would read as an option on a command line
        public_id = secrets.token_urlsafe(9)
    survey = tables.SurveyRound(
        public_id=public_id,
        team_id=team_id,
        opened_on=today,
        closes_on=closes_on,
        closed=False,
        k=k,
        questions={"questions": [q.as_dict() for q in questions]},
        model_version=model_version,
    )
    session.add(survey)
    session.flush()
    tokens = [secrets.token_urlsafe(16) for _ in range(links)]
    session.execute(
        insert(tables.SurveyToken),
        [{"round_id": survey.id, "token_hash": hash_token(t), "spent": False} for t in tokens],
    )
    return OpenedRound(public_id=public_id, tokens=tokens)


def get_round(session: Session, public_id: str) -> tables.SurveyRound:
    if "\x00" in public_id:  # no round has one, and PostgreSQL refuses NUL in a text parameter
        raise UnknownRound("this survey does not exist")
    found = session.scalar(
        select(tables.SurveyRound).where(tables.SurveyRound.public_id == public_id)
    )
    if found is None:
        raise UnknownRound("this survey does not exist")
    return found


def questions_of(survey: tables.SurveyRound) -> list[Question]:
    return [Question(**q) for q in survey.questions["questions"]]


def is_open(survey: tables.SurveyRound, today: dt.date | None = None) -> bool:
    """A round is open until it is closed or its closing date has come."""
    today = today or dt.date.today()
    return not survey.closed and (survey.closes_on is None or today < survey.closes_on)


def close_round(session: Session, public_id: str) -> None:
    get_round(session, public_id).closed = True


def validate_answers(
    survey: tables.SurveyRound, answers: Mapping[str, Any], comment: str | None
) -> tuple[dict[str, int | None], str | None]:
    """Check answers against the round's questions; returns them cleaned, or raises."""
    known = {q.id for q in questions_of(survey)}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise InvalidAnswers(f"unknown question(s): {', '.join(unknown[:5])}")
    cleaned: dict[str, int | None] = {}
    for qid in sorted(known):
        value = answers.get(qid)
        if value is None or value == "" or value == "dont_know":
            cleaned[qid] = None
            continue
        if isinstance(value, bool):
            raise InvalidAnswers(f"{qid}: expected 1-5 or don't know")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidAnswers(f"{qid}: expected 1-5 or don't know") from None
        if number not in SCALE or str(value).strip() not in (str(number), f"{number}.0"):
            raise InvalidAnswers(f"{qid}: {value!r} is outside the 1-5 scale")
        cleaned[qid] = number
    if comment is not None:
        comment = "".join(
            ch for ch in comment if ch in "\n\t" or unicodedata.category(ch)[0] != "C"
        ).strip()
        if len(comment) > MAX_COMMENT:
            raise InvalidAnswers(f"the comment is longer than {MAX_COMMENT} characters")
        comment = comment or None
    return cleaned, comment


@dataclass(frozen=True)
class Held:
    """An accepted answer sheet waiting for its batch: its token's hash, answers and comment.

    It lives only in the memory of the server process that accepted it, never in the store.
    """

    token_hash: str
    answers: dict[str, int | None]
    comment: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # a log line or a traceback never shows an answer
        return "Held(...)"


def check_offer(
    session: Session,
    *,
    public_id: str,
    token: str,
    answers: Mapping[str, Any],
    comment: str | None = None,
    today: dt.date | None = None,
) -> tuple[tables.SurveyRound, Held]:
    """Check one answer sheet against its round and token, reading only; returns it to hold.

    Nothing is written: the token stays valid until the sheet is written in a batch.

    Raises:
        UnknownRound, RoundClosed, InvalidAnswers, or InvalidToken (unknown or already spent).
    """
    survey = get_round(session, public_id)
    if not is_open(survey, today):
        raise RoundClosed("this survey is closed")
    cleaned, comment = validate_answers(survey, answers, comment)
    hashed = hash_token(token)
    found = session.scalar(
        select(tables.SurveyToken.id).where(
            tables.SurveyToken.round_id == survey.id,
            tables.SurveyToken.token_hash == hashed,
            tables.SurveyToken.spent.is_(False),
        )
    )
    if found is None:
        raise InvalidToken("this link is unknown or was already used")
    return survey, Held(token_hash=hashed, answers=cleaned, comment=comment)


def link_counts(session: Session, round_id: int) -> tuple[int, int]:
    """How many links the round has, and how many of them are spent (answers written)."""
    T = tables.SurveyToken
    row = session.execute(
        select(func.count(), func.count().filter(T.spent.is_(True))).where(T.round_id == round_id)
    ).one()
    return int(row[0]), int(row[1])


def response_count(session: Session, round_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(tables.SurveyResponse)
            .where(tables.SurveyResponse.round_id == round_id)
        )
        or 0
    )


@dataclass(frozen=True)
class QuestionResult:
    """One question's figures; all None when fewer than k people rated it (``hidden``).

    "Don't know" is not a rating: a question that k people saw but fewer than k rated shows no
    mean, no count per option and no split between ratings and "don't know".
    """

    question: Question
    counts: dict[int, int] | None
    dont_know: int | None
    mean: float | None
    answered: int | None

    @property
    def hidden(self) -> bool:
        return self.answered is None


@dataclass(frozen=True)
class RoundResults:
    """What may be shown of a round. ``visible`` is False until ``responses >= k``.

    ``responses`` counts the answers written, in batches of at least k, so it and every
    figure here change only in steps of at least k: reading between two batches gives the same
    numbers, and nothing tells one answer from the others of its batch.
    """

    public_id: str
    team_id: int
    opened_on: dt.date
    responses: int
    k: int
    visible: bool
    questions: list[QuestionResult] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def needed(self) -> int:
        """How many more responses before anything is shown."""
        return max(0, self.k - self.responses)


def results(session: Session, public_id: str) -> RoundResults:
    """The round's results, or only its response count while it is below k.

    A question rated (1-5, not "don't know") by fewer than k people is hidden (see
    :class:`QuestionResult`), here and so in every page, export, report and score built on it.
    """
    survey = get_round(session, public_id)
    responses = list(
        session.scalars(
            select(tables.SurveyResponse).where(tables.SurveyResponse.round_id == survey.id)
        )
    )

    def result(visible: bool, **shown: Any) -> RoundResults:
        return RoundResults(
            public_id=survey.public_id,
            team_id=survey.team_id,
            opened_on=survey.opened_on,
            responses=len(responses),
            k=survey.k,
            visible=visible,
            **shown,
        )

    if len(responses) < survey.k:
        return result(False)
    per_question = []
    for question in questions_of(survey):
        values = [r.answers.get(question.id) for r in responses]
        rated = [v for v in values if v is not None]
        if len(rated) < survey.k:
            per_question.append(QuestionResult(question, None, None, None, None))
            continue
        per_question.append(
            QuestionResult(
                question=question,
                counts={s: rated.count(s) for s in SCALE},
                dont_know=len(values) - len(rated),
                mean=sum(rated) / len(rated),
                answered=len(rated),
            )
        )
    comments = [r.comment for r in responses if r.comment]
    _rng.shuffle(comments)
    return result(True, questions=per_question, comments=comments)


def criterion_aggregates(session: Session, team_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Survey answers per team, round and model criterion, for scoring: k-gated like any result.

    Returns:
        columns team_id, opened_on, public_id, criterion_id, mean, n (answers other than
        "don't know"); only rounds with at least k responses, and of them only questions with
        at least k ratings, appear.
    """
    stmt = select(tables.SurveyRound)
    if team_ids is not None:
        stmt = stmt.where(tables.SurveyRound.team_id.in_(list(team_ids)))
    rows = []
    for survey in session.scalars(stmt):
        result = results(session, survey.public_id)
        if not result.visible:
            continue
        for q in result.questions:
            if q.question.criterion_id is None or q.mean is None or q.answered is None:
                continue  # a hidden question (fewer than k ratings) scores nothing
            rows.append(
                {
                    "team_id": survey.team_id,
                    "opened_on": survey.opened_on,
                    "public_id": survey.public_id,
                    "criterion_id": q.question.criterion_id,
                    "mean": q.mean,
                    "n": q.answered,
                }
            )
    columns = ["team_id", "opened_on", "public_id", "criterion_id", "mean", "n"]
    return pd.DataFrame(rows, columns=columns)


class SubmissionLimiter:
    """At most ``limit`` accepted answers per round per ``window_s``; no address is looked at.

    Only answers that were accepted count: a slot is reserved before the attempt and released
    when it fails (unknown or spent link, bad answers, closed round), so a flood of junk posts
    cannot lock the people with real links out.
    """

    def __init__(self, limit: int = 30, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, public_id: str, now: float | None = None) -> float | None:
        """Take a slot for one attempt; None when the round is at its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(public_id, deque())
            while seen and now - seen[0] > self.window_s:
                seen.popleft()
            if len(seen) >= self.limit:
                return None
            seen.append(now)
            return now

    def release(self, public_id: str, slot: float) -> None:
        """Give back the slot of an attempt that failed."""
        with self._lock:
            seen = self._seen.get(public_id)
            if seen is None:
                return
            with contextlib.suppress(ValueError):  # already expired from the window
                seen.remove(slot)
            if not seen:
                del self._seen[public_id]  # made-up round ids leave nothing behind

    def allow(self, public_id: str, now: float | None = None) -> bool:
        """Take a slot that is never given back."""
        return self.reserve(public_id, now) is not None


def questions_for_model(model: Any) -> list[Question]:
    """The questions of a round: every survey criterion of the model, then the CAMS four."""
    found = [
        Question(
            id=f"q.{criterion.id}",
            text=criterion.survey.question,
            dimension=dimension.id,
            criterion_id=criterion.id,
        )
        for dimension, _level, criterion in model.criteria()
        if criterion.survey is not None
    ]
    return [*found, *CAMS_QUESTIONS]


@dataclass(frozen=True)
class RoundSummary:
    """A round as it may be listed: never a result, only how far it is from k."""

    public_id: str
    team_id: int
    team: str
    opened_on: dt.date
    closes_on: dt.date | None
    open: bool
    responses: int
    k: int

    @property
    def needed(self) -> int:
        return max(0, self.k - self.responses)


def list_rounds(
    session: Session, *, team_id: int | None = None, today: dt.date | None = None
) -> list[RoundSummary]:
    """Every round (of a team), newest first, with its response count and open state."""
    stmt = select(tables.SurveyRound, tables.Team.name).join(
        tables.Team, tables.Team.id == tables.SurveyRound.team_id
    )
    if team_id is not None:
        stmt = stmt.where(tables.SurveyRound.team_id == team_id)
    stmt = stmt.order_by(tables.SurveyRound.opened_on.desc(), tables.SurveyRound.id.desc())
    return [
        RoundSummary(
            public_id=survey.public_id,
            team_id=survey.team_id,
            team=name,
            opened_on=survey.opened_on,
            closes_on=survey.closes_on,
            open=is_open(survey, today),
            responses=response_count(session, survey.id),
            k=survey.k,
        )
        for survey, name in session.execute(stmt)
    ]


def survey_input(
    session: Session, period_ends: Sequence[dt.date], team_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Survey aggregates per team, week and criterion for scoring (rounds that reached k).

    A round applies from the week it opened in until the next round of the team that asked the
    same criterion: for each week ending ``p``, the newest round opened on or before ``p``.
    """
    columns = ["team_id", "period_end", "criterion_id", "mean", "n"]
    agg = criterion_aggregates(session, team_ids)
    if agg.empty or not period_ends:
        return pd.DataFrame(columns=columns)
    rows = []
    for (team_id, criterion_id), group in agg.groupby(["team_id", "criterion_id"], sort=False):
        group = group.sort_values("opened_on")
        opened = list(group["opened_on"])
        for end in period_ends:
            applicable = [i for i, day in enumerate(opened) if day <= end]
            if not applicable:
                continue
            row = group.iloc[applicable[-1]]
            rows.append((team_id, end, criterion_id, float(row["mean"]), int(row["n"])))
    return pd.DataFrame(rows, columns=columns)
