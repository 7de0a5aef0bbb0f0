"""`maturity serve`: uvicorn on the configured store, refusing weak tokens with one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import clirun, webstore

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_pages_and_api_on_the_configured_store(
    tmp_path: Path, sqlite_url: str
) -> None:
    context = webstore.make_context(tmp_path, sqlite_url)
    webstore.seed_demo(context)
    context.close()
    port = _free_port()
    env = os.environ | {"MATURITY_ADMIN_TOKEN": "admin-token-0123456789abcdef"}
    env.pop("MATURITY_VIEWER_TOKEN", None)
    config = str(tmp_path / "maturity.toml")
    proc = clirun.popen(
        [sys.executable, "-m", "maturity", "--config", config, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/teams", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "maturity serve did not start"
                time.sleep(0.1)
        assert [t["name"] for t in answer.json()] == ["payments", "search"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert "server" not in answer.headers
        page = httpx.get(f"http://127.0.0.1:{port}/environments", timeout=5)
        assert page.status_code == 200
        assert "payments-api" in page.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert f"on http://127.0.0.1:{port}/" in out
    assert "admin-token-0123456789abcdef" not in out + err


def test_serve_refuses_a_weak_token_with_one_line(tmp_path: Path, sqlite_url: str) -> None:
    webstore.make_context(tmp_path, sqlite_url).close()
    proc = clirun.run(
        [sys.executable, "-m", "maturity", "--config", str(tmp_path / "maturity.toml"), "serve"],
        capture_output=True,
        text=True,
        env=os.environ | {"MATURITY_VIEWER_TOKEN": "letmein"},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: MATURITY_VIEWER_TOKEN must be at least 16")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "letmein" not in proc.stderr
