"""Numbers read the same everywhere, and charts show their data, in headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maturity import metrics
from tests import scoredstore, webstore
from tests.browser.conftest import _serve
from web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WEEK = scoredstore.WEEK.isoformat()
# The plot area (plotly's drag layer covers it exactly) and the centre of every drawn point,
# as a share of the plot's height counted from its bottom edge.
POINT_HEIGHTS = """
(id) => {
  const root = document.getElementById(id);
  const area = root.querySelector('.nsewdrag').getBoundingClientRect();
  return Array.from(root.querySelectorAll('.scatterlayer path.point')).map((p) => {
    const b = p.getBoundingClientRect();
    return (area.bottom - (b.top + b.height / 2)) / area.height;
  });
}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("units")
    shutil.copy(sqlite_template, tmp / "maturity.db")
    context = webstore.make_context(tmp, f"sqlite:///{tmp / 'maturity.db'}")
    scoredstore.seed_scored(context, weeks=6)
    server = _serve(create_app(context))
    yield server.url
    server.server.should_exit = True
    server.thread.join(timeout=10)
    context.close()


def _texts(where: Any, selector: str) -> dict[str, str]:
    found = where.locator(selector).evaluate_all(
        "els => els.map(e => [e.closest('[data-metric]').dataset.metric, e.textContent.trim()])",
    )
    return dict(found)


def test_dora_units_agree_on_the_overview_the_team_page_the_report_and_the_api(
    site: str, tab: Any
) -> None:
    page = tab().page
    page.goto(site + "/overview", wait_until="networkidle")
    row = page.locator("#dora tbody tr", has=page.locator("a", has_text="alpha"))
    assert row.locator("td").last.inner_text() == WEEK  # the week every figure below is of
    overview = _texts(row, "td[data-metric] .value")

    page.goto(site + "/teams/alpha", wait_until="networkidle")
    team = _texts(page, ".tile[data-metric] .value")

    answer = page.request.get(site + f"/teams/alpha/report?format=html&from=2026-10-25&to={WEEK}")
    assert answer.status == 200
    page.set_content(answer.text())
    assert f"the week ending {WEEK}" in page.locator(".period").inner_text()
    report = _texts(page, "#dora tr[data-metric] td.now")

    api = page.request.get(site + f"/api/v1/metrics?team=alpha&from={WEEK}&to={WEEK}").json()
    from_api = {m["metric"]: m["text"] for m in api if m["metric"] in metrics.DORA_TILES}

    assert set(overview) == set(metrics.DORA_TILES)
    assert overview == team == report == from_api
    # people's units, not the store's: a share reads as a percentage, a duration in h or days
    assert overview["change_failure_rate"].endswith("%")
    assert overview["lead_time_hours"].endswith((" h", " days", " min"))
    assert overview["deployment_frequency"].endswith(" per week")
    assert not any("share" in text for text in overview.values())


def test_lead_time_chart_shows_its_points_above_the_bottom_of_the_plot(site: str, tab: Any) -> None:
    page = tab().page
    page.goto(site + "/teams/alpha", wait_until="networkidle")
    page.locator("#chart-lead_time_hours svg.main-svg").first.wait_for(timeout=15_000)
    heights = page.evaluate(POINT_HEIGHTS, "chart-lead_time_hours")
    assert len(heights) >= 5
    assert all(-0.01 <= h <= 1.01 for h in heights)  # inside the plot, none cut off
    # Not squeezed against the axis under a far-away tier bound: some point stands above the
    # lowest 5 % of the plot's height.
    assert max(heights) > 0.05, heights
