"""Scope leases on PostgreSQL: one holder at a time, expiry, renewal, the finished run's key."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity.distributed import leases
from maturity.store.engine import make_engine, make_sessionmaker, session_scope
from tests.conftest import drop_postgres_store, new_postgres_store

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def pg(postgres_template: str) -> Iterator[sessionmaker[Session]]:
    url, name = new_postgres_store(postgres_template)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()
    drop_postgres_store(name)


def claim(sessions: sessionmaker[Session], holder: str, lease_s: float = 30) -> leases.Claim:
    with session_scope(sessions) as s:
        return leases.claim(s, source="git", scope="git:/r", holder=holder, lease_s=lease_s)


def test_a_held_scope_is_refused_to_a_second_worker_until_released(
    pg: sessionmaker[Session],
) -> None:
    assert not claim(pg, "a").busy
    second = claim(pg, "b")
    assert second.busy and 1.0 <= second.retry_in_s <= 30
    with session_scope(pg) as s:
        leases.release(
            s, source="git", scope="git:/r", holder="a", done_key="run1", result={"n": 1}
        )
    third = claim(pg, "b")
    assert not third.busy
    assert (third.done_key, third.result) == ("run1", {"n": 1})


def test_a_claim_being_made_in_another_transaction_counts_as_held(
    pg: sessionmaker[Session],
) -> None:
    claim(pg, "a", lease_s=0.001)  # the row exists, its lease already over
    time.sleep(0.01)
    with session_scope(pg) as first:
        assert not leases.claim(first, source="git", scope="git:/r", holder="b", lease_s=30).busy
        # the first transaction has the row locked: SKIP LOCKED makes the second see it taken
        assert claim(pg, "c").busy
    assert claim(pg, "c").busy  # and once committed, b holds it


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_it(
    pg: sessionmaker[Session],
) -> None:
    claim(pg, "dead", lease_s=0.1)
    time.sleep(0.25)  # longer than the lease, on the database's clock too (it starts earlier)
    assert not claim(pg, "rescuer").busy
    with session_scope(pg) as s:
        assert not leases.renew(s, source="git", scope="git:/r", holder="dead", lease_s=30)
        assert leases.renew(s, source="git", scope="git:/r", holder="rescuer", lease_s=30)


def test_the_heartbeat_keeps_a_short_lease_held_while_work_goes_on(
    pg: sessionmaker[Session],
) -> None:
    assert not claim(pg, "a", lease_s=0.24).busy
    with leases.heartbeat(pg, source="git", scope="git:/r", holder="a", lease_s=0.24) as lost:
        time.sleep(0.3)  # longer than the lease: only renewals (every 0.08 s) keep it
        assert claim(pg, "b").busy
    assert not lost.is_set()
