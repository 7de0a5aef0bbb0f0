"""Security of every response: headers (CSP and friends), constant-time token checks, login
sessions and the limit on failed authentication."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script anywhere: pages carry data in <script type="application/json"> blocks that a
#: static script reads. plotly.js sets style attributes on the elements it draws, hence the
#: inline styles; its images are data: URLs (the camera icon's export).
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

COOKIE = "maturity_viewer"


class SecurityHeaders:
    """ASGI middleware: adds the security headers to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        # Data behind a token must not linger in shared caches; static files may.
        cacheable = path.startswith(("/static/", "/vendor/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [h for h in HEADERS if h[0] not in names]
                if not cacheable and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def token_matches(given: str | None, expected: SecretStr | None) -> bool:
    """Whether ``given`` equals the configured token, in time independent of where they differ."""
    if not given or expected is None:
        return False
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.get_secret_value().encode()).digest(),
    )


def new_session_id() -> str:
    """A login session's id for the cookie: 256 random bits, never derived from a token."""
    return secrets.token_urlsafe(32)


def session_digest(session_id: str) -> str:
    """What the store keeps of a session id (SHA-256): a copy of the store opens no session."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def session_binding(token: SecretStr, digest: str) -> str:
    """A keyed digest that ties a session to the token it was opened with."""
    return hmac.new(
        token.get_secret_value().encode(), b"maturity session v2:" + digest.encode(), hashlib.sha256
    ).hexdigest()


def binding_matches(given: str, token: SecretStr | None, digest: str) -> bool:
    """Whether a stored session was opened with ``token`` (false once the token changed)."""
    if token is None:
        return False
    return hmac.compare_digest(given.encode(), session_binding(token, digest).encode())


class FailureLimiter:
    """Failed authentication attempts per client address, in a sliding window.

    After ``limit`` failures within ``window_s`` seconds, every attempt from that address is
    refused (429 with ``Retry-After``) until the oldest failure leaves the window; a correct
    token does not reset the count, so guessing gains nothing from interleaving one.
    """

    def __init__(
        self,
        *,
        limit: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def fail(self, client: str) -> None:
        """Count one failed attempt of ``client``."""
        with self._lock:
            now = self.clock()
            if client not in self._failures and len(self._failures) >= self.max_clients:
                # A flood of addresses: forget the oldest rather than grow without bound.
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, deque()).append(now)


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
