"""GitHub over PyGithub's requester: conditional GETs, Link pagination, GraphQL, one retry policy.

PyGithub's own retry (``GithubRetry``) is switched off (``retry=None``) so that every source
shares ``collectors.retry``: classified failures, backoff with jitter, ``Retry-After`` and the
``X-RateLimit-Reset`` of a spent budget. Lists are read as raw JSON through
``Requester.requestJsonAndCheck`` rather than ``PaginatedList``: PyGithub objects complete
themselves lazily (one more GET per item on first access to a missing attribute), and a
``PaginatedList`` hides the response headers we need (``ETag``, ``Link``, rate limits).
"""

from __future__ import annotations

import json
import logging
import math
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import github
import requests
import urllib3
from github import Auth, GithubException

from collectors import retry
from collectors.base import CollectorError, Progress
from collectors.github.config import GitHubConfig

log = logging.getLogger("collectors.github")

USER_AGENT = "devops-maturity"
#: the wait after a secondary rate limit that names no time (GitHub: "at least one minute")
SECONDARY_LIMIT_WAIT_S = 60.0


class GitHubError(CollectorError):
    """GitHub refused a request for good (401, 403, 404, 410...): the scope cannot go on."""

    def __init__(self, message: str, status: int, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class Response:
    """One answer: ``data`` is None when the server said 304 Not Modified."""

    data: Any
    headers: dict[str, str]

    @property
    def not_modified(self) -> bool:
        return self.data is None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    def next_url(self) -> str | None:
        return parse_link(self.headers.get("link", "")).get("next")


def parse_link(header: str) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="last"`` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    for part in header.split(","):
        if ";" not in part:
            continue
        url, *params = part.split(";")
        for param in params:
            name, _, value = param.strip().partition("=")
            if name == "rel":
                links[value.strip('"')] = url.strip().strip("<>")
    return links


class GitHubClient:
    """Requests to one GitHub (github.com or an Enterprise server) with the token of the config."""

    def __init__(
        self,
        source: GitHubConfig,
        token: str | None,
        *,
        progress: Progress,
        policy: retry.RetryPolicy | None = None,
        clock: retry.Clock = retry.SYSTEM_CLOCK,
    ) -> None:
        self.source = source
        self.progress = progress
        self.policy = policy or retry.RetryPolicy(
            attempts=source.retries + 1,
            base_s=source.retry_backoff_s,
            cap_s=max(source.retry_backoff_s, 60.0),
            max_wait_s=source.max_rate_limit_wait_s,
            reset_margin_s=source.rate_limit_reset_margin_s,
        )
        self.clock = clock
        self.requests = 0
        #: why GraphQL cannot be used in this run (set on its first refusal); None: it can
        self.graphql_unavailable: str | None = None
        #: per rate-limit resource ("core" for REST, "graphql"): (remaining, reset epoch)
        self._budget: dict[str, tuple[int | None, float | None]] = {}
        self.gh = github.Github(
            auth=Auth.Token(token) if token else None,
            base_url=source.base_url.rstrip("/"),
            timeout=max(1, math.ceil(source.timeout_s)),
            per_page=source.page_size,
            user_agent=USER_AGENT,
            retry=None,
            lazy=True,
            seconds_between_requests=source.min_request_interval_s or None,
            # GraphQL queries are POSTs, which PyGithub spaces as writes (1 s); we never write.
            seconds_between_writes=source.min_request_interval_s or None,
        )
        self.requester = self.gh.requester

    def close(self) -> None:
        self.gh.close()

    # --- requests ---------------------------------------------------------------------------

    def get(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        *,
        etag: str | None = None,
        scope: str,
        what: str,
    ) -> Response:
        """GET ``url`` (a path under base_url or a URL from a Link header), retried as classified.

        Args:
            url: ``/repos/o/n/pulls`` or an absolute next-page URL.
            params: query parameters (none for Link URLs, which carry their own).
            etag: sends ``If-None-Match``; a 304 answer has ``data`` None.
            scope: names the scope in error messages.
            what: names the call in log lines and errors.
        """
        headers = {"If-None-Match": etag} if etag else None

        def once() -> Response:
            self._wait_for_budget("core", what)
            self.requests += 1
            h, data = self.requester.requestJsonAndCheck("GET", url, params, dict(headers or {}))
            self._remember_budget("core", h)
            return Response(data, {k.lower(): str(v) for k, v in h.items()})

        return self._call(once, scope=scope, what=what)

    def graphql(self, query: str, variables: dict[str, Any], *, scope: str, what: str) -> Any:
        """POST a GraphQL query; returns its ``data``."""

        def once() -> Any:
            self._wait_for_budget("graphql", what)
            self.requests += 1
            h, data = self.requester.graphql_query(query, variables)
            self._remember_budget("graphql", h)
            return data.get("data")

        return self._call(once, scope=scope, what=what)

    def paginate(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        *,
        scope: str,
        what: str,
        etag: str | None = None,
        items_key: str | None = None,
    ) -> Iterator[tuple[list[Any], Response]]:
        """Follow ``Link: rel="next"`` page by page; only the first page is conditional.

        Yields (items, response) per page; a 304 on the first page yields nothing.
        ``url`` may also be a saved next-page URL to resume from (then ``params`` is None).
        """
        resp = self.get(url, params, etag=etag, scope=scope, what=what)
        while True:
            if resp.not_modified:
                return
            data = resp.data
            items = data.get(items_key) if items_key and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise CollectorError(
                    f"github {scope}: {what}: expected a list, got {type(items).__name__}"
                )
            yield items, resp
            nxt = resp.next_url()
            if not nxt or not items:
                return
            resp = self.get(nxt, None, scope=scope, what=what)

    # --- rate limits and retries ------------------------------------------------------------

    def _remember_budget(self, resource: str, headers: dict[str, Any]) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        resource = str(lower.get("x-ratelimit-resource") or resource)
        try:
            remaining = lower.get("x-ratelimit-remaining")
            reset = lower.get("x-ratelimit-reset")
            self._budget[resource] = (
                int(float(remaining)) if remaining is not None else None,
                float(reset) if reset is not None else None,
            )
        except ValueError:
            pass

    def _wait_for_budget(self, resource: str, what: str) -> None:
        """With the budget spent, wait for its reset instead of asking for a certain 403."""
        remaining, reset_at = self._budget.get(resource, (None, None))
        if remaining != 0 or reset_at is None:
            return
        wait = reset_at - self.clock.time() + self.policy.reset_margin_s
        if wait <= 0:
            self._budget.pop(resource, None)
            return
        if wait > self.policy.max_wait_s:
            raise CollectorError(
                f"github: the {resource} rate-limit budget is spent and resets in {wait:.0f}s, "
                f"longer than max_rate_limit_wait_s ({self.policy.max_wait_s:.0f}s)"
            )
        self.progress.note(
            f"github: {resource} rate-limit budget spent; waiting {wait:.1f}s for its reset "
            f"before {what}"
        )
        self.clock.sleep(wait)
        self._budget.pop(resource, None)

    def _call(self, fn: Callable[[], Any], *, scope: str, what: str) -> Any:
        try:
            return retry.call(
                fn,
                classify=lambda exc: classify(
                    exc, reset_margin_s=self.policy.reset_margin_s, now=self.clock.time()
                ),
                policy=self.policy,
                what=f"github {scope} {what}",
                sleep=self.clock.sleep,
                on_wait=self.progress.note,
            )
        except GithubException as exc:
            message = describe(exc, scope=scope, what=what, source=self.source)
            raise GitHubError(message, exc.status, rate_limited=is_rate_limit(exc)) from None
        except CollectorError:
            raise
        except Exception as exc:
            reason = type(exc).__name__
            raise CollectorError(
                f"github {scope}: {what} failed after {self.policy.attempts} attempts: {reason}"
            ) from None


_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,  # a body cut short in transit
)


def is_rate_limit(exc: GithubException) -> bool:
    """A primary or secondary rate limit: 429, or 403 that says so or has spent the budget."""
    if exc.status not in (403, 429) and not _graphql_rate_limited(exc):
        return False
    if exc.status == 429 or _graphql_rate_limited(exc):
        return True
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
    return (
        github.Requester.Requester.isRateLimitError(message)
        or "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _graphql_rate_limited(exc: GithubException) -> bool:
    data = exc.data if isinstance(exc.data, dict) else {}
    errors = data.get("errors") or []
    return any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors)


def classify(
    exc: BaseException, *, reset_margin_s: float = retry.RESET_MARGIN_S, now: float | None = None
) -> retry.RetryableError | None:
    """Which failures are worth another try (see ``collectors.retry``); ``now``: the client's
    clock, which a reset epoch is compared with."""
    if isinstance(exc, GithubException):
        if is_rate_limit(exc):
            wait = retry.wait_from_headers(
                dict(exc.headers or {}), now, reset_margin_s=reset_margin_s
            )
            if wait is None:
                # GitHub's advice for a secondary limit without Retry-After: wait a minute.
                wait = SECONDARY_LIMIT_WAIT_S
            return retry.RetryableError(
                f"rate limited ({exc.status})", wait_s=wait, rate_limited=True
            )
        if exc.status >= 500:
            return retry.RetryableError(f"server error {exc.status}")
        return None
    if isinstance(exc, _TRANSIENT):
        return retry.RetryableError(type(exc).__name__)
    return None


#: calls whose 404 means the repository or owner itself is unknown (not one of its lists)
_REPOSITORY_CALLS = ("repository", "repositories")


def describe(exc: GithubException, *, scope: str, what: str, source: GitHubConfig) -> str:
    """One line for a failed call: source, scope, call, status, GitHub's own message, and what to
    do about it; no secret."""
    message = ""
    if isinstance(exc.data, dict):
        message = str(exc.data.get("message") or "")
        errors = exc.data.get("errors")
        if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = str(errors[0].get("message") or "")
    host = urllib.parse.urlparse(source.base_url).netloc
    prefix = f"github {scope}: {what}: {exc.status}"
    if exc.status == 401:
        hint = f"check the token in ${source.token_env} for {host}"
    elif exc.status == 403 and not is_rate_limit(exc):
        hint = f"the token in ${source.token_env} lacks access to {what}"
    elif exc.status == 404 and what in _REPOSITORY_CALLS:
        hint = "no such repository or organisation, or the token cannot see it"
    elif exc.status == 404:
        hint = (
            f"the repository answered, but not its {what}: switched off for it, or not "
            f"offered by this server; the other streams are collected"
        )
    elif is_rate_limit(exc):
        hint = "rate limited for longer than the retry policy allows"
    elif exc.status >= 500:
        hint = "server error; gave up after retries"
    else:
        hint = "GitHub refused the request"
    return f"{prefix} {message or 'error'} ({hint})"
