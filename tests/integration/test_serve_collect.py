"""`maturity serve --collect-every`: the server collects and scores on its own, on a schedule."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import clirun, webstore
from tests.integration.test_serve import _free_port

pytestmark = pytest.mark.integration
MATURITY = [sys.executable, "-m", "maturity"]


def test_serve_collects_and_scores_every_interval(tmp_path: Path, sqlite_url: str) -> None:
    webstore.make_context(tmp_path, sqlite_url).close()
    port = _free_port()
    config = str(tmp_path / "maturity.toml")
    proc = clirun.popen(
        [*MATURITY, "--config", config, "serve", "--port", str(port), "--collect-every", "2s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    levels: list[object] = []
    try:
        deadline = time.monotonic() + 90
        while len(levels) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no snapshot appeared"
            time.sleep(0.3)
            try:
                levels = httpx.get(f"http://127.0.0.1:{port}/api/v1/levels", timeout=5).json()
            except httpx.TransportError:
                continue
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=15)
    assert len(levels) == 2 * 5  # both configured teams, every dimension
    assert "collecting and scoring every 2s" in out


def test_serve_refuses_a_bad_interval_with_one_line(tmp_path: Path, sqlite_url: str) -> None:
    webstore.make_context(tmp_path, sqlite_url).close()
    proc = subprocess.run(
        [*MATURITY, "--config", str(tmp_path / "maturity.toml"), "serve", "--collect-every", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --collect-every: expected a duration like 30m")
