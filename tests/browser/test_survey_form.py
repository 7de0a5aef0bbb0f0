"""The survey form in headless Chromium, with and without JavaScript, on a phone and a laptop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maturity import listings, survey_batches, surveys
from maturity import model as model_mod
from maturity.context import AppContext
from maturity.store.engine import session_scope
from tests import webstore
from tests.browser.conftest import WATCH_CSP, Server, _serve
from web.app import create_app
from web.settings import WebSettings

pytestmark = [pytest.mark.browser, pytest.mark.integration]
VIEWPORTS = {"phone": (375, 740), "laptop": (1280, 900)}


@pytest.fixture
def chromium(browser: Any) -> Any:
    """The session-wide Chromium of tests/browser/conftest.py."""
    return browser


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[AppContext, str]]:
    context = webstore.make_context(tmp_path, sqlite_url)
    server: Server = _serve(create_app(context, settings=WebSettings()))
    yield context, server.url
    server.server.should_exit = True
    server.thread.join(timeout=10)
    context.close()


def open_round(context: AppContext, links: int = 5) -> surveys.OpenedRound:
    m = model_mod.load(None)
    with session_scope(context.sessions) as s:
        team_id = listings.team_id_of(s, "payments")
        assert team_id is not None
        return surveys.open_round(
            s,
            team_id=team_id,
            questions=surveys.questions_for_model(m),
            links=links,
            model_version=str(m.version),
        )


def new_page(chromium: Any, *, js: bool, viewport: str) -> tuple[Any, Any]:
    width, height = VIEWPORTS[viewport]
    ctx = chromium.new_context(
        java_script_enabled=js, viewport={"width": width, "height": height}, is_mobile=False
    )
    if js:
        ctx.add_init_script(WATCH_CSP)
    return ctx, ctx.new_page()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("js", [True, False], ids=["with-js", "without-js"])
def test_the_form_is_answered_once_through_its_link(
    chromium: Any, site: tuple[AppContext, str], js: bool, viewport: str
) -> None:
    context, base = site
    opened = open_round(context)
    token = opened.tokens[0]
    ctx, page = new_page(chromium, js=js, viewport=viewport)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        link = f"{base}/survey/{opened.public_id}#token={token}"
        assert page.goto(link, wait_until="networkidle").status == 200
        field = page.locator("#token-field")
        if js:
            assert field.is_hidden()
            assert page.input_value("#token") == token
            assert "#token" not in page.url  # taken out of the address bar and history
            assert page.evaluate("window.__csp") == []
        else:
            assert field.is_visible()
            assert "#token=" in page.locator("#token-hint").inner_text()
            page.fill("#token", token)
        width = VIEWPORTS[viewport][0]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        questions = page.locator("fieldset.question")
        assert questions.count() >= 5
        for i in range(questions.count()):
            questions.nth(i).locator("input[value='4']").check()
        page.fill("#comment", "We should <b>pair</b> more.")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/survey/{opened.public_id}/thanks")
        assert "your answers are received" in page.locator("h1").inner_text()
        assert "What is not stored" in page.content()
        assert token not in page.url
        with session_scope(context.sessions) as s:
            result = surveys.results(s, opened.public_id)
        assert result.responses == 0 and not result.visible  # held, below k
        # The same link again: a clear page, nothing stored.
        page.goto(link, wait_until="networkidle")
        if not js:
            page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "This link was already used" in page.locator("h1").inner_text()
        with session_scope(context.sessions) as s:
            assert surveys.results(s, opened.public_id).responses == 0
        # The browser reports the 409 answer itself as a console error; nothing else.
        assert all("409" in e for e in errors), errors
    finally:
        ctx.close()


def test_hostile_comments_show_as_text_on_the_team_page(
    chromium: Any, site: tuple[AppContext, str]
) -> None:
    context, base = site
    opened = open_round(context)
    with session_scope(context.sessions) as s:
        questions = surveys.questions_of(surveys.get_round(s, opened.public_id))
    sheets = [
        (
            token,
            {q.id: 1 + i for q in questions},
            webstore.XSS_SCRIPT if i % 2 else webstore.XSS_IMG,
        )
        for i, token in enumerate(opened.tokens)
    ]
    assert survey_batches.write_answers(context.sessions, opened.public_id, sheets).written == 5
    ctx, page = new_page(chromium, js=True, viewport="laptop")
    try:
        page.goto(f"{base}/teams/payments/surveys", wait_until="networkidle")
        page.locator("#chart-survey-dimensions svg.main-svg").first.wait_for(timeout=15_000)
        comments = page.locator("ul.comments li").all_text_contents()
        assert sorted(comments) == sorted([webstore.XSS_IMG] * 3 + [webstore.XSS_SCRIPT] * 2)
        assert page.evaluate("window.__xss") is None
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.__csp") == []
    finally:
        ctx.close()
