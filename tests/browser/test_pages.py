"""The pages in headless Chromium: no console error, no CSP violation, charts draw, text is text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests import webstore
from tests.browser.conftest import Server, _serve
from web.app import create_app
from web.settings import WebSettings
from web.templating import NAV

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = [item.path for item in NAV] + ["/environments?team=payments"]
VIEWER = "viewer-token-0123456789abcdef"


@pytest.fixture
def serve(tmp_path: Path, sqlite_url: str) -> Iterator[Any]:
    """Start uvicorn on a free local port for a store seeded by the test; stopped afterwards."""
    servers: list[Server] = []
    context = webstore.make_context(tmp_path, sqlite_url)

    def start(*, hostile: bool = False, **tokens: str) -> str:
        webstore.seed_demo(context, hostile=hostile)
        settings = WebSettings(**{k: SecretStr(v) for k, v in tokens.items()})
        servers.append(_serve(create_app(context, settings=settings)))
        return servers[-1].url

    yield start
    for s in servers:
        s.server.should_exit = True
        s.thread.join(timeout=10)
    context.close()


def test_every_page_loads_without_console_errors_or_csp_violations(serve: Any, tab: Any) -> None:
    base = serve()
    t = tab()
    for path in PAGES:
        answer = t.page.goto(base + path, wait_until="networkidle")
        assert answer.status == 200, path
        assert t.page.locator("main h1").count() == 1, path
        assert t.csp_violations() == [], path
    assert t.console_errors == []
    assert t.page_errors == []


def test_the_deployments_chart_is_drawn_by_plotly(serve: Any, tab: Any) -> None:
    base = serve()
    t = tab()
    t.page.goto(base + "/environments", wait_until="networkidle")
    chart = t.page.locator("#chart-deployments-weekly")
    chart.locator("svg.main-svg").first.wait_for(timeout=15_000)
    assert chart.locator("g.trace.bars").count() >= 1
    assert t.page.evaluate("typeof window.Plotly") == "object"
    assert t.csp_violations() == []
    assert t.console_errors == []


def test_hostile_names_show_as_text_and_never_run(serve: Any, tab: Any) -> None:
    base = serve(hostile=True)
    t = tab()
    for path in PAGES:
        t.page.goto(base + path, wait_until="networkidle")
        assert t.page.evaluate("window.__xss") is None, path
        assert t.page.locator("main img").count() == 0, path
    t.page.goto(base + "/environments", wait_until="networkidle")
    t.page.locator("#chart-deployments-weekly svg.main-svg").first.wait_for(timeout=15_000)
    assert t.page.evaluate("window.__xss") is None
    row_heads = t.page.locator("#matrix tbody th").all_text_contents()
    assert webstore.XSS_IMG in [h.strip() for h in row_heads]
    assert webstore.XSS_SCRIPT in t.page.locator("#matrix thead").inner_text()
    assert webstore.XSS_SCRIPT + " fix" in t.page.locator("#placements").inner_text()
    assert webstore.XSS_SCRIPT in t.page.locator("#placements").inner_text()  # the job name
    legend = t.page.locator("#chart-deployments-weekly .legendtext").all_text_contents()
    assert webstore.XSS_SCRIPT in legend
    t.page.goto(base + "/collection", wait_until="networkidle")
    assert webstore.XSS_SCRIPT in t.page.locator("#runs").inner_text()
    assert webstore.XSS_IMG in t.page.locator("#runs").inner_text()
    assert t.page.evaluate("window.__xss") is None
    assert t.csp_violations() == []


@pytest.mark.parametrize("width", [375, 1280])
def test_pages_fit_the_screen_from_a_phone_to_a_laptop(serve: Any, tab: Any, width: int) -> None:
    base = serve()
    t = tab(width=width)
    for path in PAGES:
        t.page.goto(base + path, wait_until="networkidle")
        scroll_width = t.page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (path, scroll_width)


def test_a_browser_logs_in_once_with_the_viewer_token(serve: Any, tab: Any) -> None:
    base = serve(viewer_token=VIEWER)
    t = tab()
    first = t.page.goto(base + "/collection")
    assert first.status == 401
    t.page.fill("input[name=token]", VIEWER)
    t.page.click("form.login button[type=submit]")
    t.page.wait_for_url(base + "/collection")
    assert t.page.locator("main h1").inner_text() == "Collection"
    assert "maturity_viewer" not in t.page.evaluate("document.cookie")  # HttpOnly
    assert t.page.goto(base + "/environments").status == 200
    assert t.csp_violations() == []
