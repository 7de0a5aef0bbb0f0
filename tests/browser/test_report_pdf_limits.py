"""PDF reports on the web: at most ``[web] pdf_browsers`` Chromiums at once (503 beyond), and a
PDF kept per report, so asking again starts no browser and records no report run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from maturity.store import tables
from maturity.store.engine import session_scope
from tests import liveserver, webstore
from tests import reporthistory as rh
from tests.browser.conftest import CHROMIUM
from tests.integration.test_reports import add_history
from web.app import create_app
from web.settings import WebSettings

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PERIOD = "from=2026-10-04&to=2026-11-01"


def _launches(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_pdfs_are_rendered_by_one_browser_at_a_time_and_kept_per_report(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "launches.log"
    wrapper = tmp_path / "chromium"
    # Counts every launch, and takes a while to start, so that a second request comes while
    # the first one holds the only browser slot.
    wrapper.write_text(f'#!/bin/sh\necho launch >> "{log}"\nsleep 2\nexec "{CHROMIUM}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("MATURITY_CHROMIUM", str(wrapper))
    context = webstore.make_context(tmp_path, sqlite_url, extra="\n[web]\npdf_browsers = 1\n")
    with session_scope(context.sessions) as s:
        add_history(s, rh.add_team(s, "Checkout", "checkout"))

    def report_runs() -> int:
        with session_scope(context.sessions) as s:
            return int(s.scalar(select(func.count()).select_from(tables.ReportRun)) or 0)

    with liveserver.uvicorn_thread(create_app(context, settings=WebSettings())) as server:
        url = f"{server.url}/teams/checkout/report?format=pdf&{PERIOD}"
        first: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: first.append(httpx.get(url, timeout=120)))
        worker.start()
        deadline = time.monotonic() + 60
        while _launches(log) == 0:
            assert time.monotonic() < deadline and worker.is_alive(), "no browser started"
            time.sleep(0.05)
        # The only slot is taken: another report is refused at once, with when to come back.
        other = httpx.get(
            f"{server.url}/teams/checkout/report?format=pdf&from=2026-10-11&to=2026-11-01",
            timeout=30,
        )
        assert other.status_code == 503
        assert other.headers["retry-after"] == "30"
        assert "1 PDF(s) are being rendered already" in other.text
        worker.join(timeout=120)
        assert first[0].status_code == 200
        assert first[0].content.startswith(b"%PDF-")
        assert (_launches(log), report_runs()) == (1, 1)
        # The same report again: the kept file, no browser, no new report run.
        again = httpx.get(url, timeout=60)
        assert again.status_code == 200
        assert again.content == first[0].content
        assert (_launches(log), report_runs()) == (1, 1)
    context.close()
