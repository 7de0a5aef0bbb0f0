"""Local HTTP servers that speak the real APIs of the sources, for tests and benchmarks."""

from __future__ import annotations

import select
import socket
import time

#: how often a server's loop looks for ``shutdown()``: the standard library's 0.5 s made every
#: test that stops a server wait a quarter of a second on average for it
POLL_S = 0.02


def hold_answer(connection: socket.socket, seconds: float) -> bool:
    """Hold a request's answer back for ``seconds`` (a slow server), or until the client hangs
    up, which a client that gave up on its timeout does: True when it did, and then there is no
    one to answer. The thread ends with the client instead of sleeping on after it."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([connection], [], [], min(left, POLL_S * 5))
        if not readable:
            continue
        try:
            gone = connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            gone = True
        if gone:
            return True
        time.sleep(min(left, POLL_S))  # bytes of a next request: nothing to tell by them
    return False
