"""Screenshots of the main pages and a report (docs/screenshots/*.png) from generated data.

Twelve teams with services deployed through four environments (events, as ``maturity ingest``
writes them), collector runs, and half a year of weekly snapshots and metric values; served by
uvicorn on loopback and photographed by headless Chromium at 1,280 px.

    PYTHONPATH=. python bench/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright import sync_api as playwright_sync

from bench import web_load, web_pages
from maturity import teams, wiring
from maturity.context import AppContext
from maturity.store.engine import session_scope
from web.app import create_app

NAMES = [
    "payments", "search", "checkout", "identity", "catalog", "mobile",
    "data platform", "notifications", "billing", "logistics", "support tools", "web shop",
]  # fmt: skip
PAGES = {
    "overview": ("/overview", ["#chart-levels", "#chart-trend"]),
    "team": ("/teams/payments", ["#chart-level-trend"]),
    "dimension": ("/dimensions/deployment", ["#chart-distribution"]),
    "model": ("/model", []),
    "environments": ("/environments?team=payments", ["#chart-deployments-weekly"]),
}


def build_store(tmp: Path) -> AppContext:
    config = tmp / "maturity.toml"
    lines = "".join(
        f'[[teams]]\nname = "{name}"\nservices = ["team-{i:02d}-*"]\n'
        for i, name in enumerate(NAMES)
    )
    url = f"sqlite:///{tmp / 'shots.db'}"
    config.write_text(f"[store]\nurl = {json.dumps(url)}\n{lines}", encoding="utf-8")
    context = AppContext(config_path=config)
    with session_scope(context.sessions) as session:
        teams.sync(session, context.config)
    web_pages.generate(context, 4000)
    web_load.generate(context, len(NAMES), 26, existing=True)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        context = build_store(Path(tmp))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(create_app(context), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with playwright_sync.sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, (path, charts) in PAGES.items():
                    page.goto(base + path, wait_until="networkidle")
                    for chart in charts:
                        page.locator(f"{chart} svg.main-svg").first.wait_for(timeout=20_000)
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=False)
                # The team's DORA keys: tiles in the units every page uses, and their charts.
                page.goto(base + "/teams/payments", wait_until="networkidle")
                page.locator("#chart-lead_time_hours svg.main-svg").first.wait_for(timeout=20_000)
                page.evaluate("document.querySelector('.tiles').scrollIntoView()")
                page.screenshot(path=str(args.out / "team-dora.png"), full_page=False)
                # The retrospective report is a download: open the file as a person would.
                report = page.request.get(base + "/teams/payments/report?format=html")
                file_page = browser.new_page(viewport={"width": 1280, "height": 900})
                file_page.set_content(report.text(), wait_until="load")
                file_page.wait_for_function("window.__chartsDone === true", timeout=20_000)
                file_page.screenshot(path=str(args.out / "report.png"), full_page=False)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            context.close()


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
