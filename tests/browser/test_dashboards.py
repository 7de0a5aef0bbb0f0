"""Score dashboards in headless Chromium: charts draw, links and filters work, names are text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests import scoredstore, webstore
from tests.browser.conftest import _serve
from web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = [
    "/overview",
    "/overview?team=alpha&from=2026-10-01&to=2026-11-15",
    "/teams/alpha",
    "/teams/gamma?from=2026-11-01",
    "/dimensions/deployment",
    "/dimensions/source_control?to=2026-11-08",
    "/model",
]
CHARTS = {
    "/overview": ["chart-levels", "chart-trend"],
    "/teams/alpha": ["chart-level-trend", "chart-lead_time_hours"],
    "/dimensions/deployment": ["chart-distribution"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    """uvicorn over one scored store with hostile names in a team, a commit and a job."""
    import shutil

    tmp = tmp_path_factory.mktemp("dash")
    shutil.copy(sqlite_template, tmp / "maturity.db")
    context = webstore.make_context(tmp, f"sqlite:///{tmp / 'maturity.db'}")
    webstore.seed_demo(context, hostile=True)
    scoredstore.seed_scored(context, weeks=6, hostile=True)
    server = _serve(create_app(context))
    yield server.url
    server.server.should_exit = True
    server.thread.join(timeout=10)
    context.close()


def test_every_dashboard_loads_without_console_errors_or_csp_violations(
    site: str, tab: Any
) -> None:
    t = tab()
    for path in PAGES:
        answer = t.page.goto(site + path, wait_until="networkidle")
        assert answer.status == 200, path
        assert t.page.locator("main h1").count() == 1, path
        assert t.csp_violations() == [], path
    assert t.console_errors == []
    assert t.page_errors == []


@pytest.mark.parametrize("path", sorted(CHARTS))
def test_the_charts_of_a_dashboard_are_drawn(site: str, tab: Any, path: str) -> None:
    t = tab()
    t.page.goto(site + path, wait_until="networkidle")
    for chart in CHARTS[path]:
        t.page.locator(f"#{chart} svg.main-svg").first.wait_for(timeout=15_000)
    assert t.console_errors == [] and t.csp_violations() == []


def test_the_heat_map_links_to_the_team_page(site: str, tab: Any) -> None:
    t = tab()
    t.page.goto(site + "/overview", wait_until="networkidle")
    t.page.locator("#chart-levels svg.main-svg").first.wait_for(timeout=15_000)
    t.page.locator("#levels tbody th a", has_text="alpha").click()
    t.page.wait_for_url(site + "/teams/alpha")
    assert t.page.locator("main h1").inner_text() == "Team alpha"
    assert t.page.locator("#team-levels tbody tr").count() == 5
    assert t.page.locator("a[href='/teams/alpha/surveys']").count() == 1


def test_changing_the_period_puts_it_in_the_url_and_on_the_page(site: str, tab: Any) -> None:
    t = tab()
    t.page.goto(site + "/teams/alpha", wait_until="networkidle")
    t.page.fill("input[name=from]", "2026-11-01")
    t.page.fill("input[name=to]", "2026-11-08")
    t.page.click("form.filters button[type=submit]")
    t.page.wait_for_url("**/teams/alpha?*")
    query = parse_qs(urlparse(t.page.url).query)
    assert query["from"] == ["2026-11-01"] and query["to"] == ["2026-11-08"]
    assert "Weeks 2026-11-01 to 2026-11-08" in t.page.locator("#period").inner_text()
    weeks = t.page.locator("#team-levels tbody td:nth-child(5)").all_text_contents()
    assert set(weeks) == {"2026-11-08"}
    # the same URL opened elsewhere shows the same period
    t2 = tab()
    t2.page.goto(t.page.url, wait_until="networkidle")
    assert t2.page.locator("input[name=from]").input_value() == "2026-11-01"


def test_hostile_names_on_the_dashboards_show_as_text_and_never_run(site: str, tab: Any) -> None:
    t = tab()
    for path in [*PAGES, "/teams/gamma", "/", "/environments", "/collection"]:
        t.page.goto(site + path, wait_until="networkidle")
        for chart in CHARTS.get(path, []):
            t.page.locator(f"#{chart} svg.main-svg").first.wait_for(timeout=15_000)
        assert t.page.evaluate("window.__xss") is None, path
        assert t.page.evaluate("window.__alerted || null") is None, path
        assert t.page.locator("main img").count() == 0, path
    t.page.goto(site + "/overview", wait_until="networkidle")
    t.page.locator("#chart-levels svg.main-svg").first.wait_for(timeout=15_000)
    assert scoredstore.HOSTILE_TEAM in t.page.locator("#levels").inner_text()
    ticks = t.page.locator("#chart-levels .ytick text").all_text_contents()
    assert scoredstore.HOSTILE_TEAM in ticks
    assert t.csp_violations() == []


@pytest.mark.parametrize("width", [375, 1280])
def test_dashboards_fit_the_screen_from_a_phone_to_a_laptop(
    site: str, tab: Any, width: int
) -> None:
    t = tab(width=width)
    for path in PAGES:
        t.page.goto(site + path, wait_until="networkidle")
        scroll_width = t.page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (path, scroll_width)
