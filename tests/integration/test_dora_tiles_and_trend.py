"""Failed deployment recovery time as the fifth DORA tile (overview, team page, API, reports) and
the organisation trend over the teams with data only, on hand-built SQLite and PostgreSQL stores.

Payments has data everywhere; Search has none in Reporting (coverage 0, "no data" on every
page) and is at Base with data (score 0) in Build & test; in the middle week neither team has
data in Reporting.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from maturity import config as config_mod
from maturity import dashboards, display, metrics
from maturity import model as model_mod
from maturity.context import AppContext
from maturity.store import scores, tables
from maturity.store.engine import session_scope
from reports import build, charts, render
from tests import reporthistory as rh
from tests import webstore

pytestmark = pytest.mark.integration

MODEL = model_mod.load(None)
WEEKS = [dt.date(2026, 11, 8), dt.date(2026, 11, 15), dt.date(2026, 11, 22)]  # Sundays
FDR = "failed_deployment_recovery_hours"
#: payments' failed deployment recovery time per week: 30 h (medium), 20 h, 12 h (high)
RECOVERY = [30.0, 20.0, 12.0]


@pytest.fixture
def context(store_url: str, tmp_path: Path) -> Iterator[AppContext]:
    ctx = webstore.make_context(tmp_path, store_url)
    with session_scope(ctx.sessions) as s:
        ids = {str(r.slug): int(r.team_id) for r in scores.team_names(s).itertuples()}
        for i, week in enumerate(WEEKS):
            rh.add_week(
                s,
                MODEL,
                ids["payments"],
                week,
                {"deployment": (2, 0), "reporting": (3, 0)},
                {
                    "deployment_frequency": (4.0, 12),
                    "time_to_restore_hours": (10.0, 5),
                    FDR: (RECOVERY[i], 3),
                },
            )
            rh.add_week(
                s,
                MODEL,
                ids["search"],
                week,
                {"deployment": (1, 0), "build_test": (0, 0)},
                {"deployment_frequency": (2.0, 6), FDR: (None, 0)},
            )
        S = tables.Snapshot
        no_data = {"level": 0, "score": 0.0, "coverage": 0.0}
        s.execute(
            update(S)
            .where(S.team_id == ids["search"], S.dimension == "reporting")
            .values(**no_data)
        )
        s.execute(
            update(S)
            .where(S.team_id == ids["payments"], S.dimension == "reporting")
            .where(S.period_end == WEEKS[1])
            .values(**no_data)
        )
    yield ctx
    ctx.close()


def _trend(context: AppContext) -> dict[tuple[str, dt.date], tuple[float, int]]:
    with context.sessions() as s:
        frame = scores.score_trend(s)
    return {
        (str(r.dimension), r.period_end): (float(r.score), int(r.teams)) for r in frame.itertuples()
    }


def test_the_trend_averages_only_the_teams_with_data_and_says_how_many(
    context: AppContext,
) -> None:
    trend = _trend(context)
    # both teams have data in Deployment: (2 + 1) / 2
    assert [trend[("deployment", w)] for w in WEEKS] == [(1.5, 2)] * 3
    # Search is at Base in Build & test with data (score 0, coverage 1): it counts, (1 + 0) / 2
    assert [trend[("build_test", w)] for w in WEEKS] == [(0.5, 2)] * 3
    # Search has none in Reporting: the mean is Payments' 3.0 alone, over one team, not 1.5
    assert trend[("reporting", WEEKS[0])] == (3.0, 1)
    assert trend[("reporting", WEEKS[2])] == (3.0, 1)
    # no team had data in Reporting in the middle week: no point, not 0
    assert ("reporting", WEEKS[1]) not in trend
    assert len(trend) == 5 * 3 - 1


def test_the_overview_trend_chart_has_a_gap_where_no_team_had_data(context: AppContext) -> None:
    with context.sessions() as s:
        view = dashboards.overview(s, MODEL)
    fig = charts.organisation_trend(view.trend, dict(view.dimensions), title="t")
    reporting = next(t for t in fig.data if t.name == "Reporting" and t.mode == "lines")
    assert list(reporting.y) == [3.0, None, 3.0]
    assert list(reporting.customdata) == [1, None, 1]  # teams the mean is over


def _cell(html: str, slug: str, metric: str) -> str:
    """The DORA table's cell of ``metric`` in the row of ``slug`` on the overview."""
    table = html.split('<table id="dora">')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if f'href="/teams/{slug}"' in r)
    match = re.search(rf'<td data-metric="{metric}">(.*?)</td>', row, re.S)
    assert match, row
    return match.group(1)


def test_the_overview_shows_failed_deployment_recovery_as_a_fifth_tile(
    context: AppContext,
) -> None:
    html = webstore.client(context).get("/overview").text
    assert f"<h2>{display.DORA_HEADING}</h2>" in html and "failed deployment recovery" in html
    header = html.split('<table id="dora">')[1].split("</thead>")[0]
    assert re.findall(r"<th>([^<]*)</th>", header) == [
        "Team",
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Time to restore service",
        "Failed deployment recovery time",
        "Week",
    ]
    # the newest week: 12 h is "under a day", DORA high
    paid = _cell(html, "payments", FDR)
    assert '<span class="value">12 h</span>' in paid and "tier-high" in paid
    assert ">10 h<" in _cell(html, "payments", "time_to_restore_hours")
    # unknown reads unknown, with the unknown tier, never 0
    quiet = _cell(html, "search", FDR)
    assert '<span class="value muted">unknown</span>' in quiet and "tier-unknown" in quiet


def _tile(html: str, metric: str) -> str:
    match = re.search(rf'<div class="tile" data-metric="{metric}">(.*?)</div>\s*</div>', html, re.S)
    assert match
    return match.group(1)


def test_the_team_page_shows_the_fifth_tile_with_its_tier_and_its_trend(
    context: AppContext,
) -> None:
    c = webstore.client(context)
    html = c.get("/teams/payments").text
    assert f"<h2>{display.DORA_HEADING}</h2>" in html
    tiles = re.findall(r'<div class="tile" data-metric="([a-z_]+)">', html)
    assert tiles == list(metrics.DORA_TILES) and tiles[-1] == FDR
    tile = _tile(html, FDR)
    assert "Failed deployment recovery time" in tile and '<div class="value">12 h</div>' in tile
    assert "tier-high" in tile and "n = 3" in tile
    assert 'id="chart-failed_deployment_recovery_hours"' in html
    quiet = _tile(c.get("/teams/search").text, FDR)
    assert '<div class="value">unknown</div>' in quiet and "tier-unknown" in quiet


def test_the_metrics_api_serves_it_with_its_tier_and_unknown_as_null(context: AppContext) -> None:
    c = webstore.client(context)
    paid = c.get(f"/api/v1/metrics?team=payments&metric={FDR}").json()
    assert [(r["value"], r["text"], r["tier"]) for r in paid] == [
        (30.0, "30 h", "medium"),
        (20.0, "20 h", "high"),
        (12.0, "12 h", "high"),
    ]
    quiet = c.get(f"/api/v1/metrics?team=search&metric={FDR}").json()
    assert {(r["value"], r["text"], r["tier"]) for r in quiet} == {(None, "unknown", "unknown")}


def _report(context: AppContext, team: str) -> build.Report:
    with session_scope(context.sessions) as s:
        cfg = config_mod.Config(base_dir=Path("."))
        return build.build_report(s, cfg, MODEL, team=team, start=WEEKS[0], end=WEEKS[-1])


def test_the_reports_show_the_fifth_key_now_then_change_tier_and_chart(
    context: AppContext,
) -> None:
    report = _report(context, "payments")
    assert (report.week_then, report.week_now) == (WEEKS[0], WEEKS[-1])
    assert [k.metric for k in report.dora] == list(metrics.DORA_TILES)
    md, html = render.to_markdown(report), render.to_html(report)
    assert f"## {display.DORA_HEADING}" in md and f"<h2>{display.DORA_HEADING}</h2>" in html
    # 30 h (medium) then, 12 h (high) now
    assert "| Failed deployment recovery time | 12 h | 30 h | -18 h | high (was medium) |" in md
    row = re.search(rf'<tr data-metric="{FDR}">(.*?)</tr>', html, re.S)
    assert row
    assert "<td>Failed deployment recovery time</td>" in row.group(1)
    assert '<td class="num now">12 h</td>' in row.group(1)
    assert "tier-high" in row.group(1) and "(was medium)" in row.group(1)
    assert FDR in render.build_figures(report) and f'id="chart-{FDR}"' in html
    # without images the Markdown gives the chart as a table of the weeks
    assert f"| {WEEKS[0]} | 30 h |" in md and f"| {WEEKS[-1]} | 12 h |" in md

    quiet = _report(context, "search")
    md = render.to_markdown(quiet)
    assert "| Failed deployment recovery time | unknown | unknown | n/a | unknown |" in md
    assert FDR not in render.build_figures(quiet)
