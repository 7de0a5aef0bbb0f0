"""GitLab's REST API v4 over python-gitlab: raw pages with their headers, one retry policy.

python-gitlab's own retries are switched off (``obey_rate_limit=False``, ``max_retries=0``,
``retry_transient_errors=False``): it sleeps on 429 without a ceiling and without saying so.
Every request goes through ``collectors.retry`` instead, which classifies the failure, honours
``Retry-After`` and a spent ``RateLimit-*`` budget, and retries 5xx, timeouts, dropped
connections and truncated bodies with backoff and jitter. Lists are read page by page through
``Gitlab.http_request`` rather than ``ListMixin.list``: the collector needs each page's headers
(``Link``, ``X-Next-Page``, ``RateLimit-*``) to resume and to stay within the budget.

The token is sent by python-gitlab in the ``PRIVATE-TOKEN`` header only; no URL, message or
log line built here carries it.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gitlab
import requests
import urllib3
from gitlab import exceptions as gl_exc

from collectors import retry
from collectors.base import CollectorError, Progress
from collectors.gitlab.config import GitLabConfig

log = logging.getLogger("collectors.gitlab")

USER_AGENT = "devops-maturity"


class GitLabError(CollectorError):
    """GitLab refused a request for good (401, 403, 404...): the scope or stream cannot go on."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Failed(Exception):
    """A non-2xx answer with the headers python-gitlab's exceptions do not keep."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = dict(headers)


@dataclass(frozen=True)
class Response:
    data: Any
    headers: dict[str, str]

    def next_url(self) -> str | None:
        """The next page: ``Link: rel="next"`` (offset and keyset alike), else ``X-Next-Page``."""
        link = parse_link(self.headers.get("link", "")).get("next")
        if link:
            return link
        return None

    @property
    def next_page(self) -> str | None:
        value = self.headers.get("x-next-page", "").strip()
        return value or None


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


def project_path(path: str) -> str:
    """``/projects/group%2Fsub%2Fapi``: a project addressed by its URL-encoded full path."""
    return "/projects/" + urllib.parse.quote(path, safe="")


def group_path(path: str) -> str:
    return "/groups/" + urllib.parse.quote(path, safe="")


class GitLabClient:
    """Requests to one GitLab (gitlab.com or self-managed) with the token of the config."""

    def __init__(
        self,
        source: GitLabConfig,
        token: str | None,
        *,
        progress: Progress,
        clock: retry.Clock = retry.SYSTEM_CLOCK,
    ) -> None:
        self.source = source
        self.progress = progress
        self.clock = clock
        self.policy = retry.RetryPolicy(
            attempts=source.retries + 1,
            base_s=source.retry_backoff_s,
            cap_s=max(source.retry_backoff_s, 60.0),
            max_wait_s=source.max_rate_limit_wait_s,
            reset_margin_s=source.rate_limit_reset_margin_s,
        )
        self.requests = 0
        #: set on the first 403/404 of a merge request's approvals (a GitLab without them)
        self.approvals_unavailable = False
        #: the budget GitLab reported last: (remaining, reset epoch)
        self._budget: tuple[int | None, float | None] = (None, None)
        self._last_headers: dict[str, str] = {}
        session = requests.Session()
        session.hooks["response"].append(self._seen)
        self.gl = gitlab.Gitlab(
            url=source.url.rstrip("/"),
            private_token=token,
            timeout=source.timeout_s,
            per_page=source.page_size,
            user_agent=USER_AGENT,
            retry_transient_errors=False,
            session=session,
        )

    def close(self) -> None:
        self.gl.session.close()

    @property
    def host(self) -> str:
        return urllib.parse.urlparse(self.source.url).netloc

    # --- requests ---------------------------------------------------------------------------

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Every answer's headers (a failed one's too): the rate-limit budget and Retry-After."""
        headers = {k.lower(): str(v) for k, v in response.headers.items()}
        self._last_headers = headers
        try:
            remaining = headers.get("ratelimit-remaining")
            reset = headers.get("ratelimit-reset")
            if remaining is not None or reset is not None:
                self._budget = (
                    int(float(remaining)) if remaining is not None else None,
                    float(reset) if reset is not None else None,
                )
        except ValueError:
            pass

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, scope: str, what: str
    ) -> Response:
        """GET ``path`` (under /api/v4, or a next-page URL from GitLab), retried as classified.

        Args:
            path: ``/projects/acme%2Fapi/pipelines`` or an absolute next-page URL.
            params: query parameters (None for next-page URLs, which carry their own).
            scope: names the scope in error messages.
            what: names the call in log lines and errors.
        """

        def once() -> Response:
            self._wait_for_budget(what)
            self.requests += 1
            try:
                resp = self.gl.http_request(
                    "get",
                    path,
                    query_data=dict(params or {}),
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                    max_retries=0,
                )
            except (gl_exc.GitlabHttpError, gl_exc.GitlabAuthenticationError) as exc:
                # python-gitlab raises the second (not a subclass of the first) for a 401
                raise _Failed(
                    exc.response_code or 0, str(exc.error_message), self._last_headers
                ) from None
            headers = {k.lower(): str(v) for k, v in resp.headers.items()}
            try:
                data = resp.json()
            except ValueError as exc:
                raise json.JSONDecodeError("body is not JSON (cut short?)", "", 0) from exc
            return Response(data, headers)

        try:
            return retry.call(
                once,
                classify=lambda exc: classify(
                    exc, reset_margin_s=self.policy.reset_margin_s, now=self.clock.time()
                ),
                policy=self.policy,
                what=f"gitlab {scope} {what}",
                sleep=self.clock.sleep,
                on_wait=self.progress.note,
            )
        except _Failed as exc:
            message = describe(exc, scope=scope, what=what, source=self.source)
            raise GitLabError(message, exc.status) from None
        except CollectorError:
            raise
        except Exception as exc:
            reason = type(exc).__name__
            raise CollectorError(
                f"gitlab {scope}: {what} failed after {self.policy.attempts} attempts: {reason}"
            ) from None

    def paginate(
        self,
        path: str,
        params: dict[str, Any] | None,
        *,
        scope: str,
        what: str,
    ) -> Iterator[tuple[list[Any], str | None]]:
        """Pages of a list as (items, the URL of the next page or None).

        Follows ``Link: rel="next"``, which GitLab sends for offset and keyset pagination alike;
        where a proxy dropped it, ``X-Next-Page`` names the next offset page. ``path`` may also
        be a saved next-page URL to resume from (then ``params`` is None).
        """
        current, query = path, params
        while True:
            resp = self.get(current, query, scope=scope, what=what)
            items = resp.data
            if not isinstance(items, list):
                raise CollectorError(
                    f"gitlab {scope}: {what}: expected a list, got {type(items).__name__}"
                )
            nxt = resp.next_url()
            if nxt is None and resp.next_page and items:
                nxt = _with_page(current, query, resp.next_page)
            yield items, (nxt if items else None)
            if not nxt or not items:
                return
            current, query = nxt, None

    # --- rate limits ------------------------------------------------------------------------

    def _wait_for_budget(self, what: str) -> None:
        """With the budget spent, wait for its reset instead of asking for a certain 429."""
        remaining, reset_at = self._budget
        if remaining != 0 or reset_at is None:
            return
        wait = reset_at - self.clock.time() + self.policy.reset_margin_s
        if wait <= 0:
            self._budget = (None, None)
            return
        if wait > self.policy.max_wait_s:
            raise CollectorError(
                f"gitlab: the rate-limit budget is spent and resets in {wait:.0f}s, longer than "
                f"max_rate_limit_wait_s ({self.policy.max_wait_s:.0f}s)"
            )
        self.progress.note(
            f"gitlab: rate-limit budget spent; waiting {wait:.1f}s for its reset before {what}"
        )
        self.clock.sleep(wait)
        self._budget = (None, None)


def _with_page(path: str, params: Mapping[str, Any] | None, page: str) -> str:
    """``path`` (maybe already a URL with a query) asking for offset page ``page``."""
    parsed = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    query.update({k: str(v) for k, v in (params or {}).items()})
    query["page"] = page
    return urllib.parse.urlunsplit(parsed._replace(query=urllib.parse.urlencode(query)))


_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    gl_exc.GitlabParsingError,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,  # a body cut short in transit
)


def classify(
    exc: BaseException, *, reset_margin_s: float = retry.RESET_MARGIN_S, now: float | None = None
) -> retry.RetryableError | None:
    """Which failures are worth another try (see ``collectors.retry``); ``now``: the client's
    clock, which a reset epoch is compared with."""
    if isinstance(exc, _Failed):
        if exc.status == 429:
            wait = retry.wait_from_headers(exc.headers, now, reset_margin_s=reset_margin_s)
            return retry.RetryableError("rate limited (429)", wait_s=wait, rate_limited=True)
        if exc.status >= 500:
            return retry.RetryableError(f"server error {exc.status}")
        return None
    if isinstance(exc, requests.exceptions.SSLError):
        return None  # a certificate that fails now fails on every try
    if isinstance(exc, _TRANSIENT):
        return retry.RetryableError(type(exc).__name__)
    return None


#: calls whose 404 means the project or group itself is unknown (not one of its lists)
_SCOPE_CALLS = ("project", "projects")


def describe(exc: _Failed, *, scope: str, what: str, source: GitLabConfig) -> str:
    """One line for a failed call: source, scope, call, status, GitLab's own message, and what to
    do about it; no secret."""
    host = urllib.parse.urlparse(source.url).netloc
    message = exc.message.strip().splitlines()[0][:200] if exc.message.strip() else ""
    prefix = f"gitlab {scope}: {what}: {exc.status}"
    if exc.status == 401:
        hint = f"check the token in ${source.token_env} for {host} (expired, revoked or mistyped)"
    elif exc.status == 403:
        hint = (
            f"the token in ${source.token_env} lacks access to {what}: it needs the read_api "
            "scope and at least the Reporter role on the project"
        )
    elif exc.status == 404 and what in _SCOPE_CALLS:
        hint = "no such project or group, or the token cannot see it; check teams[].gitlab"
    elif exc.status == 404:
        hint = (
            f"the project answered, but not its {what}: switched off for it, or not offered by "
            "this GitLab; the other streams are collected"
        )
    elif exc.status == 429:
        hint = "rate limited for longer than the retry policy allows"
    elif exc.status >= 500:
        hint = "server error; gave up after retries"
    else:
        hint = "GitLab refused the request"
    return f"{prefix} {message or 'error'} ({hint})"
