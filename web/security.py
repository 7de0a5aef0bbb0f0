"""Security of every response: headers (CSP and friends) and constant-time token checks."""

from __future__ import annotations

import hashlib
import hmac

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


def cookie_value(viewer_token: SecretStr) -> str:
    """What the login cookie holds: a keyed digest, so the token itself never sits in a browser."""
    return hmac.new(
        viewer_token.get_secret_value().encode(), b"maturity viewer cookie v1", hashlib.sha256
    ).hexdigest()


def cookie_matches(given: str | None, viewer_token: SecretStr | None) -> bool:
    """Whether a login cookie was issued for the current viewer token."""
    if not given or viewer_token is None:
        return False
    return hmac.compare_digest(
        given.encode("ascii", "replace"), cookie_value(viewer_token).encode()
    )


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
