"""Surveys: one-time tokens, unlinkable responses, and results hidden below k."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from maturity import survey_batches, surveys
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
    sessions: sessionmaker[Session],
    opened: surveys.OpenedRound,
    tokens_values: list[tuple[str, int | None]],
) -> survey_batches.Settled:
    """Answer through the holder and write everything held at once (if at least k)."""
    return survey_batches.write_answers(
        sessions,
        opened.public_id,
        [(t, {q.id: v for q in QUESTIONS}, f"comment {v}") for t, v in tokens_values],
        today=TODAY,
    )


def _offer(sessions: sessionmaker[Session], opened: surveys.OpenedRound, token: str) -> None:
    with session_scope(sessions) as s:
        surveys.check_offer(s, public_id=opened.public_id, token=token, answers={}, today=TODAY)


def test_a_token_can_be_spent_once(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions)
    assert _answer(sessions, opened, [(t, 4) for t in opened.tokens[:5]]).written == 5
    with pytest.raises(surveys.InvalidToken):
        _offer(sessions, opened, opened.tokens[0])
    with pytest.raises(surveys.InvalidToken):
        _offer(sessions, opened, "made-up-token")
    holder = survey_batches.Holder(sessions, background=False)
    holder.offer(public_id=opened.public_id, token=opened.tokens[5], answers={}, today=TODAY)
    with pytest.raises(surveys.AlreadyHeld):
        holder.offer(public_id=opened.public_id, token=opened.tokens[5], answers={}, today=TODAY)
    with session_scope(sessions) as s:
        assert surveys.results(s, opened.public_id).responses == 5


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
    holder = survey_batches.Holder(sessions, background=False)
    for i, token in enumerate(opened.tokens[:4]):
        holder.offer(
            public_id=opened.public_id,
            token=token,
            answers={q.id: 1 + i for q in QUESTIONS},
            comment=f"comment {1 + i}",
            today=TODAY,
        )
    assert holder.flush(opened.public_id) == survey_batches.Settled(held=4)  # 4 < k: not written
    with session_scope(sessions) as s:
        hidden = surveys.results(s, opened.public_id)
        aggregates = surveys.criterion_aggregates(s)
    assert (hidden.visible, hidden.responses, hidden.needed) == (False, 0, 5)
    assert hidden.questions == [] and hidden.comments == []
    assert aggregates.empty
    holder.offer(
        public_id=opened.public_id,
        token=opened.tokens[4],
        answers={q.id: 5 for q in QUESTIONS},
        comment="comment 5",
        today=TODAY,
    )
    assert holder.flush(opened.public_id).written == 5
    with session_scope(sessions) as s:
        shown = surveys.results(s, opened.public_id)
        aggregates = surveys.criterion_aggregates(s)
    review = next(q for q in shown.questions if q.question.id == "sc.review")
    assert shown.visible and shown.responses == 5
    assert review.counts == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    assert review.dont_know == 0
    assert review.mean == pytest.approx(3.0)
    assert sorted(shown.comments) == [f"comment {i}" for i in range(1, 6)]
    assert aggregates[["criterion_id", "mean", "n"]].to_dict("records") == [
        {"criterion_id": "sc.reviews", "mean": 3.0, "n": 5}
    ]


def test_a_question_rated_by_fewer_than_k_shows_no_figure_and_scores_nothing(
    sessions: sessionmaker[Session],
) -> None:
    opened = _open(sessions, links=6, k=5)
    sheets = []
    for i, token in enumerate(opened.tokens):
        answers: dict[str, int | None] = {q.id: 4 for q in QUESTIONS}
        # Only one person rates the review question; the others say "don't know".
        answers["sc.review"] = 1 if i == 0 else None
        # Exactly k rate the culture question.
        answers["cams.culture"] = 2 if i < 5 else None
        sheets.append((token, answers, None))
    assert (
        survey_batches.write_answers(sessions, opened.public_id, sheets, today=TODAY).written == 6
    )
    with session_scope(sessions) as s:
        shown = surveys.results(s, opened.public_id)
        aggregates = surveys.criterion_aggregates(s)
    review = next(q for q in shown.questions if q.question.id == "sc.review")
    culture = next(q for q in shown.questions if q.question.id == "cams.culture")
    assert shown.visible
    assert review.hidden
    assert (review.mean, review.counts, review.answered, review.dont_know) == (None,) * 4
    assert not culture.hidden and culture.mean == 2.0 and culture.answered == 5
    assert culture.dont_know == 1
    assert aggregates.empty  # the review question's criterion gets no survey answer


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
        _offer(sessions, opened, opened.tokens[0])


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
        surveys.check_offer(
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
    holder = survey_batches.Holder(sessions, background=False)
    with pytest.raises(surveys.InvalidAnswers, match=message):
        holder.offer(
            public_id=opened.public_id,
            token=opened.tokens[0],
            answers=answers,
            comment=comment,
            today=TODAY,
        )
    assert holder.held() == 0
    assert _answer(sessions, opened, [(t, 3) for t in opened.tokens[:5]]).written == 5


def test_failed_batch_write_leaves_every_token_unspent(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions, links=5, k=5)

    class Crash(Exception):
        pass

    sheets = [
        surveys.Held(surveys.hash_token(t), {q.id: 3 for q in QUESTIONS}) for t in opened.tokens
    ]
    with session_scope(sessions) as s:
        round_id = surveys.get_round(s, opened.public_id).id
    with pytest.raises(Crash), session_scope(sessions) as s:
        survey_batches.write_batch(s, round_id=round_id, sheets=sheets, k=5)
        raise Crash
    with session_scope(sessions) as s:
        assert s.scalar(select(tables.SurveyToken.id).where(tables.SurveyToken.spent)) is None
        assert surveys.results(s, opened.public_id).responses == 0
    assert _answer(sessions, opened, [(t, 2) for t in opened.tokens]).written == 5


def test_a_batch_below_k_writes_nothing(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions, links=6, k=5)
    sheets = [surveys.Held(surveys.hash_token(t), {}) for t in opened.tokens[:5]]
    with session_scope(sessions) as s:
        round_id = surveys.get_round(s, opened.public_id).id
        s.execute(
            tables.SurveyToken.__table__.update()
            .where(tables.SurveyToken.token_hash == sheets[0].token_hash)
            .values(spent=True)
        )
    # One of the five links was used meanwhile (another server process): four are not k.
    with pytest.raises(survey_batches.TooFew) as few, session_scope(sessions) as s:
        survey_batches.write_batch(s, round_id=round_id, sheets=sheets, k=5)
    assert few.value.spent == {h.token_hash for h in sheets[1:]}
    with session_scope(sessions) as s:
        spent = set(
            s.scalars(select(tables.SurveyToken.token_hash).where(tables.SurveyToken.spent))
        )
        assert spent == {sheets[0].token_hash}
        assert surveys.results(s, opened.public_id).responses == 0


def test_physical_order_does_not_follow_submission_order(store_url: str) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(store_url)
    factory = make_sessionmaker(eng)
    last_is_last = 0
    trials = 40
    for _ in range(trials):
        opened = _open(factory, links=6, k=3)
        # offered one by one, written in one batch of six; each sheet's comment tells it apart
        # (the answers repeat: 1 + 5 % 5 = 1 + 0 % 5, so a comment of the values would not)
        survey_batches.write_answers(
            factory,
            opened.public_id,
            [
                (t, {q.id: 1 + i % 5 for q in QUESTIONS}, f"sheet {i}")
                for i, t in enumerate(opened.tokens)
            ],
            today=TODAY,
        )
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
        last_is_last += order[-1] == "sheet 5"
    eng.dispose()
    # In submission order the last one would always be last (40/40); shuffled, 1 in 6 (about 7
    # of 40; 20 or more has a chance of about 1 in 800,000: with equal comments it was 1 in 50).
    assert last_is_last < trials / 2


@pytest.mark.postgres
def test_postgres_transaction_ids_group_tokens_and_answers_only_by_whole_batches(
    postgres_template: str,
) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker
    from tests.conftest import drop_postgres_store, new_postgres_store

    url, name = new_postgres_store(postgres_template)
    eng = make_engine(url)
    try:
        factory = make_sessionmaker(eng)
        opened = _open(factory, links=10, k=3)
        holder = survey_batches.Holder(factory, background=False)
        for i, token in enumerate(opened.tokens):
            holder.offer(
                public_id=opened.public_id,
                token=token,
                answers={q.id: 1 + i % 5 for q in QUESTIONS},
                today=TODAY,
            )
            holder.settle()
            with eng.connect() as conn:
                responses = conn.execute(
                    text("SELECT xmin::text, count(*) FROM survey_responses GROUP BY 1")
                ).all()
                spent = dict(
                    conn.execute(
                        text(
                            "SELECT xmin::text, count(*) FROM survey_tokens WHERE spent GROUP BY 1"
                        )
                    ).all()
                )
            # Every transaction that wrote answers spent exactly as many tokens, at least k.
            assert {x: n for x, n in responses} == spent
            assert all(n >= 3 for n in spent.values())
        assert sum(spent.values()) == 10
    finally:
        eng.dispose()
        drop_postgres_store(name)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=3, max_size=7))
def test_nothing_stored_or_logged_names_a_token(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, values: list[int | None]
) -> None:
    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(sqlite_url)
    factory = make_sessionmaker(eng)
    caplog.set_level(logging.DEBUG)
    opened = _open(factory, links=len(values) + 3, k=3)
    assert _answer(factory, opened, list(zip(opened.tokens, values, strict=False))).written == len(
        values
    )
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
    assert "comment" not in caplog.text  # nor an answer
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_limiter_caps_submissions_per_round() -> None:
    limiter = surveys.SubmissionLimiter(limit=3, window_s=60)
    assert [limiter.allow("r", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("other", now=3)
    assert limiter.allow("r", now=61)


def test_limiter_gives_back_the_slots_of_failed_attempts() -> None:
    limiter = surveys.SubmissionLimiter(limit=3, window_s=60)
    for t in range(50):  # junk: every attempt fails and gives its slot back
        slot = limiter.reserve("r", now=t / 10)
        assert slot is not None
        limiter.release("r", slot)
    assert [limiter.allow("r", now=6) for _ in range(4)] == [True, True, True, False]
    limiter.release("made-up", 1.0)
    slot = limiter.reserve("made-up", now=7)
    assert slot is not None
    limiter.release("made-up", slot)
    assert "made-up" not in limiter._seen  # made-up round ids leave nothing behind


def test_scrub_empties_the_sqlite_write_ahead_log_and_says_when_it_cannot(
    sqlite_url: str,
) -> None:
    import sqlite3
    from pathlib import Path

    from maturity.store.engine import make_engine, make_sessionmaker

    eng = make_engine(sqlite_url)
    factory = make_sessionmaker(eng)
    opened = _open(factory, links=5, k=3)
    wal = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
    assert wal.stat().st_size > 0
    assert survey_batches.scrub(eng, timeout_s=0.2).ok
    assert wal.stat().st_size == 0
    with session_scope(factory) as s:
        _team(s, "search")
    assert wal.stat().st_size > 0
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM survey_tokens").fetchall()
        failed = survey_batches.scrub(eng, timeout_s=0.2)
        assert not failed.ok and "write-ahead log could not be emptied" in failed.reason
        assert wal.stat().st_size > 0
    finally:
        reader.rollback()
        reader.close()
    assert survey_batches.scrub(eng, timeout_s=0.2).ok
    assert wal.stat().st_size == 0
    assert opened.tokens
    eng.dispose()
