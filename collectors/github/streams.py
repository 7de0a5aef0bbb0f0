"""The streams of one GitHub repository: pull requests, commits, runs, deployments, tags, issues.

Cursors are JSON: ``{"since": watermark, "etag": first-page ETag, "resume": {...}}``.
Lists that GitHub returns newest first (pull requests by update, runs, deployments, releases,
commits) are read down to the watermark; the watermark is the newest record read (kept or not:
one read last time proves nothing newer was missed), never moves back, and only moves once
the walk is complete,
and meanwhile each page stores a resume point (the next page), so that a run killed between
pages continues where it stopped and never leaves a gap. Issues are read oldest update first
with ``since``, so their cursor moves with every page. Records that may still change (a run in
progress, a deployment still pending) hold the watermark back until they are final.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.base import CollectContext, Collector, CollectorError, Page, Scopes, Stream
from collectors.github import records
from collectors.github.client import GitHubClient, GitHubError
from collectors.github.config import GitHubConfig
from maturity import config as config_mod
from maturity import teams
from maturity.config import RulesConfig
from maturity.store import tables, write
from maturity.store.engine import session_scope

if TYPE_CHECKING:
    from maturity.store.engine import Writer

SOURCE = "github"
#: builds name their CI system; ``teams.reattribute`` falls back to the repository's team
BUILD_SOURCE = "github_actions"
#: a run or deployment still unfinished after this long is taken as abandoned, not pending
PENDING_HORIZON = dt.timedelta(days=3)

PR_QUERY = """
query PullRequestsWithReviews($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        databaseId number title state
        author { login }
        baseRefName headRefName headRefOid
        mergeCommit { oid }
        labels(first: 100) { nodes { name } }
        createdAt updatedAt mergedAt closedAt
        additions deletions
        commits { totalCount }
        firstCommit: commits(first: 1) { nodes { commit { authoredDate } } }
        reviews(first: 100) {
          totalCount
          nodes { databaseId state submittedAt author { login } commit { oid } }
        }
      }
    }
  }
}
"""


@dataclass
class RepoScope:
    """What every stream of one repository shares."""

    client: GitHubClient
    source: GitHubConfig
    rules: RulesConfig
    full_name: str
    repository_id: int
    team_id: int | None
    default_branch: str | None
    _salt: bytes | None = field(default=None, repr=False)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    @property
    def api(self) -> str:
        return f"/repos/{self.full_name}"

    def hash(self, session: Writer, identity: str | None) -> str | None:
        if not identity:
            return None
        if self._salt is None:
            self._salt = teams.author_salt(session)
        return teams.hash_identity(self._salt, identity)


@dataclass
class CursorState:
    since: str | None = None
    etag: str | None = None
    resume: dict[str, Any] | None = None
    #: ids of the records read at exactly ``since``: not read again for a timestamp tie
    at: list[str] | None = None

    @classmethod
    def load(cls, value: str | None) -> CursorState:
        if not value:
            return cls()
        try:
            data = json.loads(value)
        except ValueError:
            return cls()  # an unreadable cursor means a full read, never a crash
        if not isinstance(data, dict):
            return cls()
        at = data.get("at")
        return cls(
            data.get("since"),
            data.get("etag"),
            data.get("resume"),
            [str(x) for x in at] if isinstance(at, list) else None,
        )

    def dump(self) -> str:
        return json.dumps(
            {"since": self.since, "etag": self.etag, "resume": self.resume, "at": self.at}
        )


def _iso(value: Any) -> str | None:
    """A sortable UTC key for an ISO timestamp from GitHub, None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: one fetched page: raw items, the token of the next page (None at the end), its ETag
Fetched = tuple[list[Any], str | None, str | None]


class GitHubStream(Stream):
    source = SOURCE

    def __init__(self, repo: RepoScope) -> None:
        super().__init__(repo.full_name)
        self.repo = repo
        self.client = repo.client

    @property
    def page_size(self) -> str:
        return str(self.repo.source.page_size)

    def _rest_pages(
        self,
        url: str,
        params: dict[str, Any] | None,
        etag: str | None,
        items_key: str | None = None,
    ) -> Iterator[Fetched]:
        for items, resp in self.client.paginate(
            url, params, etag=etag, scope=self.scope, what=self.name, items_key=items_key
        ):
            yield items, resp.next_url(), resp.etag

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        """The row of one normalized item (the scope's columns added); None: not stored."""
        return dict(item)

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = [r for item in items if item is not None and (r := self.row(session, item))]
        return super().store(session, rows)


class NewestFirstStream(GitHubStream):
    """A list served newest first, read down to the stored watermark (see the module doc)."""

    #: stop at the first record older than the watermark (False when the server filters)
    client_stop = True
    #: statuses that mean "none of these here" rather than a failure (409: empty repository)
    absent_statuses: tuple[int, ...] = ()

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        raise NotImplementedError

    def order_key(self, raw: Any) -> str | None:
        raise NotImplementedError

    def is_pending(self, raw: Any) -> bool:
        return False

    def pending_horizon(self) -> dt.timedelta:
        """How long a record that is still pending holds the watermark back."""
        return PENDING_HORIZON

    def threshold(self, since: str | None) -> str | None:
        """Records older than this end the walk (the watermark, or earlier for a look-back)."""
        return since

    def item_id(self, raw: Any) -> str | None:
        if isinstance(raw, dict):
            for key in ("databaseId", "id", "sha"):
                if raw.get(key) is not None:
                    return str(raw[key])
        return None

    def expand(self, kept: list[Any]) -> list[Any]:
        """Fetch what a record needs beyond the list (deployment statuses, extra reviews)."""
        return kept

    def resume_tag(self) -> dict[str, Any]:
        """What a resume point must also remember (which API its page token belongs to)."""
        return {}

    def resumable(self, resume: dict[str, Any]) -> bool:
        """Whether a stored resume point can be continued by this run."""
        return True

    def pages(self, since: str | None) -> Iterator[Page]:
        state = CursorState.load(since)
        resume = state.resume if state.resume and self.resumable(state.resume) else None
        high: str | None = resume.get("high") if resume else None
        pending: str | None = resume.get("pending") if resume else None
        at_high: list[str] = list(resume.get("at") or []) if resume else []
        seen = set(state.at or [])
        horizon = _iso((dt.datetime.now(dt.UTC) - self.pending_horizon()).isoformat())
        # Unless a walk resumes, its first page is the newest: if that page is unchanged
        # (304 next time), nothing is new, so its ETag is what the next run sends.
        etag = state.etag if resume is None else None
        first_etag: str | None = None
        first = resume is None
        threshold = self.threshold(state.since)
        fetched = self.fetch(state.since, resume.get("next") if resume else None, etag)
        try:
            head = next(fetched)
        except StopIteration:  # 304: nothing changed
            return
        except GitHubError as exc:
            if exc.status not in self.absent_statuses:
                raise
            self.client.progress.note(f"github {self.scope}: no {self.name} ({exc.status})")
            return
        for items, next_token, page_etag in itertools.chain([head], fetched):
            if first:
                first_etag, first = page_etag, False
            kept, stop = [], False
            for raw in items:
                key = self.order_key(raw)
                # The watermark is the newest record *read*, kept or not: one that is skipped
                # below (read last time) still proves that nothing newer was missed.
                if key is not None and (high is None or key > high):
                    high, at_high = key, []
                if key is not None and key == high and (ident := self.item_id(raw)) is not None:
                    at_high.append(ident)
                if self.client_stop and key and threshold and key < threshold:
                    stop = True
                    continue
                if key is not None and key == state.since and self.item_id(raw) in seen:
                    continue  # read last time, unchanged since
                kept.append(raw)
            kept = self.expand(kept)
            for raw in kept:
                key = self.order_key(raw)
                if key is None:
                    continue
                if self.is_pending(raw) and horizon is not None and key >= horizon:
                    pending = min(pending or key, key)
            if stop or next_token is None:
                yield Page(kept, cursor=self._final(state, high, at_high, pending, first_etag))
                return
            checkpoint = CursorState(
                since=state.since,
                at=state.at,
                resume={
                    "next": next_token,
                    "high": high,
                    "pending": pending,
                    "at": at_high,
                    **self.resume_tag(),
                },
            )
            yield Page(kept, cursor=checkpoint.dump())

    @staticmethod
    def _final(
        state: CursorState,
        high: str | None,
        at_high: list[str],
        pending: str | None,
        etag: str | None,
    ) -> str:
        """The cursor once the walk is complete; it never moves below the stored watermark."""
        if pending is not None and (state.since is None or pending >= state.since):
            return CursorState(since=pending).dump()
        if high is None or (state.since is not None and high < state.since):
            return CursorState(since=state.since, etag=etag, at=state.at).dump()
        if high == state.since:
            return CursorState(
                since=high, etag=etag, at=sorted(set(state.at or []) | set(at_high))
            ).dump()
        return CursorState(since=high, etag=etag, at=sorted(set(at_high))).dump()


# --- pull requests ------------------------------------------------------------------------


class PullRequests(NewestFirstStream):
    """Pull requests by last update, newest first, with their reviews and labels.

    GraphQL reads a hundred with their reviews in one request. Where GraphQL cannot be used (a
    server without it, a proxy that passes only REST, a token GraphQL refuses), the first
    refusal switches this run to REST for every repository, and the run says so once.
    """

    name = "pull_requests"

    def __init__(self, repo: RepoScope) -> None:
        super().__init__(repo)
        self.api = self._api()

    def _api(self) -> str:
        if self.repo.source.pull_requests_api == "rest" or self.client.graphql_unavailable:
            return "rest"
        return "graphql"

    def resume_tag(self) -> dict[str, Any]:
        return {"api": self.api}

    def resumable(self, resume: dict[str, Any]) -> bool:
        # A page token of one API means nothing to the other (a walk from before a switch);
        # resume points written before they were tagged hold a URL for REST.
        token = str(resume.get("next") or "")
        api = resume.get("api") or ("rest" if token.startswith(("http", "/")) else "graphql")
        return bool(api == self.api)

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        if self.api == "graphql":
            try:
                yield from self._graphql_pages(token)
                return
            except GitHubError as exc:
                if not self._graphql_refused(exc):
                    raise
            token, etag = None, None  # start the walk again, over REST
        params = {"state": "all", "sort": "updated", "direction": "desc"}
        params["per_page"] = self.page_size
        if token:
            yield from self._rest_pages(token, None, None)
        else:
            yield from self._rest_pages(f"{self.repo.api}/pulls", params, etag)

    def _graphql_pages(self, token: str | None) -> Iterator[Fetched]:
        after = token
        first = True
        while True:
            try:
                data = self.client.graphql(
                    PR_QUERY,
                    {
                        "owner": self.repo.owner,
                        "name": self.repo.name,
                        "first": self.repo.source.page_size,
                        "after": after,
                    },
                    scope=self.scope,
                    what=self.name,
                )
            except GitHubError as exc:
                if not first:
                    # Pages of this walk came over GraphQL: a later failure is a failure.
                    raise CollectorError(str(exc)) from None
                raise
            first = False
            conn = ((data or {}).get("repository") or {}).get("pullRequests") or {}
            info = conn.get("pageInfo") or {}
            after = info.get("endCursor") if info.get("hasNextPage") else None
            yield list(conn.get("nodes") or []), after, None
            if after is None:
                return

    def _graphql_refused(self, exc: GitHubError) -> bool:
        """Whether a failed first GraphQL request means GraphQL is unusable here (so REST is
        tried) rather than a failure of this repository."""
        if exc.rate_limited or exc.status >= 500:
            return False
        url = self.client.requester.graphql_url
        self.client.graphql_unavailable = f"{exc.status}"
        self.api = "rest"
        self.client.progress.note(
            f"github: GraphQL at {url} refused the pull-request query ({exc.status}); pull "
            "requests are read over REST in this run (one more request per changed pull "
            'request; set pull_requests_api = "rest" to skip the attempt)'
        )
        return True

    def order_key(self, raw: Any) -> str | None:
        if not isinstance(raw, dict):
            return None
        return _iso(raw.get("updatedAt", raw.get("updated_at")))

    def expand(self, kept: list[Any]) -> list[Any]:
        out = []
        for raw in kept:
            if not isinstance(raw, dict):
                out.append(raw)
                continue
            if "headRefName" not in raw:  # a REST item: its reviews are a list of their own
                raw = {**raw, "_reviews": self._rest_reviews(raw.get("number"))}
            else:
                reviews = raw.get("reviews") or {}
                nodes = reviews.get("nodes") or []
                if isinstance(reviews.get("totalCount"), int) and reviews["totalCount"] > len(
                    nodes
                ):
                    raw = {**raw, "_reviews": self._rest_reviews(raw.get("number"))}
            out.append(raw)
        return out

    def _rest_reviews(self, number: Any) -> list[Any]:
        found: list[Any] = []
        params = {"per_page": "100"}
        for items, _ in self.client.paginate(
            f"{self.repo.api}/pulls/{number}/reviews", params, scope=self.scope, what="reviews"
        ):
            found.extend(items)
        return found

    def normalize(self, raw: Any) -> Any:
        hotfix = self.repo.source.hotfix_labels
        if isinstance(raw, dict) and "headRefName" in raw:
            row = records.pull_request_graphql(raw, hotfix_labels=hotfix)
            if "_reviews" in raw:
                # More than 100 reviews: the REST list has them all.
                rest = records.pull_request_rest(_rest_shape(raw), raw["_reviews"])
                row.update({k: rest[k] for k in rest if k.startswith(("review", "first_r"))})
                row.update(approved_at=rest["approved_at"], approval_count=rest["approval_count"])
            return row
        reviews = raw.get("_reviews") if isinstance(raw, dict) else None
        return records.pull_request_rest(raw, reviews, hotfix_labels=hotfix)

    def store(self, session: Writer, items: list[Any]) -> int:
        if not items:
            return 0
        repo_id = self.repo.repository_id
        by_number = {item["number"]: item for item in items}
        rows = []
        for item in by_number.values():
            row = {k: v for k, v in item.items() if k not in ("reviews", "reviews_total")}
            row["author_hash"] = self.repo.hash(session, row.pop("author_login"))
            row["repository_id"] = repo_id
            rows.append(row)
        write.upsert(session, tables.PullRequest, rows, key=["repository_id", "number"])
        ids = write.ids_by_key(
            session, tables.PullRequest, "number", list(by_number), repository_id=repo_id
        )
        reviews = {}
        for item in by_number.values():
            for review in item["reviews"]:
                reviews[(ids[item["number"]], review["external_id"])] = {
                    "pull_request_id": ids[item["number"]],
                    "external_id": review["external_id"],
                    "state": review["state"],
                    "submitted_at": review["submitted_at"],
                    "reviewer_hash": self.repo.hash(session, review["reviewer_login"]),
                    "commit_sha": review["commit_sha"],
                }
        write.upsert(
            session, tables.Review, list(reviews.values()), key=["pull_request_id", "external_id"]
        )
        # A deployment of a hotfix's commit is a hotfix deployment, whichever came first.
        shas = _hotfix_shas(rows)
        if shas:
            write.update_rows(
                session,
                tables.Deployment,
                {"is_hotfix": True},
                where={"source": SOURCE, "scope": self.scope},
                where_in=("commit_sha", shas),
            )
        return len(rows)


def _hotfix_shas(rows: list[dict[str, Any]]) -> set[str]:
    """The commits that ship hotfix pull requests: their merge commit and their head."""
    shas: set[str] = set()
    for row in rows:
        if row.get("is_hotfix"):
            shas.update(s for s in (row.get("merge_commit_sha"), row.get("head_sha")) if s)
    return shas


def _rest_shape(node: dict[str, Any]) -> dict[str, Any]:
    """The few REST fields ``records.pull_request_rest`` needs, from a GraphQL node."""
    return {
        "number": node.get("number"),
        "id": node.get("databaseId"),
        "state": str(node.get("state", "")).lower(),
        "user": node.get("author"),
        "base": {"ref": node.get("baseRefName")},
        "head": {"ref": node.get("headRefName"), "sha": node.get("headRefOid")},
        "created_at": node.get("createdAt"),
    }


# --- commits ------------------------------------------------------------------------------


class Commits(NewestFirstStream):
    """Commits of the default branch, only for repositories that no team clones."""

    name = "commits"
    absent_statuses = (409,)  # "Git Repository is empty."

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        if token:
            yield from self._rest_pages(token, None, None)
            return
        # No ``since`` parameter: the same URL every time, so an unchanged branch head costs
        # one 304; the walk stops by itself a look-back window below the watermark.
        params: dict[str, Any] = {"per_page": self.page_size}
        if self.repo.default_branch:
            params["sha"] = self.repo.default_branch
        yield from self._rest_pages(f"{self.repo.api}/commits", params, etag)

    def threshold(self, since: str | None) -> str | None:
        # Commits of a merged branch keep their older dates: look back behind the watermark.
        if not since:
            return None
        back = dt.timedelta(days=self.repo.source.commit_lookback_days)
        start = dt.datetime.fromisoformat(since.replace("Z", "+00:00")) - back
        return start.strftime("%Y-%m-%dT%H:%M:%SZ")

    def order_key(self, raw: Any) -> str | None:
        try:
            return _iso(raw["commit"]["committer"]["date"])
        except (KeyError, TypeError):
            return None

    def normalize(self, raw: Any) -> Any:
        return records.commit(raw)

    table = tables.Commit
    key = ("repository_id", "sha")

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        row = dict(item)
        row["author_hash"] = self.repo.hash(session, row.pop("author_identity")) or ""
        row["repository_id"] = self.repo.repository_id
        return row

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = [r for item in items if (r := self.row(session, item))]
        # Sizes and file kinds stay as the git collector or a later run wrote them.
        keep = ["parents", "author_hash", "authored_at", "committed_at", "is_merge", "subject"]
        return write.upsert(session, self.table, rows, key=list(self.key), update=keep)


# --- GitHub Actions -----------------------------------------------------------------------


class WorkflowRuns(NewestFirstStream):
    """GitHub Actions runs, newest first, ``created>=`` the watermark on later runs."""

    name = "workflow_runs"
    #: GitHub answers at most this many runs to a query filtered by ``created``
    FILTER_CAP = 1000

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        if token:
            yield from self._rest_pages(token, None, None, items_key="workflow_runs")
            return
        url = f"{self.repo.api}/actions/runs"
        params: dict[str, Any] = {"per_page": self.page_size}
        if since:
            filtered = self.client.paginate(
                url,
                {**params, "created": f">={since}"},
                etag=etag,
                scope=self.scope,
                what=self.name,
                items_key="workflow_runs",
            )
            for items, resp in filtered:
                total = resp.data.get("total_count") if isinstance(resp.data, dict) else None
                if isinstance(total, int) and total > self.FILTER_CAP:
                    # More new runs than a filtered query returns: walk the unfiltered list
                    # (newest first) down to the watermark instead, so none is lost.
                    self.client.progress.note(
                        f"github {self.scope}: {total} new runs; reading the full list"
                    )
                    break
                yield items, resp.next_url(), resp.etag
            else:
                return
        yield from self._rest_pages(url, params, None, items_key="workflow_runs")

    def order_key(self, raw: Any) -> str | None:
        return _iso(raw.get("created_at")) if isinstance(raw, dict) else None

    def is_pending(self, raw: Any) -> bool:
        return isinstance(raw, dict) and raw.get("status") != "completed"

    def normalize(self, raw: Any) -> Any:
        return records.workflow_run(raw)

    table = tables.Build
    key = ("source", "scope", "external_id")

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        row = {k: v for k, v in item.items() if k not in ("created_at", "completed")}
        row.update(
            source=BUILD_SOURCE,
            scope=self.scope,
            team_id=self.repo.team_id,
            repository_id=self.repo.repository_id,
        )
        return row


# --- deployments --------------------------------------------------------------------------


class Deployments(NewestFirstStream):
    """Deployments, newest first, each with its statuses (fetched for new or pending ones).

    A deployment that has no status yet is ``running`` and read again; once it is older than
    ``deployment_status_max_age_h`` without any, it is final, with status ``unknown``.
    """

    name = "deployments"

    def __init__(self, repo: RepoScope) -> None:
        super().__init__(repo)
        self._hotfix_shas: set[str] = set()

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        if token:
            yield from self._rest_pages(token, None, None)
            return
        params = {"per_page": self.page_size}
        yield from self._rest_pages(f"{self.repo.api}/deployments", params, etag)

    def order_key(self, raw: Any) -> str | None:
        if isinstance(raw, dict) and "deployment" in raw:
            raw = raw["deployment"]
        return _iso(raw.get("created_at")) if isinstance(raw, dict) else None

    def expand(self, kept: list[Any]) -> list[Any]:
        wanted = self.repo.source.deployment_environments
        out = []
        for raw in kept:
            if not isinstance(raw, dict):
                out.append(raw)
                continue
            env = raw.get("environment")
            if wanted and not (isinstance(env, str) and records.matches_any(env, wanted)):
                continue
            statuses: list[Any] = []
            if isinstance(raw.get("id"), int):
                url = f"{self.repo.api}/deployments/{raw['id']}/statuses"
                # Statuses come newest first: the first page holds the latest one.
                for items, _ in self.client.paginate(
                    url, {"per_page": "100"}, scope=self.scope, what="deployment statuses"
                ):
                    statuses = items
                    break
            out.append({"deployment": raw, "statuses": statuses})
        return out

    def item_id(self, raw: Any) -> str | None:
        if isinstance(raw, dict) and "deployment" in raw:
            raw = raw["deployment"]
        return super().item_id(raw)

    @property
    def status_max_age(self) -> dt.timedelta:
        return dt.timedelta(hours=self.repo.source.deployment_status_max_age_h)

    def pending_horizon(self) -> dt.timedelta:
        # A deployment waiting for its first status is re-read until it is old enough to end.
        return max(PENDING_HORIZON, self.status_max_age + dt.timedelta(hours=1))

    def is_pending(self, raw: Any) -> bool:
        statuses = raw.get("statuses") if isinstance(raw, dict) else None
        if not statuses:
            created = (
                _iso(raw.get("deployment", {}).get("created_at")) if isinstance(raw, dict) else None
            )
            oldest = _iso((dt.datetime.now(dt.UTC) - self.status_max_age).isoformat())
            return created is None or oldest is None or created >= oldest
        states = [s.get("state") for s in statuses if isinstance(s, dict)]
        latest = next((s for s in states if s != "inactive"), None)
        return latest in records.PENDING_DEPLOYMENT_STATES

    def normalize(self, raw: Any) -> Any:
        return records.deployment(
            raw.get("deployment"),
            raw.get("statuses") or [],
            automation_logins=self.repo.source.automation_logins,
            hotfix_patterns=self.repo.rules.hotfix_patterns,
            rollback_patterns=self.repo.rules.rollback_patterns,
            status_max_age=self.status_max_age,
        )

    table = tables.Deployment
    key = ("source", "scope", "external_id")

    def store(self, session: Writer, items: list[Any]) -> int:
        # Hotfix pull requests (labelled, see PullRequests) make their commits' deployments
        # hotfixes too; the pull requests are stored first, as their stream runs first.
        self._hotfix_shas = _stored_hotfix_shas(session, self.repo.repository_id)
        return super().store(session, items)

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        row = {k: v for k, v in item.items() if k != "pending"}
        row.update(
            source=SOURCE,
            scope=self.scope,
            team_id=self.repo.team_id,
            repository_id=self.repo.repository_id,
            service=self.repo.name,
        )
        if row.get("commit_sha") in self._hotfix_shas:
            row["is_hotfix"] = True
        return row


# --- tags and releases --------------------------------------------------------------------


class Tags(GitHubStream):
    """All tags; the list has no order to stop at, so an unchanged single page costs one 304."""

    name = "tags"

    def pages(self, since: str | None) -> Iterator[Page]:
        state = CursorState.load(since)
        params = {"per_page": self.page_size}
        pages = self._rest_pages(f"{self.repo.api}/tags", params, state.etag)
        first_etag = None
        for n, (items, next_token, etag) in enumerate(pages, start=1):
            first_etag = etag if n == 1 else first_etag
            if next_token is None:
                # A new tag can land on any page: trust the ETag only for a one-page list.
                yield Page(items, cursor=CursorState(etag=first_etag if n == 1 else None).dump())
            else:
                yield Page(items)

    def normalize(self, raw: Any) -> Any:
        return records.tag(raw)

    table = tables.Tag
    key = ("repository_id", "name")

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = [
            {
                "repository_id": self.repo.repository_id,
                "name": item["name"],
                "sha": item["sha"],
                "tagged_at": None,
                "is_annotated": False,
                "tagger_hash": None,
                "on_default_branch": None,
            }
            for item in items
        ]
        return write.upsert(session, self.table, rows, key=list(self.key), update=["sha"])


class Releases(NewestFirstStream):
    """Releases, newest first: they date the tags they name."""

    name = "releases"

    def fetch(self, since: str | None, token: str | None, etag: str | None) -> Iterator[Fetched]:
        if token:
            yield from self._rest_pages(token, None, None)
            return
        params = {"per_page": self.page_size}
        yield from self._rest_pages(f"{self.repo.api}/releases", params, etag)

    def order_key(self, raw: Any) -> str | None:
        return _iso(raw.get("created_at")) if isinstance(raw, dict) else None

    def normalize(self, raw: Any) -> Any:
        return records.release(raw)

    def store(self, session: Writer, items: list[Any]) -> int:
        written = 0
        for item in items:
            if item["draft"]:
                continue
            written += write.update_rows(
                session,
                tables.Tag,
                {"tagged_at": item["tagged_at"]},
                where={"repository_id": self.repo.repository_id, "name": item["name"]},
            )
        return written


# --- issues -------------------------------------------------------------------------------


class Issues(GitHubStream):
    """Issues by last update, oldest first, with ``since``: the cursor moves with every page."""

    name = "issues"

    def pages(self, since: str | None) -> Iterator[Page]:
        state = CursorState.load(since)
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": self.page_size,
        }
        if state.since:
            params["since"] = state.since
        high = state.since
        pages = self._rest_pages(f"{self.repo.api}/issues", params, state.etag)
        try:
            first = next(pages)
        except StopIteration:  # 304
            return
        except GitHubError as exc:
            if exc.status != 410:
                raise
            # 410 Gone: the repository has issues switched off; there is nothing to read.
            self.client.progress.note(f"github {self.scope}: issues are disabled")
            return
        for n, (items, next_token, etag) in enumerate(itertools.chain([first], pages), start=1):
            for raw in items:
                key = _iso(raw.get("updated_at")) if isinstance(raw, dict) else None
                if key:
                    high = max(high or key, key)
            # ``since`` is inclusive: the last record is read again next time, which is harmless.
            keep_etag = etag if n == 1 and next_token is None else None
            yield Page(items, cursor=CursorState(since=high, etag=keep_etag).dump())

    def normalize(self, raw: Any) -> Any:
        return records.issue(raw, incident_labels=self.repo.source.incident_labels)

    table = tables.Issue
    key = ("source", "scope", "external_id")

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        # None: a pull request in the issues list (``store`` drops those)
        return {**item, "source": SOURCE, "scope": self.scope, "team_id": self.repo.team_id}


def _stored_hotfix_shas(session: Writer, repository_id: int) -> set[str]:
    """The commits of the repository's stored hotfix pull requests."""
    rows = write.rows_where(
        session,
        tables.PullRequest,
        ["merge_commit_sha", "head_sha"],
        repository_id=repository_id,
        is_hotfix=True,
    )
    return {sha for row in rows for sha in row if sha}


# --- the collector: scopes are repositories -----------------------------------------------


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str | None


class GitHubCollector(Collector[GitHubConfig]):
    """Every repository the teams list is one scope; ``owner/*`` lists an owner's repositories.

    One client serves the whole run: its rate-limit budget, request spacing and whether GraphQL
    can be used are the run's, not a repository's.
    """

    def __init__(self, ctx: CollectContext, settings: GitHubConfig) -> None:
        super().__init__(ctx, settings)
        token = config_mod.secret(settings.token_env)
        if token is None:
            ctx.progress.note(f"github: ${settings.token_env} is not set; requests are anonymous")
        self.client = GitHubClient(settings, token, progress=ctx.progress, clock=ctx.clock)
        #: what an owner's listing said of its repositories (their default branch)
        self.known: dict[str, RepoInfo] = {}

    def close(self) -> None:
        self.client.close()

    def entries(self) -> list[str]:
        teams = [self.ctx.config.team(self.ctx.team)] if self.ctx.team else self.ctx.config.teams
        entries: list[str] = []
        for team in teams:
            entries += [e for e in team.owns(SOURCE) if e not in entries]
        return entries

    def scopes(self) -> Scopes:
        out = Scopes()
        for entry in self.entries():
            if not entry.endswith("/*"):
                if entry not in out.names:
                    out.names.append(entry)
                continue
            try:
                listed = self._list_owner(entry)
            except CollectorError as exc:
                out.failed[entry] = str(exc)
                continue
            for info in listed:
                self.known.setdefault(info.full_name, info)
                if info.full_name not in out.names:
                    out.names.append(info.full_name)
        return out

    def _cached(self, scope: str, stream: str) -> dict[str, Any]:
        if self.ctx.full_refresh:
            return {}
        with session_scope(self.ctx.sessions) as session:
            value = write.get_cursor(session, source=SOURCE, scope=scope, stream=stream)
        try:
            data = json.loads(value) if value else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _remember(self, scope: str, stream: str, data: dict[str, Any]) -> None:
        with session_scope(self.ctx.sessions) as session:
            write.set_cursor(
                session, source=SOURCE, scope=scope, stream=stream, value=json.dumps(data)
            )

    def _list_owner(self, entry: str) -> list[RepoInfo]:
        """The repositories of an organisation (or, failing that, a user), cached by ETag."""
        client = self.client
        owner = entry[:-2]
        cached = self._cached(entry, "repositories")
        params = {"per_page": str(self.settings.page_size)}
        kinds = ["orgs", "users"]
        if cached.get("kind") == "users":
            kinds.reverse()  # known to be a user: skip the organisation's 404
        found: list[dict[str, Any]] = []
        pages, etag, kind = 0, None, kinds[0]
        for kind in kinds:
            try:
                for items, resp in client.paginate(
                    f"/{kind}/{owner}/repos",
                    params,
                    etag=cached.get("etag") if cached.get("kind") == kind else None,
                    scope=entry,
                    what="repositories",
                ):
                    pages += 1
                    etag = resp.etag if pages == 1 else etag
                    found += [
                        {"full_name": r["full_name"], "default_branch": r.get("default_branch")}
                        for r in items
                        if isinstance(r, dict) and isinstance(r.get("full_name"), str)
                    ]
                break
            except GitHubError as exc:
                if kind == kinds[0] and exc.status == 404:
                    continue  # not an organisation (or no longer a user): try the other kind
                raise
        if pages == 0 and "repos" in cached:  # 304: the one-page list did not change
            found = cached["repos"]
        else:
            # A repository can appear on any page: trust the ETag only for a one-page list.
            remembered = {"kind": kind, "etag": etag if pages == 1 else None, "repos": found}
            self._remember(entry, "repositories", remembered)
        self.ctx.progress.note(f"github {entry}: {len(found)} repositories")
        return [RepoInfo(r["full_name"], r.get("default_branch")) for r in found]

    def streams(self, scope: str) -> list[Stream]:
        settings = self.settings
        info = self.known.get(scope)
        if info is None:
            cached = self._cached(scope, "repository")
            resp = self.client.get(
                f"/repos/{scope}", etag=cached.get("etag"), scope=scope, what="repository"
            )
            if resp.not_modified:
                default_branch = cached.get("default_branch")
            else:
                default_branch = resp.data.get("default_branch")
                self._remember(
                    scope, "repository", {"etag": resp.etag, "default_branch": default_branch}
                )
        else:
            default_branch = info.default_branch
        with session_scope(self.ctx.sessions) as session:
            team_id = teams.owner_of(session, SOURCE, scope)
            repo_id = teams.upsert_repository(
                session,
                key=f"github:{scope}",
                kind="github",
                name=scope.split("/", 1)[1],
                location=f"{settings.base_url.rstrip('/')}/repos/{scope}",
                team_id=team_id,
                default_branch=default_branch,
                slug=scope,
            )
            cloned = teams.is_cloned(session, scope)
        repo = RepoScope(
            client=self.client,
            source=settings,
            rules=self.ctx.config.rules,
            full_name=scope,
            repository_id=repo_id,
            team_id=team_id,
            default_branch=default_branch,
        )
        chosen: list[Stream] = [PullRequests(repo)]
        if not cloned:
            chosen.append(Commits(repo))
        chosen += [WorkflowRuns(repo), Deployments(repo), Tags(repo), Releases(repo), Issues(repo)]
        return chosen
