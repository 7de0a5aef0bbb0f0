"""Jira REST API v2 through the ``jira`` library: one page a call, errors classified, no secrets.

The library's own retry (``ResilientSession``) is switched off (``max_retries=0``): it only
knows 429 and 503 and sleeps up to a minute without jitter, so every call goes through
``collectors.retry`` instead, which also retries 5xx, timeouts, dropped connections and
truncated bodies, and never retries a 401, 403, 400 or 404.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from collectors import retry
from collectors.base import CollectorError, NoProgress, Progress
from collectors.jira.config import JiraConfig
from maturity.config import secret

log = logging.getLogger("collectors.jira")
T = TypeVar("T")

#: the issue fields the collector reads; asking for these only keeps pages small
BASE_FIELDS = (
    "summary",
    "issuetype",
    "priority",
    "status",
    "labels",
    "created",
    "updated",
    "resolutiondate",
    "components",
    "versions",
    "fixVersions",
    "project",
)
#: histories per request on the issue changelog endpoint (Jira's own cap)
CHANGELOG_PAGE = 100


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: raw issues, and where the next page starts (None: last page)."""

    issues: list[dict[str, Any]]
    next_start: int | None = None
    next_token: str | None = None


class JiraApi:
    """A connection to one Jira site: the library client, the retry policy, the secrets to hide."""

    def __init__(
        self,
        cfg: JiraConfig,
        *,
        progress: Progress | None = None,
        clock: retry.Clock = retry.SYSTEM_CLOCK,
    ) -> None:
        self.cfg = cfg
        self.progress = progress or NoProgress()
        self.clock = clock
        self.policy = retry.RetryPolicy(attempts=cfg.retries + 1, base_s=cfg.retry_backoff_s)
        user = secret(cfg.user_env)
        token = secret(cfg.token_env)
        # What must never be shown: the token, and the Basic credentials a server might echo.
        self._secrets = [token] if token else []
        if user and token:
            self._secrets.append(base64.b64encode(f"{user}:{token}".encode()).decode())
        if user and not token:
            raise CollectorError(
                f"jira: {cfg.user_env} is set but {cfg.token_env or 'token_env'} is not; "
                "set both, or neither for anonymous access"
            )
        kwargs: dict[str, Any] = {
            "server": cfg.url,
            "timeout": cfg.timeout_s,
            "max_retries": 0,
            # The library logs a whole undecodable body at ERROR; our own log says what failed.
            "logging": False,
        }
        if user and token:
            kwargs["basic_auth"] = (user, token)
        elif token:
            # A token without a user is a personal access token (Jira Server/Data Center).
            kwargs["token_auth"] = token
        self.client: JIRA = self.call(lambda: JIRA(**kwargs), scope=None, what="serverInfo")
        self.cloud = self.client.deploymentType == "Cloud"

    # --- calls ------------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], *, scope: str | None, what: str) -> T:
        """Run one request under the retry policy; fatal answers become a CollectorError."""
        where = f"jira {scope}" if scope else "jira"
        try:
            return retry.call(
                fn,
                classify=self._classify,
                policy=self.policy,
                what=f"{where} {what}",
                sleep=self.clock.sleep,
                on_wait=self.progress.note,
            )
        except CollectorError:
            raise
        except Exception as exc:
            raise CollectorError(
                self.redact(f"{where}: {what}: {describe(exc, self.cfg)}")
            ) from None

    def _classify(self, exc: BaseException) -> retry.RetryableError | None:
        if isinstance(exc, JIRAError):
            status = exc.status_code or 0
            if status == 429 or status >= 500:
                headers = exc.response.headers if exc.response is not None else {}
                wait = retry.wait_from_headers(headers, self.clock.time())
                return retry.RetryableError(f"HTTP {status}", wait)
            return None
        if isinstance(exc, requests.Timeout):
            return retry.RetryableError("timed out")
        if isinstance(exc, requests.exceptions.SSLError):
            return None  # a certificate that fails now fails on every try
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return retry.RetryableError("connection dropped")
        if isinstance(exc, json.JSONDecodeError):
            # A 200 whose body is cut short: the transfer broke, asking again is the cure.
            return retry.RetryableError("truncated JSON body")
        return None

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced: a server may echo what it was sent."""
        for value in self._secrets:
            text = text.replace(value, "***")
        return text

    # --- endpoints ----------------------------------------------------------------------------

    def field_id(self, name: str) -> str:
        """The id of a field given by id (``customfield_10010``) or by JQL name (``Service``)."""
        if name.startswith("customfield_") or name in BASE_FIELDS:
            return name
        # The library's own field cache (one GET /field a client, which it needs anyway to
        # translate field names in a search) maps every JQL clause name to the field's id.
        cache: dict[str, str] = self.call(
            lambda: self.client._fields_cache, scope=None, what="field list"
        )
        for clause, field_id in cache.items():
            if clause.casefold() == name.casefold():
                return field_id
        raise CollectorError(f"jira: no field named {name!r} in the field list of {self.cfg.url}")

    def project_keys(self) -> list[str]:
        """Every project key visible to this user (used to expand globs like ``PAY*``)."""
        projects = self.call(self.client.projects, scope=None, what="project list")
        return sorted(p.key for p in projects)

    def search(
        self,
        scope: str,
        jql: str,
        *,
        fields: list[str],
        start: int = 0,
        token: str | None = None,
    ) -> SearchPage:
        """One page of issues with their changelogs; Server pages by offset, Cloud by token."""
        size = self.cfg.page_size
        if self.cloud:
            body = self.call(
                lambda: self.client.enhanced_search_issues(
                    jql,
                    nextPageToken=token,
                    maxResults=size,
                    fields=list(fields),
                    expand="changelog",
                    json_result=True,
                ),
                scope=scope,
                what="search",
            )
            issues = _issues_of(body, scope)
            nxt = body.get("nextPageToken")
            last = bool(body.get("isLast", not nxt)) or not issues
            return SearchPage(issues, next_token=None if last else str(nxt))
        body = self.call(
            lambda: self.client.search_issues(
                jql,
                startAt=start,
                maxResults=size,
                fields=list(fields),
                expand="changelog",
                json_result=True,
            ),
            scope=scope,
            what=f"search (startAt={start})",
        )
        assert isinstance(body, dict)
        issues = _issues_of(body, scope)
        total = body.get("total")
        reached = start + len(issues)
        more = bool(issues) and (not isinstance(total, int) or reached < total)
        return SearchPage(issues, next_start=reached if more else None)

    def changelog(self, scope: str, issue_id: str, start: int) -> tuple[list[Any], bool]:
        """Histories of one issue from ``start`` on (the changelog endpoint); and whether more."""
        path = f"issue/{issue_id}/changelog"
        params = {"startAt": start, "maxResults": CHANGELOG_PAGE}

        def fetch() -> Any:
            # The library has no public method for this endpoint; _get_json is its own way to
            # call one, with the same session, authentication and error handling.
            try:
                return self.client._get_json(path, params=params)
            except JIRAError as exc:
                if exc.status_code == 404:
                    return None  # a Jira Server without the endpoint, or the issue is gone
                raise

        what = f"changelog of issue {issue_id}"
        body = self.call(fetch, scope=scope, what=what)
        if body is None:
            return self._whole_changelog(scope, issue_id)[start:], False
        if not isinstance(body, dict) or not isinstance(body.get("values"), list):
            raise CollectorError(f"jira {scope}: {what}: not a changelog")
        values = body["values"]
        total = body.get("total")
        reached = start + len(values)
        last = body.get("isLast")
        more = bool(values) and (
            not last if isinstance(last, bool) else isinstance(total, int) and reached < total
        )
        return values, more

    def _whole_changelog(self, scope: str, issue_id: str) -> list[Any]:
        """The changelog from the issue itself (``expand=changelog``), as older Servers give it."""

        def fetch() -> Any:
            try:
                issue = self.client.issue(issue_id, fields="status", expand="changelog")
            except JIRAError as exc:
                if exc.status_code == 404:
                    return None  # deleted since the search: keep what the search gave
                raise
            return issue.raw

        raw = self.call(fetch, scope=scope, what=f"issue {issue_id} with its changelog")
        changelog = raw.get("changelog") if isinstance(raw, dict) else None
        histories = changelog.get("histories") if isinstance(changelog, dict) else None
        return list(histories) if isinstance(histories, list) else []

    def close(self) -> None:
        self.client.close()


def _issues_of(body: Any, scope: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
        raise CollectorError(f"jira {scope}: the search answer has no list of issues")
    return list(body["issues"])


def describe(exc: BaseException, cfg: JiraConfig) -> str:
    """One line for a person: what went wrong, never the library's dump of headers and bodies."""
    if isinstance(exc, JIRAError):
        status = exc.status_code
        text = _first_line(exc.text or "")
        if status == 401:
            names = "/".join(n for n in (cfg.user_env, cfg.token_env) if n) or "credentials"
            return f"HTTP 401: authentication failed; check {names}"
        if status == 403:
            return f"HTTP 403: permission denied{': ' + text if text else ''}"
        if status == 404:
            return f"HTTP 404: not found{': ' + text if text else ''}"
        if status == 400:
            return f"HTTP 400: the query was refused{': ' + text if text else ''}"
        return f"HTTP {status}{': ' + text if text else ''}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {cfg.timeout_s:g}s (timeout_s)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate or protocol); check the url"
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "the connection failed or was dropped"
    if isinstance(exc, json.JSONDecodeError):
        return "the answer was not valid JSON (truncated?)"
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str, limit: int = 300) -> str:
    if text.lstrip().startswith("<"):
        return ""  # an HTML error page from a proxy says nothing the status does not
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]
