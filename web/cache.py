"""Whole answers of the read-only pages and API calls, kept per store version.

Scored data changes when scoring, a team sync or a collection writes (weekly, hourly at most);
team leads read it all day. A route that builds its answer only from what
:func:`maturity.store.version.store_version` covers (snapshots, metric values, teams, collector
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

import contextlib
import datetime as dt
import gzip
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maturity.context import AppContext
from maturity.store import engine as engine_mod
from maturity.store import version as version_mod
from web import deps
from web.deps import viewer_role
from web.security import COOKIE
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
    the model file and the tables :func:`maturity.store.version.store_version` covers.
    """
    request.scope.setdefault("state", {})[STATE_KEY] = Policy(until)


@dataclass
class Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: float | None  # time.time() after which the answer must be built again
    gzipped: bytes | None = field(default=None, repr=False)  # made when kept

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


@dataclass
class _Flight:
    """Requests for one URL that wait for one build: the lock, and how many hold or want it."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    users: int = 0


class ResponseCache:
    """ASGI middleware: answers GET requests from kept answers while the store is unchanged.

    The version is read on the event loop, on a connection of its own (one short statement,
    about 0.04 ms on SQLite): no hop to a worker thread, and no wait for the connection pool
    that the routes' sessions may have emptied. Should the store not answer, the cache steps
    aside for a few seconds and the routes answer (or fail) as they would without it.
    """

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
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._version: tuple[Any, ...] | None = None
        # paths seen cacheable: concurrent misses on them wait for one build (no stampede
        # after a re-score); other paths are never serialised
        self._cacheable: set[str] = set()
        self._flights: dict[Key, _Flight] = {}
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._retry_at = 0.0

    # -- the version ---------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                self._engine = _version_engine(self.context.url)
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _read_version(self) -> tuple[Any, ...]:
        path = self.context.config.model_path()
        model = None
        if path is not None and path.exists():
            st = path.stat()  # the time alone misses a copy that keeps it (cp -p, rsync -t)
            model = (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
        return (model, *version_mod.store_version(self._connection()))

    def _current_version(self) -> tuple[Any, ...] | None:
        if time.monotonic() < self._retry_at:
            return None
        try:
            version = self._read_version()
        except Exception as exc:  # the store is down: answer uncached, the route says why
            log.warning("response cache bypassed for 5 s: %s", type(exc).__name__)
            self.close()
            self._retry_at = time.monotonic() + 5
            return None
        if version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = version
        return version

    def close(self) -> None:
        """Close the version connection (the application's shutdown does this)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                conn.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._closing_on_shutdown(receive), send)
            return
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"].startswith(SKIP_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "authorization" in request.headers and deps.failures(request).retry_after(
            deps.client_address(request)
        ):
            # A client locked out for failed attempts gets its 429 from the route: a kept
            # answer must not tell it which token is right.
            await self.app(scope, receive, send)
            return
        if self.settings.viewer_token is not None and COOKIE in request.cookies:
            # a login session is looked up in the store: not on the event loop
            role = await run_in_threadpool(viewer_role, request, self.settings)
        else:
            role = viewer_role(request, self.settings)
        if role is None:  # the route answers 401
            await self.app(scope, receive, send)
            return
        version = self._current_version()
        if version is None:
            await self.app(scope, receive, send)
            return
        key: Key = (role, scope["path"], scope.get("query_string", b""))
        entry = self._fresh(key)
        if entry is not None:
            await self._send(entry, scope, send, hit=True)
            return
        if scope["path"] not in self._cacheable:
            entry = await self._build(key, version, scope, receive, send)
            if entry is not None:
                await self._send(entry, scope, send, hit=False)
            return
        # One build per URL at a time; the answer is sent after the lock is let go, so a slow
        # reader never holds up the others.
        flight = self._flights.setdefault(key, _Flight())
        flight.users += 1
        try:
            async with flight.lock:
                entry = self._fresh(key)
                hit = entry is not None
                if entry is None:
                    # the newest version seen: a wait may have outlived the one read on arrival
                    assert self._version is not None
                    entry = await self._build(key, self._version, scope, receive, send)
        finally:
            flight.users -= 1
            if flight.users == 0 and self._flights.get(key) is flight:
                del self._flights[key]
        if entry is not None:
            await self._send(entry, scope, send, hit=hit)

    def _closing_on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.close()
            return message

        return wrapped

    def _fresh(self, key: Key) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires is not None and self.clock() >= entry.expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def _build(
        self, key: Key, version: tuple[Any, ...], scope: Scope, receive: Receive, send: Send
    ) -> Entry | None:
        """Run the route. Returns the answer to send when it may be kept (it is kept if the
        version still holds); any other answer has already gone to the client."""
        start: Message | None = None
        parts: list[bytes] = []
        built: Entry | None = None

        async def capture(message: Message) -> None:
            nonlocal start, built
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
                built = Entry(
                    headers=[
                        (name, value)
                        for name, value in start.get("headers", [])
                        if name.lower() not in (b"content-length", b"vary")
                    ],
                    body=b"".join(parts),
                    expires=policy.until.timestamp() if policy.until is not None else None,
                )
                return
            await send(message)

        await self.app(scope, receive, capture)
        if built is not None:
            self._cacheable.add(scope["path"])
            if len(self._cacheable) > 10_000:
                self._cacheable.clear()
            if version == self._version:  # not when a newer version was seen meanwhile
                self._keep(key, built)
        return built

    def _keep(self, key: Key, entry: Entry) -> None:
        if len(entry.body) >= MIN_GZIP_BYTES:
            entry.gzipped = gzip.compress(entry.body, compresslevel=6, mtime=0)
        self._drop(key)
        if entry.size > self.max_bytes // 2:  # one answer never fills the cache alone
            return
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size

    async def _send(self, entry: Entry, scope: Scope, send: Send, *, hit: bool) -> None:
        body = entry.body
        headers = [
            *entry.headers,
            (b"vary", b"accept-encoding"),
            (b"x-cache", b"hit" if hit else b"miss"),
        ]
        if len(body) >= MIN_GZIP_BYTES and _accepts_gzip(scope):
            # kept answers were compressed once; one that was not kept is compressed for itself
            body = entry.gzipped or gzip.compress(body, compresslevel=6, mtime=0)
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _version_engine(url: str) -> Engine:
    """One connection for version checks, which must fail fast rather than hang the loop."""
    connect_args: dict[str, Any] = {}
    if make_url(engine_mod.normalize_url(url)).get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": 2, "options": "-c statement_timeout=2000"}
    return engine_mod.make_engine(
        url, pool_size=1, max_overflow=0, pool_timeout=2, connect_args=connect_args
    )


def _accepts_gzip(scope: Scope) -> bool:
    """Whether Accept-Encoding names gzip with a weight above zero (RFC 9110 12.5.3)."""
    for name, value in scope.get("headers", []):
        if name != b"accept-encoding":
            continue
        for part in value.decode("latin-1").split(","):
            coding, *params = (p.strip() for p in part.split(";"))
            if coding.lower() != "gzip":
                continue
            for param in params:
                key, _, weight = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        return float(weight.strip()) > 0
                    except ValueError:
                        return False
            return True
    return False
