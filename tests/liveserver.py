"""A real HTTP server for tests: ``maturity serve`` in a process, or uvicorn in a thread."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests import clirun


def free_port() -> int:
    """A port the OS has just handed out (bind 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[str] | None = None

    def rss_kib(self) -> int:
        """The server process's resident memory now, in KiB (Linux /proc)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@contextmanager
def maturity_serve(config: Path, *, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """``maturity --config CONFIG serve`` on a free port, stopped afterwards."""
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    proc = clirun.popen(
        [sys.executable, "-m", "maturity", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=config.parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/static/app.css", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "maturity serve did not start"
                time.sleep(0.1)
        yield Served(url, port, proc)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def start_uvicorn(app: Any) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
    """Start uvicorn serving ``app`` in a daemon thread on a free port; return once it serves.
    The caller stops it: ``server.should_exit = True``, ``thread.join()``, ``sock.close()``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, sock


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[Served]:
    """uvicorn serving ``app`` in a thread of this process on a free port."""
    server, thread, sock = start_uvicorn(app)
    port = sock.getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
