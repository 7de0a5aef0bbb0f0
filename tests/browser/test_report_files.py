"""Report files in headless Chromium: the HTML draws offline, the PDF is A4, charts become PNGs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from maturity.store import engine as engine_mod
from maturity.store.engine import session_scope
from reports import build, render
from tests import reporthistory as rh
from tests.integration.test_reports import END, HOSTILE, START, add_history, report_of

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def a4_pages(data: bytes) -> int:
    """How many pages the PDF has; fails unless every page is A4 (595 x 842 points)."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes
    assert all(abs(float(w) - 595.92) < 1.5 and abs(float(h) - 842.88) < 1.5 for w, h in boxes)
    return len(boxes)


@pytest.fixture
def report(sqlite_url: str) -> build.Report:
    sessions: sessionmaker[Session] = engine_mod.make_sessionmaker(
        engine_mod.make_engine(sqlite_url)
    )
    with session_scope(sessions) as s:
        add_history(s, rh.add_team(s, HOSTILE, "payments"))
    return report_of(sessions, start=START, end=END)


def test_html_report_draws_its_charts_from_disk_with_no_network_request(
    report: build.Report, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    render.write_report(report, "html", path)
    requests: list[str] = []
    errors: list[str] = []

    def open_report(browser: Any) -> tuple[int, int, str, bool]:
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("window.__chartsDone === true", timeout=30_000)
        return (
            page.locator(".chart svg.main-svg").count(),
            page.locator(".chart .scatterlayer .trace").count(),
            page.locator("h1").inner_text(),
            bool(page.evaluate("!!window.__xss")),
        )

    # in a thread of its own: other browser tests may hold a sync Playwright session open
    charts, lines, title, injected = render.with_browser(open_report)
    assert requests == [path.as_uri()]
    assert errors == []
    # level trend + three DORA keys with values (time to restore is unknown): 4 charts
    assert charts >= 4 and lines == 5 + 3
    assert title == f"Retrospective report: {HOSTILE}"  # shown as text, never run
    assert injected is False


def test_pdf_is_a4_and_printed_by_chromium(report: build.Report, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    render.write_report(report, "pdf", path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert a4_pages(data) >= 2  # the report spans pages
    assert b"HeadlessChrome" in data
    assert b"Retrospective report: " in data  # the document title, from the report


def test_markdown_report_has_its_charts_as_png_files_beside_it(
    report: build.Report, tmp_path: Path
) -> None:
    path = tmp_path / "wiki" / "report.md"
    notes = render.write_report(report, "md", path)
    assert notes == []
    text = path.read_text()
    for name in ("levels", "deployment_frequency", "lead_time_hours", "change_failure_rate"):
        image = tmp_path / "wiki" / "report-charts" / f"{name}.png"
        assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert f"(report-charts/{name}.png)" in text
    assert "| week ending |" not in text  # images, not the table fallback


def test_without_chromium_markdown_falls_back_to_tables_and_pdf_fails_clearly(
    report: build.Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATURITY_CHROMIUM", str(tmp_path / "no-chromium"))
    path = tmp_path / "report.md"
    notes = render.write_report(report, "md", path)
    text = path.read_text()
    assert notes and "headless Chromium not found" in notes[0]
    assert "charts are given as tables" in text.split("## Caveats")[1]
    assert "| 2026-11-01 | 5.5 per week |" in text  # deployment frequency, week by week
    assert "| week ending | Source control |" in text
    with pytest.raises(render.ChromiumMissing, match="set MATURITY_CHROMIUM"):
        render.write_report(report, "pdf", tmp_path / "report.pdf")
    assert not (tmp_path / "report.pdf").exists()


def test_web_pdf_download_is_an_a4_pdf_attachment(tmp_path: Path, sqlite_url: str) -> None:
    from tests import webstore
    from tests.integration.test_web_api import client

    context = webstore.make_context(tmp_path, sqlite_url)
    with session_scope(context.sessions) as s:
        add_history(s, rh.add_team(s, "Checkout", "checkout"))
    resp = client(context).get("/teams/checkout/report?format=pdf&from=2026-10-04&to=2026-11-01")
    context.close()
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == (
        'attachment; filename="report-checkout-2026-10-04-2026-11-01.pdf"'
    )
    assert resp.content.startswith(b"%PDF-")
    assert a4_pages(resp.content) >= 1
