"""`maturity survey` and `maturity score` with survey answers, run as the command line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from maturity import perception, survey_batches, surveys
from maturity.store import engine as engine_mod
from maturity.store import tables
from tests import history as h
from tests.clirun import run_maturity

pytestmark = pytest.mark.integration

MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "review_belief.toml"
LINK = re.compile(r"^(\S+)/survey/([\w-]+)#token=([\w-]+)$", re.MULTILINE)


@pytest.fixture
def configured(store_url: str, tmp_path: Path) -> Path:
    """A team 'payments' whose merged pull requests of the last days were 40 % reviewed."""
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with engine_mod.session_scope(sessions) as s:
        history = h.StoreHistory(s)
        team = history.team("payments")
        repo = history.repository(team, "pay")
        history.pull_requests(
            repo,
            [
                h.pull_request(
                    team,
                    created_at=now - dt.timedelta(days=3, hours=i),
                    merged_at=now - dt.timedelta(days=2, hours=i),
                    reviewed=i < 4,
                )
                for i in range(10)
            ],
        )
    eng.dispose()
    cfg = tmp_path / "maturity.toml"
    cfg.write_text(
        f'model = "{MODEL}"\n\n[store]\nurl = "{store_url}"\n\n[[teams]]\nname = "payments"\n'
    )
    return cfg


def _open(cfg: Path, links: int = 6, k: int = 5) -> tuple[str, list[str], str]:
    proc = run_maturity(
        cfg, "survey", "open", "--team", "payments", "--links", str(links), "--k", str(k)
    )
    assert proc.returncode == 0, proc.stderr
    found = LINK.findall(proc.stdout)
    assert len(found) == links
    assert {f[0] for f in found} == {"http://127.0.0.1:8000"}
    return found[0][1], [f[2] for f in found], proc.stdout


def _answer(
    store_url: str,
    public_id: str,
    tokens: list[str],
    value: int,
    answers_of: Any = None,
) -> None:
    """Answer through the holder and write what is held at once (nothing below k)."""
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    with engine_mod.session_scope(sessions) as s:
        questions = surveys.questions_of(surveys.get_round(s, public_id))
    sheets = []
    for i, token in enumerate(tokens):
        answers = {q.id: value for q in questions}
        if answers_of is not None:
            answers.update(answers_of(i))
        sheets.append((token, answers, None))
    survey_batches.write_answers(sessions, public_id, sheets)
    eng.dispose()


def test_open_prints_links_once_and_stores_only_token_hashes(
    configured: Path, store_url: str
) -> None:
    public_id, tokens, stdout = _open(configured)
    eng = engine_mod.make_engine(store_url)
    with eng.connect() as conn:
        hashes = set(conn.execute(select(tables.SurveyToken.token_hash)).scalars())
        questions = conn.execute(select(tables.SurveyRound.questions)).scalar_one()
    eng.dispose()
    assert hashes == {surveys.hash_token(t) for t in tokens}
    assert not any(t in hashes for t in tokens)
    assert not any(x in stdout for x in hashes)
    ids = [q["id"] for q in questions["questions"]]
    assert "q.sc.reviews_all_code" in ids and "cams.sharing" in ids
    listed = run_maturity(configured, "survey", "list", "--team", "payments")
    assert listed.returncode == 0, listed.stderr
    assert public_id in listed.stdout and "0/5" in listed.stdout and "open" in listed.stdout
    assert not any(t in listed.stdout for t in tokens)


def test_results_and_list_show_nothing_below_k_then_everything_at_k(
    configured: Path, store_url: str
) -> None:
    public_id, tokens, _ = _open(configured)
    _answer(store_url, public_id, tokens[:4], 2)  # four are never a batch: nothing written
    below = run_maturity(configured, "survey", "results", public_id)
    assert below.returncode == 0, below.stderr
    assert "0 response(s)" in below.stdout and "5 more needed" in below.stdout
    assert "2.00" not in below.stdout and "We review all code" not in below.stdout
    _answer(store_url, public_id, tokens[:5], 2)
    at_k = run_maturity(configured, "survey", "results", public_id)
    assert at_k.returncode == 0, at_k.stderr
    assert "We review all code before it is merged." in at_k.stdout
    assert "2.00" in at_k.stdout
    closed = run_maturity(configured, "survey", "close", public_id)
    assert closed.returncode == 0, closed.stderr
    listed = run_maturity(configured, "survey", "list")
    assert "5/5" in listed.stdout and "closed" in listed.stdout


def test_open_refuses_k_below_three_in_one_line(configured: Path) -> None:
    proc = run_maturity(
        configured, "survey", "open", "--team", "payments", "--links", "5", "--k", "2"
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: k must be at least 3")


def _review_evidence(store_url: str) -> list[dict[str, Any]]:
    eng = engine_mod.make_engine(store_url)
    with eng.connect() as conn:
        evidence = conn.execute(
            select(tables.Snapshot.evidence).where(tables.Snapshot.dimension == "source_control")
        ).scalar_one()
    eng.dispose()
    return list(evidence["criteria"])


def test_score_uses_a_round_at_k_and_the_gap_with_40_percent_review_shows(
    configured: Path, store_url: str
) -> None:
    public_id, tokens, _ = _open(configured)
    _answer(store_url, public_id, tokens[:5], 5)
    proc = run_maturity(configured, "score")
    assert proc.returncode == 0, proc.stderr
    criteria = {c["id"]: c for c in _review_evidence(store_url)}
    belief = criteria["sc.reviews_all_code"]
    assert belief["verdict"] == "met"
    assert belief["survey"] == {
        "min_mean": 4.0,
        "mean": 5.0,
        "responses": 5,
        "verdict": "met",
    }
    data = criteria["sc.code_review"]["metric"]
    assert data["value"] == pytest.approx(0.4) and data["verdict"] == "unmet"
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    with engine_mod.session_scope(sessions) as s:
        team_id = s.scalar(select(tables.Team.id).where(tables.Team.name == "payments"))
        assert team_id is not None
        gaps = perception.team_gaps(s, team_id)
    eng.dispose()
    review = [g for g in gaps if g.survey_criterion == "sc.reviews_all_code"]
    assert [(g.metric_criterion, g.belief, g.data) for g in review] == [
        ("sc.code_review", "met", "unmet")
    ]
    assert review[0].value == pytest.approx(0.4) and review[0].threshold == 0.8
    assert review[0].mean == 5.0


def test_score_ignores_a_round_below_k(configured: Path, store_url: str) -> None:
    public_id, tokens, _ = _open(configured)
    _answer(store_url, public_id, tokens[:4], 5)
    proc = run_maturity(configured, "score")
    assert proc.returncode == 0, proc.stderr
    criteria = {c["id"]: c for c in _review_evidence(store_url)}
    assert criteria["sc.reviews_all_code"]["verdict"] == "unknown"


def test_a_question_rated_by_fewer_than_k_is_hidden_in_results_and_unknown_in_scores(
    configured: Path, store_url: str
) -> None:
    public_id, tokens, _ = _open(configured)
    # Five answers; only the first rates "we review all code" (5), the others don't know.
    _answer(
        store_url,
        public_id,
        tokens[:5],
        4,
        answers_of=lambda i: {"q.sc.reviews_all_code": 5 if i == 0 else None},
    )
    shown = run_maturity(configured, "survey", "results", public_id)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "We review all code" in x)
    assert "hidden: fewer than 5" in line and "5.00" not in line
    assert "4.00" in shown.stdout  # the questions that five people rated
    proc = run_maturity(configured, "score")
    assert proc.returncode == 0, proc.stderr
    criteria = {c["id"]: c for c in _review_evidence(store_url)}
    belief = criteria["sc.reviews_all_code"]
    assert belief["survey"]["mean"] is None and belief["survey"]["responses"] == 0
    assert belief["verdict"] == "unknown"
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    with engine_mod.session_scope(sessions) as s:
        team_id = s.scalar(select(tables.Team.id).where(tables.Team.name == "payments"))
        assert team_id is not None
        gaps = perception.team_gaps(s, team_id)
    eng.dispose()
    assert not [g for g in gaps if g.survey_criterion == "sc.reviews_all_code"]
