"""`maturity score` and `maturity status` on a real store, run as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from maturity.store import engine as engine_mod
from maturity.store import tables
from tests import history as h
from tests.clirun import run_maturity
from tests.integration.test_scoring_levels import LEVEL_HISTORIES, build_history

pytestmark = pytest.mark.integration


@pytest.fixture
def configured(store_url: str, tmp_path: Path) -> Path:
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    with engine_mod.session_scope(sessions) as s:
        build_history(s, "[bold]pay[/bold]", LEVEL_HISTORIES["deployment"][4])
        team = h.StoreHistory(s).team("quiet")
        assert team
    eng.dispose()
    cfg = tmp_path / "maturity.toml"
    cfg.write_text(f'[store]\nurl = "{store_url}"\n')
    return cfg


def test_score_backfill_stores_weeks_and_status_shows_levels_and_dora_tiers(
    configured: Path, store_url: str
) -> None:
    proc = run_maturity(configured, "score", "--week", "2026-03-04", "--backfill", "2")
    assert proc.returncode == 0, proc.stderr
    assert "scored 3 week(s) ending 2026-02-22 .. 2026-03-08" in proc.stdout
    eng = engine_mod.make_engine(store_url)
    with eng.connect() as conn:
        count = conn.execute(select(func.count()).select_from(tables.Snapshot)).scalar()
    eng.dispose()
    assert count == 2 * 5 * 3
    status = run_maturity(configured, "status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    # the team name is shown as text, never interpreted as markup
    assert "[bold]pay[/bold]" in out
    pay = next(
        line for line in out.splitlines() if "[bold]pay[/bold]" in line and "per week" in line
    )
    # 20 production deployments in 90 days: 1.6 a week is DORA "high"; no incidents: unknown
    assert "1.6 per week high" in pay and "unknown" in pay
    # without survey answers the survey criteria of Intermediate are unknown: Beginner
    levels = next(
        line for line in out.splitlines() if "[bold]pay[/bold]" in line and "Beginner" in line
    )
    assert "Beginner 1.00 (71% data)" in levels
    # a team without any record reads "no data", never "Base 0.00"
    quiet = [line for line in out.splitlines() if "quiet" in line]
    assert quiet and all("no data" in line or "unknown" in line for line in quiet)
    assert not any("Base" in line for line in quiet)


def test_scoring_weeks_long_after_a_history_says_which_weeks_to_score(configured: Path) -> None:
    proc = run_maturity(configured, "score", "--week", "2027-06-01")
    assert proc.returncode == 0, proc.stderr
    (note,) = [line for line in proc.stderr.splitlines() if line.startswith("note:")]
    assert "the newest commit of [bold]pay[/bold] is from 2026-" in note
    assert "maturity score --week 2026-" in note
    near = run_maturity(configured, "score", "--week", "2026-03-04")
    assert "note:" not in near.stderr


def test_score_rejects_a_bad_week_in_one_line(configured: Path) -> None:
    proc = run_maturity(configured, "score", "--week", "yesterday")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --week: expected YYYY-MM-DD, got 'yesterday'"
    ]


def test_score_of_an_unknown_team_says_so(configured: Path) -> None:
    proc = run_maturity(configured, "score", "--team", "nobody")
    assert proc.returncode == 2
    assert "no team named 'nobody'" in proc.stderr
