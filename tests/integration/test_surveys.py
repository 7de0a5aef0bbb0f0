"""Surveys: one-time tokens, unlinkable responses, and results hidden below k."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from maturity import surveys
from maturity.store import tables
from maturity.store.engine import session_scope

pytestmark = pytest.mark.integration

TODAY = dt.date(2026, 11, 2)
QUESTIONS = [
    surveys.Question("sc.review", "All our code is reviewed.", "source_control", "sc.reviews"),
    *surveys.CAMS_QUESTIONS,
]


def _team(session: Session, name: str = "payments") -> int:
    team = session.scalar(select(tables.Team).where(tables.Team.name == name))
    if team is None:
        team = tables.Team(name=name, slug=name)
        session.add(team)
        session.flush()
    return team.id


def _open(sessions: sessionmaker[Session], links: int = 8, k: int = 5) -> surveys.OpenedRound:
    with session_scope(sessions) as s:
        return surveys.open_round(
            s,
            team_id=_team(s),
            questions=QUESTIONS,
            links=links,
            k=k,
            model_version="test",
            today=TODAY,
        )


def _answer(
    sessions: sessionmaker[Session], opened: surveys.OpenedRound, token: str, value: int | None
) -> None:
    with session_scope(sessions) as s:
        surveys.submit(
            s,
            public_id=opened.public_id,
            token=token,
            answers={q.id: value for q in QUESTIONS},
            comment=f"comment {value}",
            today=TODAY,
        )


def test_a_token_can_be_spent_once(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions)
    _answer(sessions, opened, opened.tokens[0], 4)
    with pytest.raises(surveys.InvalidToken):
        _answer(sessions, opened, opened.tokens[0], 5)
    with pytest.raises(surveys.InvalidToken):
        _answer(sessions, opened, "made-up-token", 5)
    with session_scope(sessions) as s:
        assert surveys.results(s, opened.public_id).responses == 1


def test_tokens_are_stored_only_as_hashes(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions)
    with session_scope(sessions) as s:
        stored = set(s.scalars(select(tables.SurveyToken.token_hash)))
    assert len(stored) == len(opened.tokens)
    assert not stored & set(opened.tokens)
    assert stored == {surveys.hash_token(t) for t in opened.tokens}


def test_response_rows_hold_only_round_answers_and_comment(store_url: str) -> None:
    from maturity.store.engine import make_engine

    eng = make_engine(store_url)
    columns = {c["name"] for c in inspect(eng).get_columns("survey_responses")}
    token_columns = {c["name"] for c in inspect(eng).get_columns("survey_tokens")}
    fks = inspect(eng).get_foreign_keys("survey_tokens") + inspect(eng).get_foreign_keys(
        "survey_responses"
    )
    eng.dispose()
    assert columns == {"id", "round_id", "answers", "comment"}
    assert token_columns == {"id", "round_id", "token_hash", "spent"}
    assert {fk["referred_table"] for fk in fks} == {"survey_rounds"}


def test_results_are_hidden_until_k_responses(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions, links=6, k=5)
    for i, token in enumerate(opened.tokens[:4]):
        _answer(sessions, opened, token, 1 + i)
    with session_scope(sessions) as s:
        hidden = surveys.results(s, opened.public_id)
        aggregates = surveys.criterion_aggregates(s)
    assert (hidden.visible, hidden.responses, hidden.needed) == (False, 4, 1)
    assert hidden.questions == [] and hidden.comments == []
    assert aggregates.empty
    _answer(sessions, opened, opened.tokens[4], None)
    with session_scope(sessions) as s:
        shown = surveys.results(s, opened.public_id)
        aggregates = surveys.criterion_aggregates(s)
    review = next(q for q in shown.questions if q.question.id == "sc.review")
    assert shown.visible and shown.responses == 5
    assert review.counts == {1: 1, 2: 1, 3: 1, 4: 1, 5: 0}
    assert review.dont_know == 1
    assert review.mean == pytest.approx(2.5)
    assert sorted(shown.comments) == sorted(
        ["comment 1", "comment 2", "comment 3", "comment 4", "comment None"]
    )
    assert aggregates[["criterion_id", "mean", "n"]].to_dict("records") == [
        {"criterion_id": "sc.reviews", "mean": 2.5, "n": 4}
    ]


def test_k_below_three_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(surveys.SurveyError, match="at least 3"), session_scope(sessions) as s:
        surveys.open_round(
            s, team_id=_team(s), questions=QUESTIONS, links=5, k=2, model_version="t"
        )


def test_closed_round_takes_no_answers(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions)
    with session_scope(sessions) as s:
        surveys.close_round(s, opened.public_id)
    with pytest.raises(surveys.RoundClosed):
        _answer(sessions, opened, opened.tokens[0], 3)


def test_round_closes_itself_at_its_date(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        opened = surveys.open_round(
            s,
            team_id=_team(s),
            questions=QUESTIONS,
            links=5,
            model_version="t",
            closes_on=TODAY + dt.timedelta(days=7),
            today=TODAY,
        )
    with pytest.raises(surveys.RoundClosed), session_scope(sessions) as s:
        surveys.submit(
            s,
            public_id=opened.public_id,
            token=opened.tokens[0],
            answers={},
            today=TODAY + dt.timedelta(days=7),
        )


@pytest.mark.parametrize(
    ("answers", "comment", "message"),
    [
        ({"sc.review": 6}, None, "outside the 1-5 scale"),
        ({"sc.review": 0}, None, "outside the 1-5 scale"),
        ({"sc.review": "3.5"}, None, "expected 1-5"),
        ({"sc.review": True}, None, "expected 1-5"),
        ({"nope": 3}, None, "unknown question"),
        ({}, "x" * (surveys.MAX_COMMENT + 1), "longer than"),
    ],
)
def test_bad_answers_are_refused_and_spend_nothing(
    sessions: sessionmaker[Session], answers: dict[str, object], comment: str | None, message: str
) -> None:
    opened = _open(sessions)
    with pytest.raises(surveys.InvalidAnswers, match=message), session_scope(sessions) as s:
        surveys.submit(
            s,
            public_id=opened.public_id,
            token=opened.tokens[0],
            answers=answers,
            comment=comment,
            today=TODAY,
        )
    _answer(sessions, opened, opened.tokens[0], 3)  # the token is still good


def test_failed_write_leaves_the_token_unspent(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), session_scope(sessions) as s:
        surveys.submit(
            s, public_id=opened.public_id, token=opened.tokens[0], answers={}, today=TODAY
        )
        raise Crash
    _answer(sessions, opened, opened.tokens[0], 2)


def test_physical_order_does_not_follow_submission_order(store_url: str) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(store_url)
    factory = make_sessionmaker(eng)
    last_is_last = 0
    trials = 60
    for _ in range(trials):
        opened = _open(factory, links=6, k=3)
        for i, token in enumerate(opened.tokens):
            _answer(factory, opened, token, 1 + i % 5)
        with eng.connect() as conn:
            rid = conn.execute(
                text("SELECT id FROM survey_rounds WHERE public_id = :p"), {"p": opened.public_id}
            ).scalar_one()
            order = (
                conn.execute(
                    text("SELECT comment FROM survey_responses WHERE round_id = :r"), {"r": rid}
                )
                .scalars()
                .all()
            )
        last_is_last += order[-1] == "comment 1"  # the sixth answer was 1 + 5 % 5 = 1
    eng.dispose()
    # In submission order the last one would always be last (60/60); shuffled, about 1 in 6.
    assert last_is_last < trials / 2


@pytest.mark.postgres
def test_postgres_transaction_ids_do_not_link_token_and_response(
    postgres_template: str,
) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker
    from tests.conftest import drop_postgres_store, new_postgres_store

    url, name = new_postgres_store(postgres_template)
    eng = make_engine(url)
    try:
        factory = make_sessionmaker(eng)
        opened = _open(factory, links=6, k=3)
        for token, value in zip(opened.tokens[:4], (1, 2, 3, 4), strict=True):
            _answer(factory, opened, token, value)
            with eng.connect() as conn:
                xmins = (
                    conn.execute(
                        text(
                            "SELECT xmin::text FROM survey_responses "
                            "UNION SELECT xmin::text FROM survey_tokens"
                        )
                    )
                    .scalars()
                    .all()
                )
            # Every response and every token row was last written by the same transaction.
            assert len(set(xmins)) == 1
    finally:
        eng.dispose()
        drop_postgres_store(name)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=1, max_size=7))
def test_nothing_stored_or_logged_names_a_token(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, values: list[int | None]
) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(sqlite_url)
    factory = make_sessionmaker(eng)
    caplog.set_level(logging.DEBUG)
    opened = _open(factory, links=len(values) + 3, k=3)
    for token, value in zip(opened.tokens, values, strict=False):
        _answer(factory, opened, token, value)
    with eng.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("survey_rounds", "survey_responses", "survey_tokens")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
        ids = conn.execute(text("SELECT id FROM survey_responses")).scalars().all()
    eng.dispose()
    for token in opened.tokens:
        assert token not in dump
        assert token not in caplog.text
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_limiter_caps_submissions_per_round() -> None:
    limiter = surveys.SubmissionLimiter(limit=3, window_s=60)
    assert [limiter.allow("r", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("other", now=3)
    assert limiter.allow("r", now=61)


def test_scrub_empties_the_sqlite_write_ahead_log(sqlite_url: str) -> None:
    from pathlib import Path

    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(sqlite_url)
    factory = make_sessionmaker(eng)
    opened = _open(factory, links=5, k=3)
    _answer(factory, opened, opened.tokens[0], 3)
    wal = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
    assert wal.stat().st_size > 0
    with session_scope(factory) as s:
        surveys.scrub(s)
    assert wal.stat().st_size == 0
    eng.dispose()
