"""The administrator's attack: link survey answers to people with everything a deployment's
operator holds, and link nothing beyond the batch of at least k each answer was written in.

The administrator knows who got which link (so each token's person), the order in which people
answered (the proxy's access log), and reads the store the way its operator can:

* PostgreSQL: the server's own write-ahead log, decoded with ``pg_waldump`` from ``pg_wal`` in
  ``SHOW data_directory`` (the tests run as root on the database's machine, as CI does; a
  replication slot keeps the segments until they are read), and the tables' physical order
  (``ctid``) after each batch;
* SQLite: the database file and its ``-wal`` file, copied at the worst moment (right after a
  batch commits, before the scrub), read page by page for where each row's bytes lie.

From each, the attacker takes an order of a batch's answers (log order, physical order) and an
order of its people (token log order, token physical order, answering order) and pairs them
first to first, or first to last. A batch is always visible as a whole (its k answers, its k
spent links), which is the design; inside it, every pairing must do no better than chance.
"""

from __future__ import annotations

import glob
import os
import random
import re
import shutil
import subprocess
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from maturity import survey_batches, surveys
from maturity.context import AppContext
from maturity.store.engine import normalize_url, session_scope
from tests import webstore
from tests.integration.test_survey_web import ADMIN, form
from web.app import create_app
from web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

K = 5
#: rounds where every link answers (each written as one batch of exactly its links) ...
SMALL_ROUNDS = 24
#: ... and one larger round, answered in part and then closed (batches of the surplus over k,
#: then a last batch at the close)
LARGE_LINKS, LARGE_ANSWERS = 20, 16


#: a person's place in one ordering: (group, rank); two places compare only in one group
#: (SQLite: a page, whose cells' offsets order them; elsewhere everything is one group)
Place = tuple[int, int]


@dataclass
class Batch:
    """What the administrator sees of one batch, with the truth kept aside for scoring: for
    each ordering the attacker can read, the place of each true person in it."""

    people: set[str]  # the persons whose links it spent (the administrator knows this)
    answers_in_log: dict[str, Place] = field(default_factory=dict)  # by the answers' records
    tokens_in_log: dict[str, Place] = field(default_factory=dict)  # by the tokens' records
    answers_in_pages: dict[str, Place] = field(default_factory=dict)  # answers' physical order
    tokens_in_pages: dict[str, Place] = field(default_factory=dict)  # tokens' physical order
    answered: dict[str, Place] = field(default_factory=dict)  # the access log's order


def ranked(people: list[str], group: int = 0) -> dict[str, Place]:
    return {p: (group, i) for i, p in enumerate(people)}


ATTACKS = {
    "log: answers against tokens": ("answers_in_log", "tokens_in_log"),
    "log: answers against answering order": ("answers_in_log", "answered"),
    "pages: answers against tokens": ("answers_in_pages", "tokens_in_pages"),
    "pages: answers against answering order": ("answers_in_pages", "answered"),
    "log answers against token pages": ("answers_in_log", "tokens_in_pages"),
    "token pages against answering order": ("tokens_in_pages", "answered"),
}


def _concordance(batches: list[Batch], first: str, second: str) -> tuple[int, int]:
    """Over every pair of people of a batch that both orderings place (in one group each):
    how many pairs the two put in the same order, and how many pairs there were.

    An ordering that tells nothing agrees with another on about half the pairs; one that
    follows it agrees on (nearly) all, one that reverses it on (nearly) none.
    """
    same = pairs = 0
    for b in batches:
        x, y = getattr(b, first), getattr(b, second)
        people = sorted(set(x) & set(y))
        for i, p in enumerate(people):
            for q in people[i + 1 :]:
                if x[p][0] != x[q][0] or y[p][0] != y[q][0]:
                    continue
                pairs += 1
                same += (x[p][1] < x[q][1]) == (y[p][1] < y[q][1])
    return same, pairs


# --- driving the web application ------------------------------------------------------------


def _open(context: AppContext, links: int) -> tuple[str, list[str]]:
    """A round of the four CAMS questions: small rows, many to a page, so that a page keeps
    the order its rows were written in for as long as possible (the attacker's best case)."""
    with session_scope(context.sessions) as s:
        team_id = s.execute(text("SELECT id FROM teams WHERE slug = 'payments'")).scalar_one()
        opened = surveys.open_round(
            s,
            team_id=team_id,
            questions=surveys.CAMS_QUESTIONS,
            links=links,
            k=K,
            model_version="test",
        )
    return opened.public_id, opened.tokens


def _answer_rounds(context: AppContext, after_batch: Any) -> tuple[list[Batch], dict[str, str]]:
    """People answer through the form in a random order; returns the batches as the
    administrator sees them, and each token hash's person.

    ``after_batch(batch, responses, tokens)`` is called as each batch appears, with the true
    person of each new response id and of each newly spent token hash, to read the store then.
    """
    app = create_app(context, settings=WebSettings(admin_token=SecretStr(ADMIN)))
    holder = survey_batches.Holder(context.sessions, background=False)
    app.state.survey_holder = holder
    c = TestClient(app, follow_redirects=False)
    rng = random.Random(16)
    people: list[tuple[str, str, str]] = []  # (round, token, person)
    rounds = [_open(context, K) for _ in range(SMALL_ROUNDS)]
    large = _open(context, LARGE_LINKS)
    for r, (public_id, tokens) in enumerate(rounds):
        people += [(public_id, t, f"p{r}.{i}") for i, t in enumerate(tokens)]
    people += [(large[0], t, f"L.{i}") for i, t in enumerate(large[1][:LARGE_ANSWERS])]
    rng.shuffle(people)  # the order people answer in has nothing to do with the link list
    person_of_token = {surveys.hash_token(t): p for _, t, p in people}
    batches: list[Batch] = []
    known_responses: set[str] = set()
    spent_before: set[str] = set()
    answered: list[str] = []

    def observe() -> None:
        # What the administrator can read at any moment: which links are spent, which rows
        # exist. A change is one batch.
        with session_scope(context.sessions) as s:
            spent = set(
                s.execute(text("SELECT token_hash FROM survey_tokens WHERE spent")).scalars()
            )
            responses = dict(s.execute(text("SELECT id, comment FROM survey_responses")).all())
        new_tokens = spent - spent_before
        new_responses = set(responses) - known_responses
        assert len(new_tokens) == len(new_responses)  # a batch spends exactly its answers' links
        if not new_tokens:
            return
        assert len(new_tokens) >= K
        who = {person_of_token[h] for h in new_tokens}
        assert {responses[i] for i in new_responses} == who  # truth: the same people
        batch = Batch(people=who, answered=ranked([p for p in answered if p in who]))
        batches.append(batch)
        after_batch(
            batch,
            {i: responses[i] for i in new_responses},
            {h: person_of_token[h] for h in new_tokens},
        )
        spent_before.update(new_tokens)
        known_responses.update(new_responses)

    for public_id, token, person in people:
        sheet = form(context, public_id, token, 1 + len(answered) % 5, comment=person)
        assert c.post(f"/survey/{public_id}", data=sheet).status_code == 303
        answered.append(person)
        holder.settle()  # what the holder's thread does after each answer
        observe()
    closed = c.post(
        f"/api/v1/surveys/{large[0]}/close", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert closed.json()["written"] >= K
    observe()
    total = sum(len(b.people) for b in batches)
    assert total == SMALL_ROUNDS * K + LARGE_ANSWERS  # nothing lost, nothing below k
    return batches, person_of_token


def _assert_nothing_linked(batches: list[Batch], attacks: list[str]) -> None:
    """Every ordering the attacker reads agrees with the others only as chance would: on 30 %
    to 70 % of the pairs (100 to 300 pairs: chance gives 50 % +- 3 to 5 %). Answers written in
    the order they came agree with the answering order on nearly every pair (PostgreSQL) or
    disagree on most (SQLite, whose pages fill from their end)."""
    found = {name: _concordance(batches, *ATTACKS[name]) for name in attacks}
    for name, (same, pairs) in found.items():
        assert pairs >= 100, (name, pairs)  # enough pairs for the attack to mean something
        assert 0.3 * pairs < same < 0.7 * pairs, found


# --- SQLite: the database file and its write-ahead log ----------------------------------------


def _pages(db: bytes, wal: bytes) -> dict[int, bytes]:
    """The newest image of every page: the database file, then the log's frames over it."""
    page_size = int.from_bytes(db[16:18], "big") or 65536
    pages = {n + 1: db[n * page_size : (n + 1) * page_size] for n in range(len(db) // page_size)}
    pos = 32  # the log's header
    while pos + 24 + page_size <= len(wal):
        number = int.from_bytes(wal[pos : pos + 4], "big")
        pages[number] = wal[pos + 24 : pos + 24 + page_size]
        pos += 24 + page_size
    return pages


def _tree(pages: dict[int, bytes], root: int) -> list[int]:
    """The pages of one b-tree, walked from its root (freed pages with stale rows are not)."""
    found, todo = [], [root]
    while todo:
        number = todo.pop()
        page = pages[number]
        h = 100 if number == 1 else 0
        found.append(number)
        if page[h] in (0x02, 0x05):  # interior: children in the cells and the right pointer
            cells = int.from_bytes(page[h + 3 : h + 5], "big")
            todo.append(int.from_bytes(page[h + 8 : h + 12], "big"))
            for c in range(cells):
                at = int.from_bytes(page[h + 12 + 2 * c : h + 14 + 2 * c], "big")
                todo.append(int.from_bytes(page[at : at + 4], "big"))
    return found


def _position(pages: dict[int, bytes], tree: list[int], needle: bytes) -> tuple[int, int] | None:
    """(page, byte offset) of a row's bytes in one of the tree's pages: an index b-tree (a
    WITHOUT ROWID table) keeps whole rows in its interior pages too."""
    for number in tree:
        at = pages[number].find(needle)
        if at >= 0:
            return number, at
    return None


def test_sqlite_files_link_no_answer_to_a_person(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    database = Path(str(make_url(sqlite_url).database))
    copies: list[tuple[bytes, bytes]] = []
    real_scrub = survey_batches.scrub

    def copying_scrub(engine: Any, **kw: Any) -> Any:
        # The administrator copies the files whenever they like: here, each time just before
        # a scrub, which is also right after each batch commits.
        wal = Path(f"{database}-wal")
        copies.append((database.read_bytes(), wal.read_bytes() if wal.exists() else b""))
        return real_scrub(engine, **kw)

    monkeypatch.setattr(survey_batches, "scrub", copying_scrub)
    with session_scope(context.sessions) as s:
        roots = dict(
            s.execute(text("SELECT name, rootpage FROM sqlite_master WHERE type = 'table'")).all()
        )

    def after_batch(batch: Batch, responses: dict[str, str], tokens: dict[str, str]) -> None:
        # The first copy that holds the whole batch: where its rows' bytes lie in its pages
        # (the database file with the log's newer page images over it).
        for db, wal in copies:
            pages = _pages(db, wal)
            tree = _tree(pages, roots["survey_responses"])
            at = {i: _position(pages, tree, i.encode()) for i in responses}
            if all(at.values()):
                break
        else:
            raise AssertionError("no copy of the files holds the batch")
        # Within a page, a cell's offset orders it (SQLite fills a page from its end down).
        batch.answers_in_pages = {responses[i]: at[i] for i in responses}  # type: ignore[misc]
        token_tree = _tree(pages, roots["survey_tokens"])
        token_at = {h: _position(pages, token_tree, h.encode()) for h in tokens}
        assert all(token_at.values())
        batch.tokens_in_pages = {tokens[h]: token_at[h] for h in tokens}  # type: ignore[misc]

    try:
        batches, _ = _answer_rounds(context, after_batch)
        wal_after_last_scrub = Path(f"{database}-wal").stat().st_size
    finally:
        context.close()
    _assert_nothing_linked(
        batches,
        [
            "pages: answers against tokens",
            "pages: answers against answering order",
            "token pages against answering order",
        ],
    )
    assert wal_after_last_scrub == 0  # and the last scrub emptied the log


# --- PostgreSQL: the server's write-ahead log and the pages -----------------------------------


def _pg_waldump(conn: Any) -> str:
    """The pg_waldump of the server's major version (CI installs it with the server)."""
    major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    candidates = [
        f"/usr/lib/postgresql/{major}/bin/pg_waldump",
        f"/usr/pgsql-{major}/bin/pg_waldump",
    ]
    found = shutil.which("pg_waldump")
    if found:
        candidates.append(found)
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/{major}*/bin/pg_waldump"))
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise AssertionError(
        f"pg_waldump for PostgreSQL {major} not found (tried {candidates}): install the "
        "server's package on this machine, as .ci/run does"
    )


_RECORD = re.compile(r"rmgr: Heap2?\s.*?tx:\s*(\d+), lsn: ([0-9A-F]+/[0-9A-F]+).*?desc: (\S+)(.*)$")
_BLOCK = re.compile(r"blkref #0: rel (\d+)/(\d+)/(\d+)(?: fork \w+)?,? blk (\d+)")


def _wal_records(path: str, data_dir: str, start: str, end: str) -> list[tuple[int, str, str, str]]:
    """(transaction, kind, "database oid/relation file", ctid) of every heap insert and update
    between two positions of the log, in log order (the new ctid for an update)."""
    proc = subprocess.run(
        [path, "-p", os.path.join(data_dir, "pg_wal"), "-s", start, "-e", end],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout, proc.stderr
    found = []
    for line in proc.stdout.splitlines():
        record = _RECORD.search(line)
        block = _BLOCK.search(line)
        if record is None or block is None:
            continue
        tx, _lsn, kind, rest = record.groups()
        if kind.startswith("INSERT"):
            offset = re.search(r"\boff:? (\d+)", rest)
        elif kind in ("UPDATE", "HOT_UPDATE"):
            offset = re.search(r"new[ _]off:? (\d+)", rest)
        else:
            continue
        assert offset is not None, line
        relation = f"{block.group(2)}/{block.group(3)}"
        found.append((int(tx), kind, relation, f"({block.group(4)},{offset.group(1)})"))
    return found


@pytest.mark.postgres
def test_postgres_wal_and_pages_link_no_answer_to_a_person(
    tmp_path: Path, postgres_template: str
) -> None:
    from tests.conftest import drop_postgres_store, new_postgres_store

    store_url, name = new_postgres_store(postgres_template)
    context = webstore.make_context(tmp_path, store_url)
    try:
        _attack_postgres(context, make_url(normalize_url(store_url)))
    finally:
        context.close()
        drop_postgres_store(name)


def _attack_postgres(context: AppContext, url: Any) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    slot = f"maturity_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        data_dir = str(conn.execute(text("SHOW data_directory")).scalar_one())
        waldump = _pg_waldump(conn)
        assert os.access(os.path.join(data_dir, "pg_wal"), os.R_OK), (
            f"{data_dir}/pg_wal is not readable: run the tests as root on the server's machine"
        )
        # Keeps every log segment from here on until it is read (what an archive would keep).
        conn.execute(text("SELECT pg_create_physical_replication_slot(:s, true)"), {"s": slot})
        start = str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())
        files = dict(
            conn.execute(
                text(
                    "SELECT relname, (SELECT oid FROM pg_database WHERE datname = "
                    "current_database())::text || '/' || pg_relation_filenode(oid)::text "
                    "FROM pg_class WHERE relname IN ('survey_tokens', 'survey_responses')"
                )
            ).all()
        )

    def after_batch(batch: Batch, responses: dict[str, str], tokens: dict[str, str]) -> None:
        # The tables' physical order right after the batch.
        with admin.connect() as conn:
            at_r = dict(conn.execute(text("SELECT id, ctid::text FROM survey_responses")).all())
            at_t = dict(
                conn.execute(text("SELECT token_hash, ctid::text FROM survey_tokens")).all()
            )
        batch.answers_in_pages = ranked(
            [responses[i] for i in sorted(responses, key=lambda i: _ctid_key(at_r[i]))]
        )
        batch.tokens_in_pages = ranked(
            [tokens[h] for h in sorted(tokens, key=lambda h: _ctid_key(at_t[h]))]
        )

    try:
        batches, person_of_hash = _answer_rounds(context, after_batch)
        with admin.connect() as conn:
            end = str(conn.execute(text("SELECT pg_current_wal_flush_lsn()")).scalar_one())
            at_r = dict(
                conn.execute(text("SELECT ctid::text, comment FROM survey_responses")).all()
            )
            at_t = dict(
                conn.execute(text("SELECT ctid::text, token_hash FROM survey_tokens")).all()
            )
        records = [r for r in _wal_records(waldump, data_dir, start, end) if r[2] in files.values()]
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_drop_replication_slot(:s)"), {"s": slot})
        admin.dispose()
    by_tx: dict[int, dict[str, list[str]]] = {}
    for tx, kind, relfile, ctid in records:
        entry = by_tx.setdefault(tx, {"answers": [], "tokens": []})
        if relfile == files["survey_responses"]:
            assert kind.startswith("INSERT"), (kind, ctid)  # answers are only ever inserted
            entry["answers"].append(at_r[ctid])
        elif kind.startswith("INSERT"):
            entry.setdefault("minted", []).append(ctid)  # links made by opening a round
        else:
            assert kind in ("UPDATE", "HOT_UPDATE"), (kind, ctid)
            entry["tokens"].append(person_of_hash[at_t[ctid]])
    assert not [e for e in by_tx.values() if e.get("minted") and e["answers"] + e["tokens"]]
    written = [e for e in by_tx.values() if e["answers"] or e["tokens"]]
    # Every transaction of the log that touched an answer or a token is a whole batch: at
    # least k answers inserted, exactly their links spent, nothing else.
    assert len(written) == len(batches)
    for entry in written:
        assert len(entry["answers"]) == len(entry["tokens"]) >= K
        assert set(entry["answers"]) == set(entry["tokens"])
        batch = next(b for b in batches if b.people == set(entry["answers"]))
        batch.answers_in_log = ranked(entry["answers"])
        batch.tokens_in_log = ranked(entry["tokens"])
    assert all(b.answers_in_log for b in batches)
    _assert_nothing_linked(batches, list(ATTACKS))


def _ctid_key(ctid: str) -> tuple[int, int]:
    block, offset = ctid.strip("()").split(",")
    return int(block), int(offset)
