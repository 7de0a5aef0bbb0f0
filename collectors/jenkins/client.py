"""python-jenkins behind one retry policy: classified errors, clean messages, no secrets.

Every call goes through :meth:`JenkinsClient.call`: 5xx, 429, timeouts, dropped connections and
bodies cut short are retried with backoff and jitter (``collectors.retry``); 401, 403 and 404
fail at once. What escapes is a :class:`CollectorError` whose one-line message names the source
and the scope, and never carries the user or token.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import jenkins
import requests

from collectors import retry
from collectors.base import CollectorError
from collectors.jenkins.config import JenkinsConfig
from maturity import config as config_mod

log = logging.getLogger("collectors.jenkins")
T = TypeVar("T")

#: the fields of a build the collector reads; one request returns a page of builds with them
BUILD_FIELDS = (
    "number,url,result,building,timestamp,duration,"
    "actions[_class,urlName,totalCount,failCount,skipCount,"
    "parameters[_class,name,value],"
    "causes[_class,shortDescription,upstreamProject,upstreamBuild,userId],"
    "lastBuiltRevision[SHA1,branch[SHA1,name]],remoteUrls],"
    "changeSets[items[commitId]],changeSet[items[commitId]]"
)


def job_path(full_name: str) -> str:
    """``a/b`` -> ``job/a/job/b``; python-jenkins' get_info URL-encodes each name itself."""
    return "/".join(f"job/{name}" for name in full_name.split("/"))


class JenkinsClient:
    """The calls the collector makes, each one request, each retried by the same policy."""

    def __init__(
        self,
        source: JenkinsConfig,
        *,
        on_wait: Callable[[str], None] | None = None,
        clock: retry.Clock = retry.SYSTEM_CLOCK,
    ) -> None:
        self.source = source
        self.clock = clock
        user = config_mod.secret(source.user_env)
        token = config_mod.secret(source.token_env)
        self._secrets = [s for s in (user, token) if s]
        self.server = jenkins.Jenkins(
            source.url, username=user, password=token, timeout=source.timeout_s
        )
        self.policy = retry.RetryPolicy(
            attempts=source.retries + 1,
            base_s=source.retry_backoff_s,
            cap_s=max(source.retry_backoff_s, 60.0),
        )
        self.on_wait = on_wait
        #: per job, how its builds are listed when ``allBuilds`` is not answered: ``builds``
        #: (an older Jenkins), or ``one by one`` (a proxy that drops ``tree``)
        self.listing: dict[str, str] = {}

    def call(self, fn: Callable[[], T], *, scope: str, what: str) -> T:
        """Run one python-jenkins call under the retry policy; CollectorError when it fails."""
        try:
            return retry.call(
                fn,
                classify=lambda exc: classify(exc, now=self.clock.time()),
                policy=self.policy,
                what=f"jenkins {scope}: {what}",
                sleep=self.clock.sleep,
                on_wait=self.on_wait,
            )
        except CollectorError:
            raise
        except Exception as exc:
            raise CollectorError(self.redact(f"jenkins {scope}: {self.describe(exc)}")) from None

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every item, folders included, recursively (python-jenkins get_all_jobs)."""
        jobs: list[dict[str, Any]] = self.call(
            lambda: self.server.get_all_jobs(), scope="(job list)", what="list jobs"
        )
        return jobs

    def builds(self, job: str, start: int, stop: int) -> list[Any]:
        """Builds ``start`` to ``stop`` (newest first, ``stop`` excluded) in one request.

        Jenkins answers ``allBuilds``; an older one only ``builds``, and a proxy that drops
        ``tree`` answers the job's default summary (numbers only): then the builds are read
        one by one. Either is said once per job, so that nobody takes it for "no builds".
        """
        mode = self.listing.get(job, "allBuilds")
        if mode == "one by one":
            return []  # the summary was the whole list; it was read with the first page
        data = self._build_list(job, mode, start, stop)
        if mode == "allBuilds" and "allBuilds" not in data:
            if "builds" in data and _tree_ignored(data, "allBuilds"):
                return self._one_by_one(job, data["builds"], start)
            retry = self._build_list(job, "builds", start, stop)
            if "builds" not in retry:
                return []  # items that cannot be built (templates, some folders) export none
            self.listing[job] = mode = "builds"
            self._say(job, "this Jenkins answers no allBuilds; reading builds instead")
            data = retry
        if mode == "builds" and _tree_ignored(data, "builds"):
            return self._one_by_one(job, data.get("builds"), start)
        builds = data.get(mode, [])
        if not isinstance(builds, list):
            raise CollectorError(f"jenkins {job}: the server sent {mode} that is not a list")
        return builds

    def _build_list(self, job: str, field: str, start: int, stop: int) -> dict[str, Any]:
        query = f"?tree={field}[{BUILD_FIELDS}]{{{start},{stop}}}"
        data = self.call(
            lambda: self.server.get_info(item=job_path(job), query=query),
            scope=job,
            what=f"builds {start}-{stop}",
        )
        if not isinstance(data, dict):
            raise CollectorError(f"jenkins {job}: the job's answer is not a JSON object")
        return data

    def _one_by_one(self, job: str, summary: Any, start: int) -> list[Any]:
        """Every build of a summary list, each read on its own (the list carries numbers only)."""
        self.listing[job] = "one by one"
        if start > 0 or not isinstance(summary, list):
            return []
        self._say(
            job,
            "the answer ignored tree= (a proxy?); reading each build on its own "
            f"({len(summary)} requests)",
        )
        found = []
        for item in summary:
            number = item.get("number") if isinstance(item, dict) else None
            if isinstance(number, int) and not isinstance(number, bool):
                build = self.build(job, number)
                if build is not None:
                    found.append(build)
        return found

    def _say(self, job: str, message: str) -> None:
        log.warning("jenkins %s: %s", job, message)
        if self.on_wait is not None:
            self.on_wait(f"jenkins {job}: {message}")

    def build(self, job: str, number: int) -> dict[str, Any] | None:
        """One build (to re-read one that was running); None if it no longer exists."""
        query = f"?tree={BUILD_FIELDS}"

        def fetch() -> dict[str, Any] | None:
            try:
                value = self.server.get_info(item=f"{job_path(job)}/{number}", query=query)
            except jenkins.NotFoundException:
                return None
            return value if isinstance(value, dict) else None

        return self.call(fetch, scope=job, what=f"build {number}")

    def describe(self, exc: BaseException) -> str:
        """One line saying what went wrong, for a person (no URL, no response body)."""
        status = http_status(exc)
        tries = f" (gave up after {self.policy.attempts} attempts)"
        if status == 401:
            names = " / ".join(f"${n}" for n in (self.source.user_env, self.source.token_env) if n)
            return f"authentication failed (HTTP 401); check the user and token in {names}"
        if status == 403:
            return "access denied (HTTP 403); the user may not read this job"
        if status == 404:
            return "not found (HTTP 404); the job was deleted or renamed"
        if status is not None:
            retried = status >= 500 or status == 429
            return f"the server answered HTTP {status}{tries if retried else ''}"
        if _is_timeout(exc):
            return f"no answer within {self.source.timeout_s:g}s{tries}"
        if _is_connection(exc):
            return f"the connection failed ({type(_root(exc)).__name__}){tries}"
        if _is_malformed(exc):
            return f"the server sent a body that is not valid JSON{tries}"
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return f"{type(exc).__name__}: {first}"

    def redact(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "***")
            text = text.replace(quote(value, safe=""), "***")
        return text


def _tree_ignored(data: dict[str, Any], field: str) -> bool:
    """Whether an answer is the job's default summary rather than what ``tree`` asked for."""
    builds = data.get("builds") if field == "allBuilds" else data.get(field)
    extra = set(data) - {"_class", field}
    summaries = isinstance(builds, list) and any(
        isinstance(b, dict) and "timestamp" not in b for b in builds
    )
    return bool(extra - {"builds"}) or summaries


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _root(exc: BaseException) -> BaseException:
    return _chain(exc)[-1]


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an error, however python-jenkins wrapped it."""
    for item in _chain(exc):
        response = getattr(item, "response", None)
        if isinstance(item, requests.HTTPError) and response is not None:
            return int(response.status_code)
    if isinstance(exc, jenkins.NotFoundException):
        return 404
    return None


def _headers(exc: BaseException) -> dict[str, str]:
    for item in _chain(exc):
        response = getattr(item, "response", None)
        if isinstance(item, requests.HTTPError) and response is not None:
            return dict(response.headers)
    return {}


def _is_timeout(exc: BaseException) -> bool:
    return any(
        isinstance(e, jenkins.TimeoutException | requests.Timeout | TimeoutError)
        for e in _chain(exc)
    )


def _is_connection(exc: BaseException) -> bool:
    return any(
        isinstance(
            e,
            requests.ConnectionError
            | requests.exceptions.ChunkedEncodingError
            | http.client.HTTPException
            | ConnectionError,
        )
        for e in _chain(exc)
    )


def _is_malformed(exc: BaseException) -> bool:
    return any(isinstance(e, ValueError | jenkins.EmptyResponseException) for e in _chain(exc))


def classify(exc: BaseException, *, now: float | None = None) -> retry.RetryableError | None:
    """Retry 5xx, 429, timeouts, dropped connections and truncated bodies; fail fast on the
    rest (401, 403, 404 cannot turn into a 200 by asking again). ``now``: the client's clock,
    which a ``Retry-After`` date is compared with."""
    status = http_status(exc)
    if status is not None:
        if status == 429 or status >= 500:
            return retry.RetryableError(
                f"HTTP {status}", wait_s=retry.wait_from_headers(_headers(exc), now)
            )
        return None
    if _is_timeout(exc):
        return retry.RetryableError("timed out")
    if _is_connection(exc):
        return retry.RetryableError(f"connection failed ({type(_root(exc)).__name__})")
    if _is_malformed(exc):
        return retry.RetryableError("the body is not valid JSON")
    return None
