"""The local servers' slow answer (tests.servers.hold_answer): held for its time while the
client waits, ended as soon as the client hangs up."""

from __future__ import annotations

import socket
import threading
import time

from tests.servers import hold_answer


def test_an_answer_is_held_for_its_time_while_the_client_waits() -> None:
    server, client = socket.socketpair()
    with server, client:
        started = time.monotonic()
        assert hold_answer(server, 0.15) is False
        assert time.monotonic() - started >= 0.15


def test_a_request_sent_meanwhile_neither_ends_the_hold_nor_is_consumed() -> None:
    server, client = socket.socketpair()
    with server, client:
        client.sendall(b"GET /next HTTP/1.1\r\n")
        started = time.monotonic()
        assert hold_answer(server, 0.15) is False
        assert time.monotonic() - started >= 0.15
        assert server.recv(64) == b"GET /next HTTP/1.1\r\n"


def test_the_hold_ends_when_the_client_hangs_up() -> None:
    server, client = socket.socketpair()
    with server:
        hangs_up = threading.Timer(0.05, client.close)
        hangs_up.start()
        started = time.monotonic()
        assert hold_answer(server, 30) is True
        assert time.monotonic() - started < 10
        hangs_up.join()
