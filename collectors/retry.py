"""One retry policy for every API source: classify, then back off with jitter or fail fast.

429 and 5xx, timeouts and dropped connections are retried with exponential backoff and full
jitter, honouring ``Retry-After`` and rate-limit reset headers; any other 4xx fails at once,
because asking again cannot turn a 401 into a 200.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

log = logging.getLogger("collectors.retry")
T = TypeVar("T")
#: added to a wait for a rate-limit reset: the reset is a whole second of the server's clock
RESET_MARGIN_S = 1.0


class Clock(Protocol):
    """What the API clients read the time from and wait by.

    Rate-limit resets are epochs of the server's clock and ``Retry-After`` is seconds: a client
    compares the first with :meth:`time` and waits out both with :meth:`sleep`. The system's
    clock in the product; a test's clock may move on by the wait instead of waiting it.
    """

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """``time.time`` and ``time.sleep``, looked up at each call."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


class RetryableError(Exception):
    """A failure worth another try; ``wait_s`` is the server's own advice, if it gave one."""

    def __init__(
        self, message: str, wait_s: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(message)
        self.wait_s = wait_s
        #: the server's budget is spent: a wait of any length is announced, not only long ones
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 60.0
    #: the longest wait for a rate-limit reset before giving up on the scope
    max_wait_s: float = 3600.0
    #: added to every wait for a rate-limit reset (clocks differ; the reset is whole seconds)
    reset_margin_s: float = RESET_MARGIN_S

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


def wait_from_headers(
    headers: Mapping[str, str],
    now: float | None = None,
    *,
    reset_margin_s: float = RESET_MARGIN_S,
) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After``, or a spent ``X-RateLimit-*`` or
    ``RateLimit-*`` budget until its reset, plus ``reset_margin_s``."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    retry_after = lower.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=dt.UTC)
                return max(0.0, parsed.timestamp() - now)
    for prefix in ("x-ratelimit", "ratelimit"):  # GitHub's, and GitLab's (IETF draft) names
        reset = lower.get(f"{prefix}-reset")
        if lower.get(f"{prefix}-remaining") != "0" or not reset:
            continue
        try:
            at = float(reset)
        except ValueError:
            return None
        # An epoch (GitHub, GitLab) or, as the IETF draft has it, seconds from now.
        return (max(0.0, at - now) if at > 1e9 else at) + reset_margin_s
    return None


def call(
    fn: Callable[[], T],
    *,
    classify: Callable[[BaseException], RetryableError | None],
    policy: RetryPolicy | None = None,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> T:
    """Call ``fn``, retrying the failures ``classify`` calls retryable.

    Args:
        fn: the call.
        classify: maps an exception to a RetryableError (retry) or None (re-raise at once).
        policy: attempts and backoff.
        what: names the call in log lines and messages (never a URL with a secret in it).
        sleep: how to wait (tests pass a recorder).
        on_wait: told, in words, when a long wait begins (a progress bar shows it).
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            retry = classify(exc)
            attempt += 1
            if retry is None or attempt >= policy.attempts:
                raise
            wait = retry.wait_s if retry.wait_s is not None else policy.backoff(attempt)
            if wait > policy.max_wait_s:
                raise
            message = f"{what}: {retry}; retrying in {wait:.1f}s ({attempt}/{policy.attempts - 1})"
            log.warning("%s", message)
            if on_wait is not None and (wait >= 5 or retry.rate_limited):
                on_wait(message)
            sleep(wait)


# --- a gate shared by every HTTP request (distributed mode) -------------------------------


class RequestGate(Protocol):
    """Shared rate-limit budgets around every HTTP request of the API clients.

    ``before`` waits until the request may go (the host's budget is not paused, a slot of its
    concurrency cap is free) and returns a ticket; ``after`` gets the answer's status (None when
    none came) and headers, so that a ``Retry-After`` or a spent budget pauses every worker.
    """

    def before(self, url: str, headers: Mapping[str, str]) -> object: ...

    def after(self, ticket: object, status: int | None, headers: Mapping[str, str]) -> None: ...


_gate: RequestGate | None = None


def install_gate(gate: RequestGate | None) -> None:
    """Put ``gate`` around every request of this process's API clients (None: take it away).

    The clients (PyGithub, python-jenkins, jira, python-gitlab) all send through ``requests``;
    the gate wraps its transport adapter, the one place every request passes, so that no client
    changes. Only distributed workers install one: the embedded path never does.
    """
    from requests.adapters import HTTPAdapter

    global _gate
    _gate = gate
    if gate is None or getattr(HTTPAdapter.send, "gated", False):
        return
    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        current = _gate
        if current is None:
            return original(self, request, *args, **kwargs)
        ticket = current.before(str(request.url), request.headers)
        try:
            response = original(self, request, *args, **kwargs)
            if not kwargs.get("stream", False):
                # the body is still on the wire when send returns: read it while the slot is
                # held (requests keeps it, so the session's own read costs nothing more)
                _ = response.content
        except BaseException:
            current.after(ticket, None, {})
            raise
        current.after(ticket, response.status_code, response.headers)
        return response

    send.gated = True  # type: ignore[attr-defined]
    HTTPAdapter.send = send  # type: ignore[method-assign]
