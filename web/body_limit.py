"""A limit on the size of every request body, enforced while it is read (413 with a reason).

A declared ``Content-Length`` above the limit is refused before a byte of the body is read; a
body without one (chunked) is counted as it arrives and refused at the first byte past the
limit, so a client that sends a gigabyte costs the server at most the limit, never the gigabyte.
Anonymous routes (the survey form and its API twin, the login form) get small limits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB
#: any route not listed below: forms and JSON bodies of the API are a few kilobytes
DEFAULT_LIMIT = 1 * MIB
#: ``POST /api/v1/events``: up to 10,000 events of a few hundred bytes each
EVENTS_LIMIT = 10 * MIB
#: anonymous routes: an answer sheet or a login form is a few kilobytes
ANONYMOUS_LIMIT = 64 * KIB
LOGIN_LIMIT = 16 * KIB


@dataclass(frozen=True)
class Rule:
    """Requests whose path matches ``pattern`` may carry at most ``limit`` bytes of body."""

    pattern: re.Pattern[str]
    limit: int


RULES: tuple[Rule, ...] = (
    Rule(re.compile(r"^/api/v1/events/?$"), EVENTS_LIMIT),
    Rule(re.compile(r"^/survey/[^/]+/?$"), ANONYMOUS_LIMIT),
    Rule(re.compile(r"^/api/v1/surveys/[^/]+/responses/?$"), ANONYMOUS_LIMIT),
    Rule(re.compile(r"^/log(in|out)/?$"), LOGIN_LIMIT),
)


def limit_for(path: str, rules: Sequence[Rule] = RULES, default: int = DEFAULT_LIMIT) -> int:
    """The body limit, in bytes, of requests to ``path``."""
    for rule in rules:
        if rule.pattern.match(path):
            return rule.limit
    return default


def too_large(limit: int) -> HTTPException:
    """The 413 every refusal answers with (rendered by the application's error handlers)."""
    return HTTPException(413, f"the request body is larger than {limit} bytes, the limit here")


class BodyLimit:
    """ASGI middleware: refuses a body larger than its route's limit while reading it.

    The refusal is raised from ``receive`` as an HTTP 413, so the application's own error
    handlers answer it (JSON under /api/, a page elsewhere) and a route never sees more than
    the limit.
    """

    def __init__(
        self, app: ASGIApp, *, rules: Sequence[Rule] = RULES, default: int = DEFAULT_LIMIT
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""), self.rules, self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    # Answered here, without the application: nothing of the body has been read. JSON under
    # /api/, plain text elsewhere (a browser shows either); the security headers are added by
    # the middleware around this one.
    detail = too_large(limit).detail
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        import json

        body = json.dumps({"detail": detail}).encode()
        media = b"application/json"
    else:
        body = f"413 Too large: {detail}\n".encode()
        media = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
