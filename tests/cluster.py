"""Real parts of a distributed deployment for tests and benchmarks: a ``redis-server`` of our
own on a free port, and ``maturity worker`` processes started and killed like a user would."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests import clirun


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` in ``folder`` on a free port, without persistence."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs it)")
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            self.proc = clirun.popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(folder),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--databases",
                    "64",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait():
                return
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError("redis-server did not start")

    def _wait(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Worker:
    """``maturity --config CFG -v worker`` in its own process group; its log in ``log``."""

    def __init__(
        self,
        cfg: Path,
        env: dict[str, str],
        *,
        name: str,
        concurrency: int = 1,
        queues: tuple[str, ...] = (),
    ) -> None:
        self.log = cfg.parent / f"worker-{name}.log"
        args = [
            sys.executable,
            "-m",
            "maturity",
            "--config",
            str(cfg),
            "-v",
            "worker",
            "--concurrency",
            str(concurrency),
            "--name",
            f"{name}@%h",
        ]
        for queue in queues:
            args += ["--queue", queue]
        self.handle = self.log.open("wb")
        self.proc = clirun.popen(
            args,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=cfg.parent,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.text():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.text()}")

    def kill9(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a dying machine would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.handle.close()

    def terminate(self) -> None:
        """SIGTERM the worker's process group (a warm shutdown); ``stop`` waits for it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.proc.wait()
        if not self.handle.closed:
            self.handle.close()


def stop_all(workers: list[Worker]) -> None:
    """Stop every worker, their warm shutdowns at the same time rather than one after another."""
    for w in workers:
        w.terminate()
    for w in workers:
        w.stop()
