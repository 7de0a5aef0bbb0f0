"""A fork server for the tests' ``python -m maturity`` calls (tests/clirun.py is its client).

A new interpreter spends most of a short command importing the same third-party libraries
(numpy, pandas, SQLAlchemy, typer, ...): about 0.6 s of CPU in a call of about 1 s. This server
imports them once, then forks one child per call. The child takes the caller's command line,
environment, folder and standard streams, runs ``maturity`` as ``python -m maturity`` does (its
``__main__`` through runpy), shuts down as the interpreter does (non-daemon threads joined, exit
handlers run, streams flushed) and exits with the command's code. Nothing of ``maturity`` itself
is imported here, so every call imports and configures the product afresh, as a new process does;
only libraries that read nothing of the environment at import are preloaded.

Run as ``python -m tests.zygote SOCKET``; it serves until its standard input closes (the test
process that started it ended). Protocol, on a Unix stream socket: the client sends a 4-byte
length and a JSON request (``argv``, ``env``, ``cwd``, ``new_session``: whether the child starts
a session of its own) with three descriptors (stdin, stdout, stderr) passed alongside; the
server answers ``pid N\\n`` when the child runs and ``exit S\\n`` (the raw wait status) when
it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
from typing import Any

#: third-party modules the commands import; none reads the environment at import
PRELOAD = (
    "numpy",
    "pandas",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "pydantic",
    "typer",
    "click",
    "rich.console",
    "rich.table",
    "jinja2",
    "markupsafe",
    "tomllib",
    "alembic",
    "alembic.command",
    "alembic.config",
)

_HEADER = struct.Struct("!I")


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    while len(data) < _HEADER.size:
        more = conn.recv(65536)
        if not more:
            raise ConnectionError("request cut short")
        data += more
    (size,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    while len(body) < size:
        more = conn.recv(max(65536, size - len(body)))
        if not more:
            raise ConnectionError("request cut short")
        body += more
    return json.loads(body), fds


def _pythonpath(value: str | None) -> list[str]:
    return [p for p in (value or "").split(os.pathsep) if p]


def _exit_code(value: object) -> int:
    """What the interpreter makes of ``SystemExit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _run_child(request: dict[str, Any], fds: list[int]) -> int:
    """In the forked child: become ``python -m maturity ARGS`` and return its exit code."""
    import atexit
    import runpy
    import threading
    import traceback

    if request.get("new_session"):
        os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    # sys.path as `python -m` builds it: the working folder, PYTHONPATH's entries, the rest
    rest = sys.path[1 + len(_pythonpath(os.environ.get("PYTHONPATH"))) :]
    sys.path[:] = [os.getcwd(), *_pythonpath(request["env"].get("PYTHONPATH")), *rest]
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [sys.executable, *request["argv"]]
    code = 0
    try:
        runpy.run_module("maturity", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    # the interpreter's shutdown: wait for non-daemon threads, run the exit handlers, flush
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException:
        traceback.print_exc()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            code = code or 120
    return code


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    waiting: dict[int, socket.socket] = {}
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    for pid in waiting:
                        os.kill(pid, signal.SIGKILL)
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = _read_request(conn)
                except (OSError, ValueError):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        signal.set_wakeup_fd(-1)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        sel.close()
                        for fd in (listener.fileno(), conn.fileno(), wake_r, wake_w):
                            os.close(fd)
                        for other in waiting.values():
                            os.close(other.fileno())
                        code = _run_child(request, fds)
                    finally:
                        os._exit(code)
                for fd in fds:
                    os.close(fd)
                waiting[pid] = conn
                conn.sendall(f"pid {pid}\n".encode())
            else:
                while True:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        break
                while waiting:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    done = waiting.pop(pid, None)
                    if done is not None:
                        with contextlib.suppress(OSError):
                            done.sendall(f"exit {status}\n".encode())
                        done.close()


if __name__ == "__main__":
    serve(sys.argv[1])
