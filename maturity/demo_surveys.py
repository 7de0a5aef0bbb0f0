"""The demo's self-assessment rounds: each demo team answers three rounds over its two years.

Answers follow how the team works (the payments team agrees with most good-practice
statements, the mobile team with few) and improve a little from round to round, so that the
survey criteria of the model, the perception gaps and the trends of the demo have data. They go
through the same checks and shuffled batch writing as real answers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from maturity import survey_batches, surveys
from maturity.model import Model
from maturity.store import tables
from maturity.store.engine import session_scope

#: the mean answer (1-5) each demo team gives in its first round
OUTLOOK: Mapping[str, float] = {
    "payments": 4.3,
    "search": 3.7,
    "platform": 3.4,
    "data": 2.9,
    "mobile": 2.2,
}
RESPONSES = 6
#: weeks before the demo's end at which each round opens
ROUNDS_AT_WEEKS = (78, 40, 8)


def answer_rounds(sessions: sessionmaker[Session], model: Model, *, end: dt.date, seed: int) -> int:
    """Open and answer the demo rounds once (a second call adds nothing); returns rounds made."""
    with session_scope(sessions) as session:
        if session.scalar(select(tables.SurveyRound.id).limit(1)) is not None:
            return 0
        teams = dict(session.execute(select(tables.Team.name, tables.Team.id)).all())
    questions = surveys.questions_for_model(model)
    made = 0
    for name, outlook in OUTLOOK.items():
        if name not in teams:
            continue
        rng = random.Random(f"{seed}:survey:{name}")
        for step, weeks in enumerate(ROUNDS_AT_WEEKS):
            opened_on = end - dt.timedelta(weeks=weeks)
            with session_scope(sessions) as session:
                opened = surveys.open_round(
                    session,
                    team_id=teams[name],
                    questions=questions,
                    links=RESPONSES,
                    model_version=model.version,
                    k=5,
                    today=opened_on,
                )
            sheets = []
            for token in opened.tokens:
                answers: dict[str, int | None] = {}
                for q in questions:
                    if rng.random() < 0.08:
                        answers[q.id] = None  # "don't know"
                        continue
                    value = outlook + 0.25 * step + rng.gauss(0, 0.6)
                    answers[q.id] = min(5, max(1, round(value)))
                sheets.append((token, answers, None))
            survey_batches.write_answers(
                sessions, opened.public_id, sheets, today=opened_on + dt.timedelta(days=2)
            )
            with session_scope(sessions) as session:
                surveys.close_round(session, opened.public_id)
            made += 1
    return made
