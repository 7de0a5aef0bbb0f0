"""Whole answers of the read-only pages and API calls, kept per store version.

Scored data changes when scoring, a team sync or a collection writes (weekly, hourly at most);
team leads read it all day. A route that builds its answer only from what
:func:`maturity.store.read.store_version` covers (snapshots, metric values, teams, collector
runs) and the model file calls :func:`cache_this`; :class:`ResponseCache` then keeps the bytes
of its 200 answer per URL and reader role, and answers the next request for that URL with one
version query instead of the page's queries, figures and template. When the version changes,
every kept answer is dropped. An answer that also depends on the clock (a source turns stale
after ``stale_hours``) says until when it holds.

Kept answers are compressed once (gzip) for clients that accept it. Only answers without a
cookie and without a secret are kept: pages carry no token, and the role (anyone, viewer,
admin) is part of the key, so an answer is never served to a reader who could not have asked
for it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maturity.context import AppContext
from maturity.store import read
from web.deps import viewer_role
from web.settings import WebSettings

log = logging.getLogger("web.cache")

#: where a route's :class:`Policy` travels in the ASGI scope's request state
STATE_KEY = "maturity_cache"
#: paths that never hold scored data (static files, job progress, survey forms, login)
SKIP_PREFIXES = ("/static/", "/vendor/", "/api/v1/actions", "/survey/", "/login", "/logout")
MIN_GZIP_BYTES = 1024
Key = tuple[str, str, bytes]  # role, path, raw query string


@dataclass(frozen=True)
class Policy:
    """A route's consent to keep its answer; ``until`` bounds it in time (UTC), if at all."""

    until: dt.datetime | None = None


def cache_this(request: Request, *, until: dt.datetime | None = None) -> None:
    """Let :class:`ResponseCache` keep this request's answer until the store changes.

    Call it only from a route whose answer depends on nothing but the URL, the reader's role,
    the model file and the tables :func:`maturity.store.read.store_version` covers.
    """
    request.scope.setdefault("state", {})[STATE_KEY] = Policy(until)


@dataclass
class Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: float | None  # time.time() after which the answer must be built again
    gzipped: bytes | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


class ResponseCache:
    """ASGI middleware: answers GET requests from kept answers while the store is unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        context: AppContext,
        settings: WebSettings,
        max_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.context = context
        self.settings = settings
        self.max_bytes = max_bytes
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._version: tuple[Any, ...] | None = None
        # paths seen cacheable: concurrent misses on them wait for one build (no stampede
        # after a re-score); other paths are never serialised
        self._cacheable: set[str] = set()
        self._building: dict[Key, anyio.Lock] = {}

    # -- the version ---------------------------------------------------------------------

    def _read_version(self) -> tuple[Any, ...]:
        path = self.context.config.model_path()
        model = (str(path), path.stat().st_mtime_ns) if path and path.exists() else None
        with self.context.engine.connect() as conn:
            return (model, *read.store_version(conn))

    def _current_version(self) -> tuple[Any, ...] | None:
        # On the event loop: ~0.1 ms on SQLite, less than a hop to a worker thread costs.
        try:
            version = self._read_version()
        except Exception as exc:  # the store is down: answer uncached, the route says why
            log.warning("response cache bypassed: %s", type(exc).__name__)
            return None
        if version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = version
        return version

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"].startswith(SKIP_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        role = viewer_role(Request(scope), self.settings)
        if role is None:  # the route answers 401
            await self.app(scope, receive, send)
            return
        version = self._current_version()
        if version is None:
            await self.app(scope, receive, send)
            return
        key: Key = (role, scope["path"], scope.get("query_string", b""))
        if await self._answer(key, scope, send):
            return
        if scope["path"] not in self._cacheable:
            await self._build(key, version, scope, receive, send)
            return
        lock = self._building.setdefault(key, anyio.Lock())
        try:
            async with lock:
                if await self._answer(key, scope, send):
                    return
                await self._build(key, version, scope, receive, send)
        finally:
            if not lock.statistics().tasks_waiting:
                self._building.pop(key, None)

    async def _answer(self, key: Key, scope: Scope, send: Send) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry.expires is not None and self.clock() >= entry.expires:
            self._drop(key)
            return False
        self._entries.move_to_end(key)
        self.hits += 1
        await self._send(entry, scope, send, hit=True, kept=True)
        return True

    async def _build(
        self, key: Key, version: tuple[Any, ...], scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.misses += 1
        start: Message | None = None
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                policy = scope.get("state", {}).get(STATE_KEY)
                headers = message.get("headers", [])
                if (
                    isinstance(policy, Policy)
                    and message["status"] == 200
                    and not any(name.lower() == b"set-cookie" for name, _ in headers)
                ):
                    start = message  # held back until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                policy = scope["state"][STATE_KEY]
                entry = Entry(
                    headers=[
                        (name, value)
                        for name, value in start.get("headers", [])
                        if name.lower() not in (b"content-length", b"vary")
                    ],
                    body=b"".join(parts),
                    expires=policy.until.timestamp() if policy.until is not None else None,
                )
                self._cacheable.add(scope["path"])
                if len(self._cacheable) > 10_000:
                    self._cacheable.clear()
                kept = version == self._version  # not when a newer version was seen meanwhile
                if kept:
                    kept = self._keep(key, entry)
                await self._send(entry, scope, send, hit=False, kept=kept)
                return
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(self, key: Key, entry: Entry) -> bool:
        self._drop(key)
        if entry.size > self.max_bytes // 2:  # one answer never fills the cache alone
            return False
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, key: Key) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size

    async def _send(self, entry: Entry, scope: Scope, send: Send, *, hit: bool, kept: bool) -> None:
        body = entry.body
        headers = [
            *entry.headers,
            (b"vary", b"accept-encoding"),
            (b"x-cache", b"hit" if hit else b"miss"),
        ]
        if len(body) >= MIN_GZIP_BYTES and _accepts_gzip(scope):
            if entry.gzipped is None:
                entry.gzipped = gzip.compress(body, compresslevel=6, mtime=0)
                if kept:
                    self._bytes += len(entry.gzipped)
            body = entry.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept-encoding":
            for part in value.split(b","):
                coding, _, params = part.strip().partition(b";")
                if coding.strip().lower() == b"gzip":
                    return params.replace(b" ", b"") not in (b"q=0", b"q=0.0", b"q=0.00")
    return False
