"""A clock for the API clients under test: a wait moves its time on instead of taking it.

``collectors.retry.Clock`` is what the clients read the time from and wait by. A test that gives
``CollectContext(clock=VirtualClock())`` to a collector, and the same clock's :meth:`time` to the
local server's rate limit, sees every wait the client asked for, in order, with what the server
had been asked by then, and waits none of them: the client's next request arrives at once, and
both sides read a time that has moved on by the wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Wait:
    seconds: float
    #: what ``mark`` returned when the wait began (say, how many requests the server had seen)
    mark: Any


class VirtualClock:
    def __init__(self, mark: Callable[[], Any] | None = None) -> None:
        self.mark = mark
        self.waits: list[Wait] = []
        self._ahead_s = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._ahead_s

    def sleep(self, seconds: float) -> None:
        mark = self.mark() if self.mark is not None else None
        with self._lock:
            self.waits.append(Wait(seconds, mark))
            self._ahead_s += max(0.0, seconds)
