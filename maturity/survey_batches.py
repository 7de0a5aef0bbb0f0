"""Held survey answers and the shuffled batches that write them: no answer is stored alone.

The adversary is whoever runs the deployment: the database server with its write-ahead log and
statement log, the server's own logs, the proxy's access log, and the list of who got which
link. Against them, an answer and the spending of its token never appear side by side:

* An accepted answer sheet (:func:`maturity.surveys.check_offer`, a read) waits in this
  process's memory, next to its token's hash, and never in the store. Its token stays valid
  until the sheet is written, so a restart loses nothing that cannot be sent again.
* Sheets reach the store only in batches of at least the round's ``k``: one transaction spends
  exactly their tokens by one UPDATE (rows taken in the order the database finds them: by hash
  through the unique index, or by their place in the table, which follows the link list), then
  inserts their answers in a fresh random order under random ids (:func:`write_batch`). The
  database's log, pages and row versions then show which k links were used together and which
  k answers arrived together, never which answer came with which link.
* When a batch is due (per round, H held sheets): H >= 2k writes a random H - k of them and
  keeps k, so that the round's last answers can always form a batch of k at its close; every
  link used (spent + held = links) writes all H >= k; a closed round (flag or date) writes all
  H >= k as its last batch and discards fewer (nothing of them is written; their links, in a
  closed round, stay unused).
* A batch is written only right after a scrub that worked (:func:`scrub`): SQLite's
  write-ahead log checkpointed and truncated to nothing, PostgreSQL's survey tables vacuumed
  with no session holding an older snapshot; and scrubbed again after it. A scrub that fails
  (a backup or a long report holds the store open) holds the batch back and says so in the
  log, without any answer; it is tried again every ``sweep_s``. A scrub after the batch that
  fails is logged, and the next batch waits for one that works.

Each server process holds its own sheets: with several processes a round's answers are batched
per process (k each), and a process that ends drops what it holds below k.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, exc, insert, text, update
from sqlalchemy.orm import Session, sessionmaker

from maturity import surveys
from maturity.store import tables
from maturity.store.engine import session_scope

log = logging.getLogger("maturity.surveys")
_rng = random.SystemRandom()
#: sessions that hold a PostgreSQL snapshot from before a transaction (keep its dead row
#: versions): any backend of this database but this one and autovacuum (VACUUM ignores those),
#: prepared transactions and replication slots
_PG_BLOCKERS = """
SELECT
  (SELECT count(*) FROM pg_stat_activity
    WHERE pid <> pg_backend_pid() AND datname = current_database()
      AND backend_type <> 'autovacuum worker'
      AND ((backend_xmin IS NOT NULL AND age(backend_xmin) >= age(CAST(:since AS xid)))
        OR (backend_xid IS NOT NULL AND age(backend_xid) >= age(CAST(:since AS xid)))))
  + (SELECT count(*) FROM pg_prepared_xacts
      WHERE age(transaction) >= age(CAST(:since AS xid)))
  + (SELECT count(*) FROM pg_replication_slots
      WHERE xmin IS NOT NULL AND age(xmin) >= age(CAST(:since AS xid)))
"""


class TooFew(Exception):
    """Fewer than k of a batch's tokens could be spent (used meanwhile by another process)."""

    def __init__(self, spent: set[str]) -> None:
        super().__init__(f"only {len(spent)} of the batch's links were still unused")
        self.spent = spent


@dataclass(frozen=True)
class Written:
    """A committed batch: the token hashes it spent, and (PostgreSQL) its transaction id."""

    spent: frozenset[str]
    xid: int | None


def write_batch(
    session: Session, *, round_id: int, sheets: Sequence[surveys.Held], k: int
) -> Written:
    """Spend the sheets' tokens and insert their answers, unlinkably, in the caller's transaction.

    Tokens are spent by one UPDATE of the sorted hashes (the database takes the rows by hash or
    by place, neither related to answers or answering times); answers are then inserted in a
    fresh random order, independent of it.
    A token already spent (by another server process) drops its sheet.

    Raises:
        TooFew: fewer than ``k`` tokens were still unspent; the caller must roll back.
    """
    if session.get_bind().dialect.name == "sqlite":
        # A row that moves leaves its old bytes in the page unless SQLite overwrites them.
        session.execute(text("PRAGMA secure_delete=ON"))
    T = tables.SurveyToken
    hashes = sorted({s.token_hash for s in sheets})
    spent = set(
        session.scalars(
            update(T)
            .where(T.round_id == round_id, T.spent.is_(False), T.token_hash.in_(hashes))
            .values(spent=True)
            .returning(T.token_hash),
            execution_options={"synchronize_session": False},
        )
    )
    if len(spent) < k:
        raise TooFew(spent)
    rows = [
        {"id": uuid.uuid4().hex, "round_id": round_id, "answers": s.answers, "comment": s.comment}
        for s in sheets
        if s.token_hash in spent
    ]
    _rng.shuffle(rows)
    session.execute(insert(tables.SurveyResponse), rows)
    xid = None
    if session.get_bind().dialect.name == "postgresql":
        xid = int(session.execute(text("SELECT txid_current()")).scalar_one())
    return Written(frozenset(spent), xid)


@dataclass(frozen=True)
class Scrub:
    """Whether the store keeps nothing of the survey tables' history; why not, for the log.

    ``since`` is the PostgreSQL transaction id the next attempt must see no snapshot from.
    """

    ok: bool
    reason: str = ""
    since: int | None = None


def scrub(engine: Engine, *, since: int | None = None, timeout_s: float = 2.0) -> Scrub:
    """Drop what the database keeps of earlier states of the survey tables, and check it did.

    SQLite: checkpoint the write-ahead log and truncate it; done when the checkpoint reports no
    busy reader and no frame left, and the ``-wal`` file is empty. PostgreSQL: VACUUM the survey
    tables; done when no session holds a snapshot from transaction ``since`` or before (one
    would keep the dead row versions). Waits at most about ``timeout_s`` for readers or locks.
    A database error counts as a scrub that did not work.
    """
    try:
        return _scrub(engine, since=since, timeout_s=timeout_s)
    except exc.SQLAlchemyError as error:
        return Scrub(False, f"the scrub failed: {_describe(error)}", since)


def _scrub(engine: Engine, *, since: int | None, timeout_s: float) -> Scrub:
    wait_ms = max(1, int(timeout_s * 1000))
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
            conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
            try:
                busy, frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(before)}")
        database = engine.url.database
        wal = Path(f"{database}-wal") if database and database != ":memory:" else None
        size = wal.stat().st_size if wal is not None and wal.exists() else 0
        if busy or frames > 0 or size:
            return Scrub(
                False,
                f"the SQLite write-ahead log could not be emptied ({size} bytes left): another "
                "connection (a backup, a long report) has the store open",
            )
        return Scrub(True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if since is None:
                since = int(
                    conn.exec_driver_sql(
                        "SELECT txid_snapshot_xmax(txid_current_snapshot())"
                    ).scalar_one()
                )
            conn.exec_driver_sql(f"SET lock_timeout = {wait_ms}")
            blockers = int(
                conn.execute(text(_PG_BLOCKERS), {"since": str(since % 2**32)}).scalar_one()
            )
            conn.exec_driver_sql("VACUUM survey_tokens, survey_responses")
            conn.exec_driver_sql("RESET lock_timeout")
        if blockers:
            return Scrub(
                False,
                f"VACUUM cannot drop the old row versions: {blockers} session(s) hold a "
                "snapshot from before the last batch (a backup, a long report)",
                since,
            )
        return Scrub(True)
    return Scrub(True)


@dataclass
class _Round:
    """The sheets this process holds for one round."""

    round_id: int
    public_id: str
    k: int
    sheets: dict[str, surveys.Held] = field(default_factory=dict)
    closing: bool = False


@dataclass(frozen=True)
class Receipt:
    """What the person is told: their sheet is held, to be written with at least k - 1 others."""

    k: int
    held: int


@dataclass(frozen=True)
class Settled:
    """What happened to a round's held sheets: written now, still held, or discarded."""

    written: int = 0
    held: int = 0
    discarded: int = 0


class Holder:
    """The held sheets of one server process and the thread that writes their batches.

    Args:
        sessions: the store's session factory.
        sweep_s: how often held rounds are looked at again (closing dates, batches held back).
        scrub_timeout_s: how long a scrub waits for readers before it counts as failed.
        background: write due batches from a thread of this holder; without it, only
            :meth:`settle` and :meth:`finish` write (the demo and tests drive it so).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        sweep_s: float = 5.0,
        scrub_timeout_s: float = 2.0,
        background: bool = True,
    ) -> None:
        self._sessions = sessions
        self.sweep_s = sweep_s
        self.scrub_timeout_s = scrub_timeout_s
        self._background = background
        self._lock = threading.Lock()  # guards the held sheets
        self._writing = threading.RLock()  # one batch and one scrub at a time
        # what happened to the held answers of rounds closed since, for :meth:`finish`
        self._closed: dict[str, Settled] = {}
        self._rounds: dict[int, _Round] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # PostgreSQL: the transaction id from which a failed scrub waits for snapshots to end
        self._since: int | None = None

    # -- accepting ------------------------------------------------------------------------

    def offer(
        self,
        *,
        public_id: str,
        token: str,
        answers: Mapping[str, Any],
        comment: str | None = None,
        today: dt.date | None = None,
    ) -> Receipt:
        """Check one answer sheet (a read) and hold it; a due batch is written in the background.

        Raises:
            the errors of :func:`maturity.surveys.check_offer`; AlreadyHeld when this
            process already holds an answer for the token.
        """
        with session_scope(self._sessions) as session:
            survey, sheet = surveys.check_offer(
                session,
                public_id=public_id,
                token=token,
                answers=answers,
                comment=comment,
                today=today,
            )
            round_id, k = survey.id, survey.k
        with self._lock:
            if self._stopping:
                raise surveys.SurveyError("the server is shutting down; send the form again")
            held = self._rounds.setdefault(round_id, _Round(round_id, public_id, k))
            if held.closing:
                raise surveys.RoundClosed("this survey is closed")
            if sheet.token_hash in held.sheets:
                raise surveys.AlreadyHeld(
                    "this link was already used: its answer is held, to be written with others"
                )
            held.sheets[sheet.token_hash] = sheet
            count = len(held.sheets)
            if self._background and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="survey-batches", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return Receipt(k=k, held=count)

    def held(self, public_id: str | None = None) -> int:
        """How many sheets this process holds (for one round, or in all)."""
        with self._lock:
            return sum(
                len(r.sheets)
                for r in self._rounds.values()
                if public_id is None or r.public_id == public_id
            )

    # -- writing --------------------------------------------------------------------------

    def settle(self) -> dict[str, Settled]:
        """Write every batch that is due now (see the module's policy); per round, the outcome."""
        with self._lock:
            round_ids = list(self._rounds)
        return {o[0]: o[1] for o in (self._settle(rid) for rid in round_ids) if o is not None}

    def flush(self, public_id: str) -> Settled:
        """Write everything this process holds for the round now, if at least k (else nothing).

        Safe for anonymity (a batch of k or more) but it gives up the k kept back for the close;
        the demo and tests use it.
        """
        with self._lock:
            found = [r.round_id for r in self._rounds.values() if r.public_id == public_id]
        outcome = self._settle(found[0], now=True) if found else None
        return outcome[1] if outcome is not None else Settled()

    def finish(self, public_id: str) -> Settled:
        """The round is closed: write what this process holds as its last batch if at least k,
        else discard it. Later attempts to answer it are refused."""
        with self._writing:  # the thread may be settling the round: its outcome counts too
            with self._lock:
                found = [r for r in self._rounds.values() if r.public_id == public_id]
                for r in found:
                    r.closing = True
            outcome = self._settle(found[0].round_id) if found else None
            done = self._closed.pop(public_id, Settled())
        held = outcome[1].held if outcome is not None else 0
        return Settled(written=done.written, held=held, discarded=done.discarded)

    def stop(self, *, write: bool = True) -> None:
        """Shut down: write every round's held sheets that reach k (unless ``write`` is False);
        the rest are dropped, and their links stay valid, so people can answer again."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=60)
        with self._lock:
            rounds = list(self._rounds.values()) if write else []
        for r in rounds:
            with self._lock:
                sheets = list(r.sheets.values())
            if len(sheets) >= r.k:
                try:
                    with self._writing:
                        self._write(r, sheets)
                except Exception as error:
                    log.warning(
                        "survey answers: a batch could not be written: %s", _describe(error)
                    )
        with self._lock:
            dropped = sum(len(r.sheets) for r in self._rounds.values())
            self._rounds.clear()
        if dropped:
            log.warning(
                "survey answers: %d held answer(s) dropped at shutdown, fewer than k in their "
                "round; their links stay valid and can be used again",
                dropped,
            )

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=self.sweep_s)
            self._wake.clear()
            with self._lock:
                if self._stopping or not self._rounds:
                    self._thread = None
                    return
            try:
                self.settle()
            except Exception as error:  # never an answer in the log: only what failed
                log.warning("survey answers: a batch could not be written: %s", _describe(error))

    def _settle(self, round_id: int, *, now: bool = False) -> tuple[str, Settled] | None:
        with self._writing:
            with self._lock:
                held = self._rounds.get(round_id)
            if held is None:
                return None
            with session_scope(self._sessions) as session:
                survey = session.get(tables.SurveyRound, round_id)
                closed = survey is None or not surveys.is_open(survey)
                links, spent = surveys.link_counts(session, round_id)
            if survey is None:  # the round was deleted, with its links
                with self._lock:
                    self._rounds.pop(round_id, None)
                return held.public_id, Settled(discarded=len(held.sheets))
            with self._lock:
                if closed:
                    held.closing = True
                sheets = list(held.sheets.values())
            k, h = held.k, len(sheets)
            if held.closing and h < k:
                with self._lock:
                    self._rounds.pop(round_id, None)
                self._note_closed(held.public_id, Settled(discarded=h))
                if h:
                    log.warning(
                        "survey round %s closed with %d held answer(s), fewer than k=%d: "
                        "discarded, nothing of them written",
                        held.public_id,
                        h,
                        k,
                    )
                return held.public_id, Settled(discarded=h)
            if held.closing or (h >= k and (now or spent + h >= links)):
                batch = sheets
            elif h >= 2 * k:
                batch = _rng.sample(sheets, h - k)
            else:
                return held.public_id, Settled(held=h)
            written = self._write(held, batch)
            with self._lock:
                left = len(held.sheets)
                if held.closing and not left:
                    self._rounds.pop(round_id, None)
            if held.closing:
                self._note_closed(held.public_id, Settled(written=written))
            return held.public_id, Settled(written=written, held=left)

    def _note_closed(self, public_id: str, outcome: Settled) -> None:
        before = self._closed.get(public_id, Settled())
        self._closed[public_id] = Settled(
            written=before.written + outcome.written,
            discarded=before.discarded + outcome.discarded,
        )

    def _write(self, held: _Round, batch: list[surveys.Held]) -> int:
        """Write one batch onto a freshly scrubbed store and scrub after it; the number written.

        The scrub before tells whether one can work now: a reader that would keep the batch in
        the store's history (a backup, a long report) holds the batch back instead.
        """
        engine = self._engine()
        before = scrub(engine, since=self._since, timeout_s=self.scrub_timeout_s)
        if not before.ok:
            self._since = before.since  # the next try waits for the same readers, not newer
            log.warning(
                "survey round %s: a batch of %d answer(s) is held back: %s; trying again in %g s",
                held.public_id,
                len(batch),
                before.reason,
                self.sweep_s,
            )
            return 0
        self._since = None
        try:
            with session_scope(self._sessions) as session:
                written = write_batch(session, round_id=held.round_id, sheets=batch, k=held.k)
        except TooFew as few:
            self._drop(held, [s for s in batch if s.token_hash not in few.spent])
            return 0
        except exc.SQLAlchemyError as error:  # the store is busy or down: the batch stays held
            log.warning(
                "survey round %s: a batch of %d answer(s) could not be written, it stays held: %s",
                held.public_id,
                len(batch),
                _describe(error),
            )
            return 0
        self._drop(held, [s for s in batch if s.token_hash not in written.spent])
        with self._lock:
            for sheet in batch:
                held.sheets.pop(sheet.token_hash, None)
        log.info("survey round %s: wrote a batch of %d answers", held.public_id, len(written.spent))
        after = scrub(engine, since=written.xid, timeout_s=self.scrub_timeout_s)
        if not after.ok:
            log.warning(
                "survey round %s: the batch is written but the store still keeps its history: "
                "%s; the next batch waits until a scrub succeeds",
                held.public_id,
                after.reason,
            )
            self._since = after.since
        return len(written.spent)

    def _drop(self, held: _Round, gone: list[surveys.Held]) -> None:
        """Forget sheets whose links were spent meanwhile by another server process."""
        if not gone:
            return
        with self._lock:
            for sheet in gone:
                held.sheets.pop(sheet.token_hash, None)
        log.warning(
            "survey round %s: %d held answer(s) dropped: their links were used through "
            "another server process",
            held.public_id,
            len(gone),
        )

    def _engine(self) -> Engine:
        with self._sessions() as session:
            bind = session.get_bind()
        assert isinstance(bind, Engine)
        return bind


def _describe(error: BaseException) -> str:
    """What failed, without the statement's parameters (which would hold answers)."""
    if isinstance(error, exc.StatementError) and error.orig is not None:
        first = str(error.orig).strip().splitlines()
        return f"{type(error.orig).__name__}: {first[0] if first else ''}"
    return type(error).__name__


def write_answers(
    sessions: sessionmaker[Session],
    public_id: str,
    sheets: Sequence[tuple[str, Mapping[str, Any], str | None]],
    *,
    today: dt.date | None = None,
) -> Settled:
    """Answer a round with several sheets (token, answers, comment) through the same checks and
    batch writing as the web, all at once (at least k of them, else nothing is written).

    For the demo and for tests that need a round with answers.
    """
    holder = Holder(sessions, background=False)
    for token, answers, comment in sheets:
        holder.offer(
            public_id=public_id, token=token, answers=answers, comment=comment, today=today
        )
    return holder.flush(public_id)
