"""Browser test fixtures: the system's Chromium, watched tabs, uvicorn on a free local port."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from playwright import sync_api as playwright_sync

from tests.liveserver import start_uvicorn

CHROMIUM = os.environ.get("MATURITY_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Collects CSP violations before any script of the page runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@dataclass
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def _serve(app: Any) -> Server:
    server, thread, sock = start_uvicorn(app)
    return Server(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system's Chromium; Playwright never downloads one."""
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp || []"))


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    def open_tab(width: int = 1280, height: int = 900) -> Watched:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        ctx.add_init_script(WATCH_CSP)
        page = ctx.new_page()
        watched = Watched(page)
        page.on(
            "console",
            lambda m: watched.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: watched.page_errors.append(str(e)))
        return watched

    contexts: list[Any] = []
    yield open_tab
    for ctx in contexts:
        ctx.close()
