"""Retrospective reports from hand-built history, on real SQLite and PostgreSQL stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity import config as config_mod
from maturity import display, pipeline, survey_batches, surveys
from maturity import model as model_mod
from maturity.context import AppContext
from maturity.store import scores
from maturity.store.engine import session_scope
from reports import build, flows, render
from tests import clirun, webstore
from tests import reporthistory as rh
from tests.integration.test_scoring_levels import LEVEL_HISTORIES, build_history

pytestmark = pytest.mark.integration

MODEL = model_mod.load(None)
CONFIG = config_mod.Config(base_dir=Path("."))
WEEKS = [dt.date(2026, 10, 4) + dt.timedelta(7 * i) for i in range(5)]  # Sundays
START, END = WEEKS[0], WEEKS[-1]
HOSTILE = "<script>window.__xss=1</script> *bold* [link](http://evil.example) | pipe"
DORA = {
    "freshness_git_days": (1.0, 1),
    "freshness_ci_days": (2.0, 1),
    "freshness_deploy_days": (3.0, 1),
    "freshness_tracker_days": (4.0, 1),
}


def add_history(session: Session, team_id: int) -> None:
    """Source control: Intermediate, then Advanced from the fourth week; Deployment falls."""
    for i, week in enumerate(WEEKS):
        up = i >= 3
        values = {
            **DORA,
            "deployment_frequency": (1.5 + i, 20),
            "lead_time_hours": (50.0 - 5 * i, 30),
            "change_failure_rate": (0.10 + 0.02 * i, 20),
            "time_to_restore_hours": (None, 0),
        }
        rh.add_week(
            session,
            MODEL,
            team_id,
            week,
            {"source_control": (3 if up else 2, 1), "deployment": (1 if up else 2, 0)},
            values,
        )


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_scope(sessions) as s:
        add_history(s, rh.add_team(s, "Payments", "payments"))
        rh.add_team(s, "Quiet", "quiet")
    return sessions


def report_of(
    sessions: sessionmaker[Session],
    team: str = "payments",
    start: dt.date = START,
    end: dt.date = END,
    model: model_mod.Model = MODEL,
) -> build.Report:
    with session_scope(sessions) as s:
        return build.build_report(s, CONFIG, model, team=team, start=start, end=end)


def test_level_rise_is_stated_with_numbers_in_markdown_and_html(
    store: sessionmaker[Session],
) -> None:
    report = report_of(store)
    rise = "Source control rose: it went from Intermediate to Advanced (score 2.33 to 3.33)."
    best = "The biggest improvement is Source control: score 2.33 to 3.33 (+1.00)."
    assert report.summary[0] == rise and best in report.summary
    md = render.to_markdown(report)
    html = render.to_html(report)
    for text in (md, html):
        assert rise in text and best in text
    assert "| Source control | Intermediate | Advanced | 2.33 | 3.33 | +1.00 | 100% |" in md
    # the criteria newly met at Advanced are listed with their evidence
    sc = next(d for d in report.dimensions if d.id == "source_control")
    assert [c.id for c in sc.newly_met] == [
        "sc.short_lived_branches",
        "sc.ci_builds_trunk",
        "sc.one_artifact_per_repository",
    ]
    assert "ci_coverage = 80% (needs &gt;= 80%, 12 records)" in html
    assert "ci\\_coverage = 80% (needs &gt;= 80%, 12 records)" in md


def test_dora_keys_show_now_previous_change_and_tier(store: sessionmaker[Session]) -> None:
    report = report_of(store)
    df = next(k for k in report.dora if k.metric == "deployment_frequency")
    assert (df.now, df.previous, df.change, df.tier) == (5.5, 1.5, 4.0, "high")
    md = render.to_markdown(report)
    assert "| Deployment frequency | 5.5 per week | 1.5 per week | +4 per week | high |" in md
    assert "| Change failure rate | 18% | 10% | +8 pp | high |" in md
    assert "| Time to restore service | unknown | unknown | n/a | unknown |" in md
    # the figures are the stored metric values, exactly as scores.metric_series returns them
    with session_scope(store) as s:
        stored = scores.metric_series(s, metrics=["lead_time_hours"], until=END)
    assert [k.now for k in report.dora if k.metric == "lead_time_hours"] == [
        stored["value"].iloc[-1]
    ]


def test_regression_is_named_with_the_criteria_lost(store: sessionmaker[Session]) -> None:
    report = report_of(store)
    worst = "The biggest regression is Deployment: score 2.00 to 1.00 (-1.00)."
    assert worst in report.summary
    assert "Deployment fell: it went from Intermediate to Beginner (score 2.00 to 1.00)." in (
        report.summary
    )
    dep = next(d for d in report.dimensions if d.id == "deployment")
    assert {c.id for c in dep.newly_lost} == {"dep.config_separate", "dep.invisible_to_users"}
    assert "Newly lost" in render.to_markdown(report)


def test_next_steps_are_three_unmet_criteria_of_the_next_level_with_why_and_measure(
    store: sessionmaker[Session],
) -> None:
    report = report_of(store)
    assert len(report.next_steps) == 3
    for step in report.next_steps:
        criterion = next(c for _, lv, c in MODEL.criteria() if c.id == step.id)
        assert step.why == criterion.rationale
        assert "target" in step.measure


def test_period_without_snapshots_says_so_instead_of_failing(
    store: sessionmaker[Session],
) -> None:
    report = report_of(store, team="quiet")
    assert not report.has_data
    assert report.summary[0].startswith("No maturity data exists for Quiet between 2026-10-04")
    md, html = render.to_markdown(report), render.to_html(report)
    for text in (md, html):
        assert "No maturity data exists for Quiet" in text
        assert "maturity score --backfill 5" in text
    assert "svg" not in html and "Plotly" not in html  # no charts, no plotly.js


def test_period_before_any_scored_week_says_so(store: sessionmaker[Session]) -> None:
    report = report_of(store, start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1))
    assert not report.has_data
    assert "no week in this period has been scored" in report.summary[0]


def test_first_scored_week_is_then_when_nothing_before_the_start(
    store: sessionmaker[Session],
) -> None:
    report = report_of(store, start=dt.date(2026, 10, 1), end=END)
    assert report.week_then == WEEKS[0]
    assert any("No week before 2026-10-01 was scored" in c for c in report.caveats)


def _round(
    s: Session,
    team_id: int,
    responses: int,
    k: int,
    opened: dt.date,
    text: str,
    rated: int | None = None,
) -> None:
    """A round with ``responses`` answers of 5 to one question (only ``rated`` of them rate it,
    the others say "don't know"), written as one batch when they reach k."""
    questions = [
        surveys.Question(id="q1", text=text, criterion_id="sc.automated_tagging"),
    ]
    opened_round = surveys.open_round(
        s,
        team_id=team_id,
        questions=questions,
        links=max(k, responses),
        model_version="1",
        k=k,
        today=opened,
    )
    if responses < k:
        return  # held answers below k are never written
    rated = responses if rated is None else rated
    sheets = [
        surveys.Held(surveys.hash_token(t), {"q1": 5 if i < rated else None})
        for i, t in enumerate(opened_round.tokens)
    ]
    survey_batches.write_batch(
        s, round_id=surveys.get_round(s, opened_round.public_id).id, sheets=sheets, k=k
    )


def test_survey_rounds_below_k_are_absent_and_at_k_present_with_perception_gap(
    store: sessionmaker[Session],
) -> None:
    with session_scope(store) as s:
        team_id = int(scores.team_names(s).set_index("slug").loc["payments", "team_id"])
        _round(s, team_id, 2, 3, dt.date(2026, 10, 10), "Below k: tags are automated")
        _round(s, team_id, 3, 3, dt.date(2026, 10, 20), "At k: tags are automated")
    report = report_of(store)
    assert [r.responses for r in report.surveys] == [3]
    md, html = render.to_markdown(report), render.to_html(report)
    for text in (md, html):
        assert "At k: tags are automated" in text
        assert "Below k" not in text
        assert "1 survey round(s) did not reach the minimum number of responses" in text
    # the data says unmet (0.7 < 0.8) while the engineers rate it 5 of 5: a perception gap
    (gap,) = report.gaps
    assert gap.criterion_id == "sc.automated_tagging"
    assert gap.data_says.startswith("unmet: automated_tag_share = 70% (needs >= 80%)")
    assert gap.engineers_say.startswith("met: mean 5.0 of 5")


def test_a_question_rated_by_fewer_than_k_is_hidden_and_makes_no_perception_gap(
    store: sessionmaker[Session],
) -> None:
    with session_scope(store) as s:
        team_id = int(scores.team_names(s).set_index("slug").loc["payments", "team_id"])
        _round(s, team_id, 3, 3, dt.date(2026, 10, 20), "Tags are automated", rated=1)
    report = report_of(store)
    (shown,) = report.surveys
    (question,) = shown.questions
    assert (question.mean, question.answered) == (None, None)
    assert report.gaps == ()  # one person's 5 of 5 would have made one against the data's 0.7
    md, html = render.to_markdown(report), render.to_html(report)
    for text in (md, html):
        assert "Tags are automated" in text
        assert "hidden: fewer than 3 ratings" in text
        assert "mean 5.0" not in text


def test_untrusted_team_criterion_and_survey_text_is_escaped_in_every_format(
    sessions: sessionmaker[Session],
) -> None:
    dim = MODEL.dimension("source_control")
    levels = tuple(
        dataclasses.replace(
            lv,
            criteria=tuple(
                dataclasses.replace(c, description=HOSTILE) if c.id == "sc.ci_builds_trunk" else c
                for c in lv.criteria
            ),
        )
        for lv in dim.levels
    )
    model = dataclasses.replace(
        MODEL,
        dimensions=tuple(
            dataclasses.replace(d, levels=levels) if d.id == dim.id else d for d in MODEL.dimensions
        ),
    )
    with session_scope(sessions) as s:
        team_id = rh.add_team(s, HOSTILE, "hostile")
        add_history(s, team_id)
        _round(s, team_id, 3, 3, dt.date(2026, 10, 20), HOSTILE)
    report = report_of(sessions, team="hostile", model=model)
    html = render.to_html(report)
    assert "<script>window" not in html
    assert (
        html.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") >= 4
    )  # title, h1, criterion, survey
    md = render.to_markdown(report)
    assert "<script>" not in md
    assert not re.search(r"(?<!\\)\]\(http", md)  # no live link
    assert not re.search(r"(?<!\\)\*bold", md)  # no emphasis
    escaped = (
        "&lt;script&gt;window.\\_\\_xss=1&lt;/script&gt; \\*bold\\* "
        "\\[link\\](http://evil.example) \\| pipe"
    )
    assert md.count(escaped) >= 3
    assert "# Retrospective report: " + escaped in md
    # figure JSON cannot close its script element
    for block in html.split('type="application/json"')[1:]:
        assert "</script" not in block.split("</script>", 1)[0]


def test_default_period_starts_where_the_previous_report_ended(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    first = flows.generate(
        store,
        CONFIG,
        MODEL,
        team="payments",
        fmt="html",
        out=tmp_path / "a.html",
        end=WEEKS[2],
        today=END,
    )
    assert (first.start, first.end) == (WEEKS[2] - dt.timedelta(28), WEEKS[2])
    second = flows.generate(
        store, CONFIG, MODEL, team="payments", fmt="html", out=tmp_path / "b.html", today=END
    )
    assert (second.start, second.end) == (WEEKS[2], END)
    assert (tmp_path / "b.html").read_text().startswith("<!DOCTYPE html>")


def test_real_scoring_feeds_the_report_unchanged(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        build_history(s, "scored", LEVEL_HISTORIES["source_control"][3])
    pipeline.score(sessions, CONFIG, MODEL, week=dt.date(2026, 3, 4), backfill=4)
    with session_scope(sessions) as s:
        stored = scores.latest_snapshots(s)
        report = build.build_report(
            s, CONFIG, MODEL, team="scored", start=dt.date(2026, 2, 8), end=dt.date(2026, 3, 8)
        )
    assert report.has_data and report.week_now == dt.date(2026, 3, 8)
    levels = dict(zip(stored["dimension"], stored["level"], strict=True))
    assert {d.id: d.level_now for d in report.dimensions} == levels
    assert "Source control" in render.to_markdown(report)


# --- the command line and the web download ------------------------------------------------


@pytest.fixture
def context(tmp_path: Path, store_url: str) -> Iterator[AppContext]:
    ctx = webstore.make_context(tmp_path, store_url)
    with session_scope(ctx.sessions) as s:
        team_id = int(scores.team_names(s).set_index("slug").loc["payments", "team_id"])
        add_history(s, team_id)
    yield ctx
    ctx.close()


def _cli(context: AppContext, *args: str) -> subprocess.CompletedProcess[str]:
    assert context.config_path is not None
    return clirun.run(
        [sys.executable, "-m", "maturity", "--config", str(context.config_path), "report", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
        cwd=context.config_path.parent,
    )


def test_cli_writes_a_report_and_all_teams_an_index(context: AppContext, tmp_path: Path) -> None:
    one = _cli(
        context,
        "--team",
        "payments",
        "--from",
        "2026-10-04",
        "--to",
        "2026-11-01",
        "--format",
        "html",
        "--out",
        str(tmp_path / "pay.html"),
    )
    assert one.returncode == 0, one.stderr
    assert "went from Intermediate to Advanced" in (tmp_path / "pay.html").read_text()
    every = _cli(
        context,
        "--all-teams",
        "--to",
        "2026-11-01",
        "--format",
        "html",
        "--out",
        str(tmp_path / "all"),
    )
    assert every.returncode == 0, every.stderr
    index = (tmp_path / "all" / "index.html").read_text()
    assert '<a href="payments.html">payments</a>' in index
    assert '<a href="search.html">search</a>' in index
    assert "No maturity data exists for search" in (tmp_path / "all" / "search.html").read_text()
    assert not list((tmp_path / "all").glob(".*tmp*"))  # atomic writes leave no temporary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "nobody"], "no team named 'nobody'"),
        (["--team", "payments", "--from", "2026-13-01"], "--from: expected YYYY-MM-DD"),
        (["--team", "payments", "--from", "2026-11-02", "--to", "2026-11-01"], "is after --to"),
        ([], "give --team T or --all-teams"),
    ],
)
def test_cli_rejects_bad_requests_with_one_clear_line(
    context: AppContext, args: list[str], message: str
) -> None:
    proc = _cli(context, *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_web_download_is_an_attachment_named_by_slug(context: AppContext) -> None:
    from tests.integration.test_web_api import client

    web = client(context)
    resp = web.get("/teams/payments/report?format=md&from=2026-10-04&to=2026-11-01")
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == (
        'attachment; filename="report-payments-2026-10-04-2026-11-01.md"'
    )
    assert "went from Intermediate to Advanced" in resp.text
    html = web.get("/teams/payments/report?from=2026-10-04&to=2026-11-01")
    assert html.headers["content-type"].startswith("text/html")
    assert "went from Intermediate to Advanced" in html.text
    assert web.get("/teams/nobody/report").status_code == 404
    assert web.get("/teams/payments/report?from=2026-11-02&to=2026-11-01").status_code == 422
    assert web.get("/teams/payments/report?from=yesterday").status_code == 422


def test_a_team_without_data_reads_no_data_not_base_zero(
    store: sessionmaker[Session],
) -> None:
    unknown = {c.id.replace(".", "_"): "unknown" for _, _, c in MODEL.criteria()}
    with session_scope(store) as s:
        team_id = int(scores.team_names(s).set_index("slug").loc["quiet", "team_id"])
        for week in WEEKS:
            levels = {d.id: (0, 0) for d in MODEL.dimensions}
            rh.add_week(s, MODEL, team_id, week, levels, **unknown)
    report = report_of(store, team="quiet")
    assert {(d.level_then_name, d.level_now_name) for d in report.dimensions} == {
        ("no data", "no data")
    }
    md, html = render.to_markdown(report), render.to_html(report)
    assert "| Source control | no data | no data | — | — | — | 0% |" in md
    assert "No dimension of Quiet had data in the weeks compared" in report.summary[0]
    table = html.split('<section id="dimensions">')[1].split("</table>")[0]
    for text in (md.split(f"## {display.DORA_HEADING}")[0], table):
        assert "Base" not in text and "0.00" not in text
        assert text.count("no data") >= 2 * len(MODEL.dimensions)
