"""Survey answers for scoring: only rounds at k, each applying from its week until the next."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity import model as model_mod
from maturity import survey_batches, surveys
from maturity.store import tables
from maturity.store.engine import session_scope

pytestmark = pytest.mark.integration

MODEL = model_mod.load(None)
QUESTIONS = surveys.questions_for_model(MODEL)
CRITERION = "sc.branching_defined"


def _round(
    sessions: sessionmaker[Session], team_id: int, opened: dt.date, value: int, answers: int
) -> None:
    with session_scope(sessions) as s:
        made = surveys.open_round(
            s,
            team_id=team_id,
            questions=QUESTIONS,
            links=6,
            model_version="t",
            today=opened,
        )
    sheets = [(t, {q.id: value for q in QUESTIONS}, None) for t in made.tokens[:answers]]
    # Written as one batch when there are at least k of them, else never.
    survey_batches.write_answers(sessions, made.public_id, sheets, today=opened)


def test_questions_come_from_every_survey_criterion_of_the_model_and_cams() -> None:
    ids = [q.id for q in QUESTIONS]
    expected = [f"q.{c.id}" for c in MODEL.survey_criteria()]
    assert ids == expected + [q.id for q in surveys.CAMS_QUESTIONS]
    by_id = {q.id: q for q in QUESTIONS}
    assert by_id[f"q.{CRITERION}"].dimension == "source_control"
    assert by_id[f"q.{CRITERION}"].criterion_id == CRITERION
    assert {q.dimension for q in QUESTIONS if q.criterion_id} == {d.id for d in MODEL.dimensions}


def test_each_round_at_k_applies_from_its_week_until_the_next_round(
    sessions: sessionmaker[Session],
) -> None:
    with session_scope(sessions) as s:
        team = tables.Team(name="payments", slug="payments")
        s.add(team)
        s.flush()
        team_id = team.id
    _round(sessions, team_id, dt.date(2026, 10, 7), 2, answers=5)  # reaches k
    _round(sessions, team_id, dt.date(2026, 10, 21), 5, answers=5)  # reaches k
    _round(sessions, team_id, dt.date(2026, 11, 4), 1, answers=4)  # below k: ignored
    ends = [dt.date(2026, 10, 4) + dt.timedelta(weeks=i) for i in range(7)]
    with session_scope(sessions) as s:
        frame = surveys.survey_input(s, ends)
    mine = frame[frame["criterion_id"] == CRITERION].set_index("period_end")
    assert dt.date(2026, 10, 4) not in mine.index  # before the first round
    assert mine.loc[dt.date(2026, 10, 11), "mean"] == 2.0
    assert mine.loc[dt.date(2026, 10, 18), "mean"] == 2.0
    assert mine.loc[dt.date(2026, 10, 25), "mean"] == 5.0
    assert mine.loc[dt.date(2026, 11, 8), "mean"] == 5.0  # the round below k changes nothing
    assert mine.loc[dt.date(2026, 11, 15), "n"] == 5
    assert set(frame["team_id"]) == {team_id}


def test_round_ids_never_start_with_a_dash_so_commands_take_them_as_arguments(
    sessions: sessionmaker[Session],
) -> None:
    with session_scope(sessions) as s:
        team = tables.Team(name="payments", slug="payments")
        s.add(team)
        s.flush()
        # 1 id in 64 would start with '-' by chance: 300 rounds would show one 99 % of the time.
        ids = [
            surveys.open_round(
                s, team_id=team.id, questions=QUESTIONS, links=3, k=3, model_version="t"
            ).public_id
            for _ in range(300)
        ]
    assert len(set(ids)) == 300
    assert not [i for i in ids if i.startswith("-")]
