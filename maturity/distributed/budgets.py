"""API budgets shared by every worker through Redis: pauses and per-host concurrency.

One budget per API credential on one host (a GitHub token, a Jenkins server's user, a Jira
site): the key is the host and a hash of the ``Authorization`` header, never the secret itself.
When any worker is told to wait (``Retry-After``, a spent ``X-RateLimit-*``/``RateLimit-*``
budget until its reset), the pause is written to Redis with that lifetime and every worker
waits it out before its next request with that credential. Requests in flight to one host are
capped across workers by a semaphore of expiring slots (a killed worker's slot runs out).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collectors import retry

log = logging.getLogger("maturity.distributed.budgets")

PREFIX = "maturity:budget"

# Take a slot of host KEYS[1] unless budget KEYS[2] is paused (then: minus the ms left), or if
# fewer than ARGV[2] are held (slots past their end are dropped first); one script, so that a
# pause written by another worker is never missed between the check and the take.
_ACQUIRE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  return -paused
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""

# Pause a budget for ARGV[1] ms unless it is already paused for longer.
_PAUSE = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[1]))
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Ticket:
    host_key: str
    budget_key: str
    slot: str


def budget_id(url: str, headers: Mapping[str, str]) -> tuple[str, str]:
    """(host, budget) names of a request: the budget is the host plus a hash of its
    credentials, so that two tokens on one host keep two budgets."""
    parts = urllib.parse.urlsplit(url)
    host = f"{parts.scheme}://{parts.netloc}".lower()
    auth = ""
    for name, value in headers.items():
        if name.lower() in ("authorization", "private-token", "job-token"):
            auth = str(value)
            break
    digest = hashlib.sha256(auth.encode()).hexdigest()[:16] if auth else "anonymous"
    return host, f"{host}|{digest}"


class RedisGate:
    """Implements ``collectors.retry.RequestGate`` over one Redis."""

    def __init__(
        self,
        client: Any,
        *,
        max_per_host: int,
        slot_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = client
        self.max_per_host = max_per_host
        self.slot_ms = int(slot_s * 1000)
        self.sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._pause = client.register_script(_PAUSE)

    @classmethod
    def from_url(cls, url: str, *, max_per_host: int) -> RedisGate:
        import redis

        return cls(redis.Redis.from_url(url), max_per_host=max_per_host)

    def before(self, url: str, headers: Mapping[str, str]) -> object:
        host, budget = budget_id(url, headers)
        host_key, budget_key = f"{PREFIX}:slots:{host}", f"{PREFIX}:pause:{budget}"
        slot = uuid.uuid4().hex
        announced = False
        while True:
            got = int(
                self._acquire(
                    keys=[host_key, budget_key], args=[slot, self.max_per_host, self.slot_ms]
                )
            )
            if got == 1:
                return Ticket(host_key, budget_key, slot)
            if got < 0:
                if not announced:
                    log.warning("%s: budget paused by a worker; waiting %.1fs", host, -got / 1e3)
                    announced = True
                self.sleep(-got / 1000)
                continue
            self.sleep(random.uniform(0.005, 0.03))

    def after(self, ticket: object, status: int | None, headers: Mapping[str, str]) -> None:
        assert isinstance(ticket, Ticket)
        # the pause first, then the slot: a worker waiting for the slot must see the pause
        if status is not None:
            wait = retry.wait_from_headers(dict(headers))
            if wait and wait > 0:
                self.pause(ticket.budget_key, wait)
        self.redis.zrem(ticket.host_key, ticket.slot)

    def pause(self, budget_key: str, wait_s: float) -> None:
        """Every worker holds back requests with this budget for ``wait_s`` seconds."""
        if self._pause(keys=[budget_key], args=[int(wait_s * 1000), "1"]):
            log.warning("budget %s paused for %.1fs", budget_key.split("|")[0], wait_s)
