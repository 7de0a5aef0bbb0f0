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
import time
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

    def start(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: str,
        fds: list[int],
        *,
        new_session: bool = False,
    ) -> tuple[socket.socket, int]:
        """A forked child running ``python -m maturity ARGS``: (the connection that will say
        how it ended, its pid)."""
        body = json.dumps(
            {"argv": args, "env": env, "cwd": cwd, "new_session": new_session}
        ).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            socket.send_fds(conn, [struct.pack("!I", len(body)) + body], fds)
            pid = int(_readline(conn).split()[1])
        except BaseException:
            conn.close()
            raise
        return conn, pid

    def call(
        self, args: list[str], env: dict[str, str], cwd: str, fds: list[int], timeout: float | None
    ) -> tuple[int, bool]:
        """(the return code as subprocess gives it, whether the timeout expired)"""
        conn, pid = self.start(args, env, cwd, fds)
        with conn:
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


def _serving(cmd: list[str], env: dict[str, str]) -> _Zygote | None:
    """The fork server, when ``cmd`` is ``python -m maturity ...`` and ``env`` starts an
    interpreter as the server's did; else None (a new interpreter)."""
    server = _server() if list(cmd[:3]) == MATURITY else None
    return server if server is not None and server.serves(env) else None


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
    server = _serving(cmd, env)
    if server is None:
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


class ForkedPopen:
    """What the tests use of ``subprocess.Popen``, for a child of the fork server: ``pid``,
    ``stdin``/``stdout``/``stderr`` pipes, ``poll``, ``wait``, ``communicate``, signals. The
    child is not this process's own, so its end is learnt from the server, not from waitpid."""

    def __init__(
        self,
        server: _Zygote,
        cmd: list[str],
        *,
        stdin: int | IO[Any] | None,
        stdout: int | IO[Any] | None,
        stderr: int | IO[Any] | None,
        text: bool,
        env: dict[str, str],
        cwd: str,
        start_new_session: bool,
    ) -> None:
        self.args = cmd
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self._text = text
        self._read: dict[str, list[bytes]] = {}
        self._readers: list[threading.Thread] = []
        child_ends: list[int] = []
        try:
            in_fd = self._end(stdin, 0, "stdin", child_ends)
            out_fd = self._end(stdout, 1, "stdout", child_ends)
            err_fd = (
                out_fd
                if stderr == subprocess.STDOUT
                else self._end(stderr, 2, "stderr", child_ends)
            )
            self._conn, self.pid = server.start(
                list(cmd[3:]), env, cwd, [in_fd, out_fd, err_fd], new_session=start_new_session
            )
        finally:
            for fd in child_ends:
                os.close(fd)

    def _end(self, spec: int | IO[Any] | None, inherit: int, name: str, ends: list[int]) -> int:
        """The child's descriptor for one stream (a pipe's far end is closed here once sent)."""
        if spec is None:
            return inherit
        if spec == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR)
            ends.append(fd)
            return fd
        if spec == subprocess.PIPE:
            read, write = os.pipe()
            mine, theirs = (write, read) if name == "stdin" else (read, write)
            ends.append(theirs)
            mode = ("w" if name == "stdin" else "r") + ("" if self._text else "b")
            encoding = locale.getpreferredencoding(False) if self._text else None
            setattr(self, name, open(mine, mode, encoding=encoding))  # noqa: SIM115
            return theirs
        if isinstance(spec, int):
            return spec
        return spec.fileno()

    def _ended(self, line: bytes) -> int:
        self.returncode = os.waitstatus_to_exitcode(int(line.split()[1]))
        self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            self._conn.setblocking(False)
            try:
                return self._ended(_readline(self._conn))
            except BlockingIOError:
                return None
            finally:
                if self.returncode is None:
                    self._conn.setblocking(True)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                line = _readline(self._conn)
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            self._ended(line)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(
        self, input: str | bytes | None = None, timeout: float | None = None
    ) -> tuple[Any, Any]:
        """Standard input written and closed, both outputs read to their end, the child waited
        for; past ``timeout``, TimeoutExpired, and a later call goes on where this one stopped."""
        if self.stdin is not None and not self.stdin.closed:
            if input:
                with contextlib.suppress(BrokenPipeError):
                    self.stdin.write(input)
            with contextlib.suppress(BrokenPipeError):
                self.stdin.close()
        if not self._readers:
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                if stream is not None:
                    self._read[name] = []
                    reader = threading.Thread(
                        target=lambda s=stream, into=self._read[name]: into.append(s.read()),
                        daemon=True,
                    )
                    reader.start()
                    self._readers.append(reader)
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        found: list[Any] = []
        for name in ("stdout", "stderr"):
            stream = getattr(self, name)
            if stream is None:
                found.append(None)
                continue
            stream.close()
            parts = self._read[name]
            found.append(parts[0] if parts else ("" if self._text else b""))
        return found[0], found[1]

    def __enter__(self) -> ForkedPopen:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.wait()


def popen(
    cmd: list[str],
    *,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    text: bool = False,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    start_new_session: bool = False,
) -> subprocess.Popen[Any] | ForkedPopen:
    """``subprocess.Popen`` for the tests' long-running commands (``maturity serve``, a worker,
    a collection interrupted on purpose): ``python -m maturity`` through the fork server."""
    env = dict(os.environ if env is None else env)
    server = _serving(cmd, env)
    if server is None:
        return subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=text,
            env=env,
            cwd=cwd,
            start_new_session=start_new_session,
        )
    return ForkedPopen(
        server,
        cmd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=text,
        env=env,
        cwd=str(cwd if cwd is not None else os.getcwd()),
        start_new_session=start_new_session,
    )
