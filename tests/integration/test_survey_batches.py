"""Held answers and their batches: when a batch is written, what a restart or a second process
does, and a batch held back while a reader keeps the store from being scrubbed."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from maturity import survey_batches, surveys
from maturity.store import tables
from maturity.store.engine import normalize_url, session_scope

pytestmark = pytest.mark.integration

QUESTIONS = list(surveys.CAMS_QUESTIONS)


def _open(sessions: sessionmaker[Session], links: int, k: int) -> surveys.OpenedRound:
    with session_scope(sessions) as s:
        team = tables.Team(name="payments", slug="payments")
        s.add(team)
        s.flush()
        return surveys.open_round(
            s, team_id=team.id, questions=QUESTIONS, links=links, k=k, model_version="t"
        )


def _offer(holder: survey_batches.Holder, opened: surveys.OpenedRound, i: int) -> None:
    holder.offer(
        public_id=opened.public_id,
        token=opened.tokens[i],
        answers={q.id: 1 + i % 5 for q in QUESTIONS},
        comment=f"words of person {i}",
    )


def _written(sessions: sessionmaker[Session], opened: surveys.OpenedRound) -> tuple[int, int]:
    """(responses stored, tokens spent) of the round."""
    with session_scope(sessions) as s:
        round_id = surveys.get_round(s, opened.public_id).id
        return surveys.results(s, opened.public_id).responses, surveys.link_counts(s, round_id)[1]


def test_k_answers_are_kept_back_until_2k_are_held_then_the_surplus_is_written(
    sessions: sessionmaker[Session],
) -> None:
    opened = _open(sessions, links=20, k=3)
    holder = survey_batches.Holder(sessions, background=False)
    trace = []
    for i in range(9):
        _offer(holder, opened, i)
        holder.settle()
        trace.append((holder.held(), *_written(sessions, opened)))
    assert trace == [
        (1, 0, 0),
        (2, 0, 0),
        (3, 0, 0),
        (4, 0, 0),
        (5, 0, 0),
        (3, 3, 3),  # six held: three written, three kept for the close
        (4, 3, 3),
        (5, 3, 3),
        (3, 6, 6),
    ]


def test_when_every_link_has_answered_all_held_answers_are_written(
    sessions: sessionmaker[Session],
) -> None:
    opened = _open(sessions, links=4, k=3)
    holder = survey_batches.Holder(sessions, background=False)
    for i in range(3):
        _offer(holder, opened, i)
        holder.settle()
    assert _written(sessions, opened) == (0, 0)
    _offer(holder, opened, 3)
    assert holder.settle() == {opened.public_id: survey_batches.Settled(written=4)}
    assert _written(sessions, opened) == (4, 4) and holder.held() == 0


def test_a_restart_loses_held_answers_and_their_links_still_work(
    sessions: sessionmaker[Session],
) -> None:
    opened = _open(sessions, links=6, k=3)
    before = survey_batches.Holder(sessions, background=False)
    for i in range(2):
        _offer(before, opened, i)
    before.stop()  # two held, fewer than k: nothing is written, nothing is spent
    assert _written(sessions, opened) == (0, 0)
    after = survey_batches.Holder(sessions, background=False)
    for i in range(3):
        _offer(after, opened, i)  # the same two links again, and one more
    assert after.flush(opened.public_id).written == 3
    assert _written(sessions, opened) == (3, 3)


def test_stopping_writes_what_reaches_k(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions, links=9, k=3)
    holder = survey_batches.Holder(sessions, background=False)
    for i in range(4):
        _offer(holder, opened, i)
    holder.stop()
    assert _written(sessions, opened) == (4, 4)


def test_a_link_held_by_two_server_processes_is_written_once(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    opened = _open(sessions, links=8, k=3)
    first = survey_batches.Holder(sessions, background=False)
    second = survey_batches.Holder(sessions, background=False)
    for i in (0, 1, 2):
        _offer(first, opened, i)
    for i in (0, 3, 4, 5):  # link 0 answered again through another process
        _offer(second, opened, i)
    assert first.flush(opened.public_id).written == 3
    assert second.flush(opened.public_id).written == 3
    assert _written(sessions, opened) == (6, 6)
    assert second.held() == 0
    assert "1 held answer(s) dropped" in caplog.text
    assert "words of person" not in caplog.text


def test_two_processes_below_k_each_write_nothing(sessions: sessionmaker[Session]) -> None:
    opened = _open(sessions, links=8, k=3)
    first = survey_batches.Holder(sessions, background=False)
    second = survey_batches.Holder(sessions, background=False)
    for i in (0, 1):
        _offer(first, opened, i)
    for i in (2, 3):
        _offer(second, opened, i)
    with session_scope(sessions) as s:
        surveys.close_round(s, opened.public_id)
    assert first.finish(opened.public_id) == survey_batches.Settled(discarded=2)
    assert second.finish(opened.public_id) == survey_batches.Settled(discarded=2)
    assert _written(sessions, opened) == (0, 0)


@contextlib.contextmanager
def reader_open(engine: Engine) -> Iterator[None]:
    """A reader in the middle of a long read, as a backup or a long report is."""
    url = make_url(normalize_url(str(engine.url.render_as_string(hide_password=False))))
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        conn = sqlite3.connect(url.database, isolation_level=None)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM survey_responses").fetchall()
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    other = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with other.connect() as c:
            c.execute(text("SELECT count(*) FROM survey_responses")).scalar_one()
            yield
            c.rollback()
    finally:
        other.dispose()


def test_a_batch_is_held_back_while_a_reader_keeps_the_store_from_being_scrubbed(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    opened = _open(sessions, links=9, k=3)
    holder = survey_batches.Holder(sessions, background=False, scrub_timeout_s=0.2)
    engine = holder._engine()
    for i in range(3):
        _offer(holder, opened, i)
    with reader_open(engine):
        assert holder.flush(opened.public_id) == survey_batches.Settled(held=3)
        assert _written(sessions, opened) == (0, 0)  # no token spent, no answer written
    assert "a batch of 3 answer(s) is held back" in caplog.text
    assert holder.flush(opened.public_id).written == 3
    assert _written(sessions, opened) == (3, 3)
    assert "words of person" not in caplog.text
    with session_scope(sessions) as s:
        assert s.scalar(select(tables.SurveyToken.token_hash).limit(1)) not in caplog.text
