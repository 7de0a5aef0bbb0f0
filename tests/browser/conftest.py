"""Browser tests share one Chromium: Playwright's sync API runs once per process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright import sync_api as playwright_sync

CHROMIUM = os.environ.get("MATURITY_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system's Chromium; Playwright never downloads one."""
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()
