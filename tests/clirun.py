"""Running the ``maturity`` command as a user would, through the fork server when it can.

``run`` takes the arguments of ``subprocess.run`` that the tests use. A call of
``[sys.executable, "-m", "maturity", ...]`` goes to tests/zygote.py, which forks a child of an
interpreter that has already imported the third-party libraries; any other call, or any call
whose environment changes how an interpreter starts (a ``PYTHON*`` variable other than
PYTHONPATH, the locale), is a plain ``subprocess.run``. ``MATURITY_TEST_NO_ZYGOTE=1`` makes every
call a plain one: the suite passes either way.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
MATURITY = [sys.executable, "-m", "maturity"]
#: the variables that change how an interpreter starts or what its streams encode
_STARTUP = ("LANG", "LC_ALL", "LC_CTYPE")


def _startup_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if (k.startswith("PYTHON") and k != "PYTHONPATH") or k in _STARTUP
    }


class _Zygote:
    """One fork server per test process, started on first use, ended with the process."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="maturity-zygote-")
        self.path = os.path.join(self.dir, "s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MATURITY_")}
        self.startup = _startup_env(env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if ready != b"ready\n":
            raise RuntimeError(f"the fork server did not start ({ready!r})")
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.rmdir(self.dir)

    def serves(self, env: dict[str, str]) -> bool:
        return self.proc.poll() is None and _startup_env(env) == self.startup

    def call(
        self, args: list[str], env: dict[str, str], cwd: str, fds: list[int], timeout: float | None
    ) -> tuple[int, bool]:
        """(the return code as subprocess gives it, whether the timeout expired)"""
        body = json.dumps({"argv": args, "env": env, "cwd": cwd}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.path)
            socket.send_fds(conn, [struct.pack("!I", len(body)) + body], fds)
            pid = int(_readline(conn).split()[1])
            conn.settimeout(timeout)
            expired = False
            try:
                line = _readline(conn)
            except TimeoutError:
                expired = True
                os.kill(pid, signal.SIGKILL)
                conn.settimeout(None)
                line = _readline(conn)
            status = int(line.split()[1])
            return os.waitstatus_to_exitcode(status), expired


def _readline(conn: socket.socket) -> bytes:
    """One short line of the server's answer (a TimeoutError leaves the socket usable)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            raise ConnectionError("the fork server closed the connection")
        line += byte
    return line


_zygote: _Zygote | None = None
_lock = threading.Lock()


def _server() -> _Zygote | None:
    global _zygote
    if os.environ.get("MATURITY_TEST_NO_ZYGOTE"):
        return None
    with _lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            _zygote = _Zygote()
        return _zygote


def _decode(data: bytes, text: bool) -> str | bytes:
    if not text:
        return data
    encoding = locale.getpreferredencoding(False)
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def run(
    cmd: list[str],
    *,
    input: str | bytes | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    capture_output: bool = False,
    text: bool = False,
    check: bool = False,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` for the tests' command lines, ``python -m maturity`` through the fork
    server (same result, exit code, streams and timeout behaviour)."""
    env = dict(os.environ if env is None else env)
    server = _server() if list(cmd[:3]) == MATURITY else None
    if server is None or not server.serves(env):
        return subprocess.run(
            cmd,
            input=input,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            capture_output=capture_output,
            text=text,
            check=check,
            env=env,
            cwd=cwd,
            timeout=timeout,
        )
    if capture_output:
        stdout = stderr = subprocess.PIPE
    opened: list[IO[bytes]] = []

    def stream(spec: int | IO[Any] | None, inherit: int) -> tuple[int, IO[bytes] | None]:
        if spec is None:
            return inherit, None
        if spec == subprocess.DEVNULL:
            f = open(os.devnull, "r+b")  # noqa: SIM115 - closed below
            opened.append(f)
            return f.fileno(), None
        if spec == subprocess.PIPE:
            f = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
            opened.append(f)
            return f.fileno(), f
        if isinstance(spec, int):
            return spec, None
        return spec.fileno(), None

    try:
        if input is not None:
            feed = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
            opened.append(feed)
            encoding = locale.getpreferredencoding(False)
            feed.write(input.encode(encoding) if isinstance(input, str) else input)
            feed.seek(0)
            in_fd = feed.fileno()
        else:
            in_fd, _ = stream(stdin, 0)
        out_fd, out_file = stream(stdout, 1)
        if stderr == subprocess.STDOUT:
            err_fd, err_file = out_fd, None
        else:
            err_fd, err_file = stream(stderr, 2)
        code, expired = server.call(
            list(cmd[3:]),
            env,
            str(cwd if cwd is not None else os.getcwd()),
            [in_fd, out_fd, err_fd],
            timeout,
        )
        out: str | bytes | None = None
        err: str | bytes | None = None
        for f, name in ((out_file, "out"), (err_file, "err")):
            if f is None:
                continue
            f.seek(0)
            value = _decode(f.read(), text)
            if name == "out":
                out = value
            else:
                err = value
    finally:
        for f in opened:
            f.close()
    if expired:
        raise subprocess.TimeoutExpired(cmd, timeout or 0, output=out, stderr=err)
    if check and code:
        raise subprocess.CalledProcessError(code, cmd, output=out, stderr=err)
    return subprocess.CompletedProcess(cmd, code, out, err)


def run_maturity(
    cfg: Path, *args: str, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``maturity --config CFG ARGS`` in CFG's folder, with a wide terminal for tables (and a
    ``timeout`` in seconds, past which the test fails instead of hanging)."""
    env = {**os.environ, "COLUMNS": "250"}
    return run(
        [*MATURITY, "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cfg.parent,
        timeout=timeout,
    )
