"""The streams of one GitLab project: merge requests, commits, pipelines, jobs, deployments,
issues; and the collector, whose scopes are the projects that teams list (globs expanded).

Lists that GitLab filters by ``updated_after`` (merge requests, pipelines, deployments, issues)
are read oldest update first, and every request asks again from the newest update stored, one
second back (GitLab's ``updated_after`` is inclusive on some lists and not on others), rather
than by page number: a record updated during the walk moves to the end of an offset list and
would shift an unread record onto a page already read. The cursor
(``{"since": newest update read, "at": ids read at that instant}``) moves with every page, in
the same transaction as the page; records read again in the overlap are skipped before anything
is fetched for them. A page that brings nothing new (more records at one instant than a page
holds) is followed by its ``Link: rel="next"`` page.

Jobs are read newest first with keyset pagination (``pagination=keyset&order_by=id&sort=desc``,
what GitLab offers for project jobs) down to the highest job id already done; jobs still running
(or whose pipeline is not stored yet) hold that mark back, so they are read again. A walk that
is stopped between pages resumes from its saved next-page link. Commits of the default branch
are read newest first, down to a look-back window behind the newest commit stored; an unchanged
branch head costs one request.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    MalformedRecord,
    Page,
    Scopes,
    Stream,
)
from collectors.gitlab import records
from collectors.gitlab.client import GitLabClient, GitLabError, group_path, project_path
from collectors.gitlab.config import GitLabConfig
from maturity import config as config_mod
from maturity import teams
from maturity.config import RulesConfig
from maturity.store import tables, write
from maturity.store.engine import session_scope

if TYPE_CHECKING:
    from maturity.store.engine import Writer, Writers

log = logging.getLogger("collectors.gitlab")

SOURCE = "gitlab"
#: builds name their CI system; ``teams.reattribute`` attributes them by the gitlab globs
BUILD_SOURCE = "gitlab_ci"
#: a job still unfinished after this long is taken as abandoned, not pending
PENDING_HORIZON = dt.timedelta(days=3)
#: a job whose pipeline is not stored holds the mark back this long: the pipelines stream, read
#: just before, misses only pipelines created meanwhile, and child pipelines, which GitLab's
#: pipeline list leaves out (their jobs are then not waited for)
MISSING_HORIZON = dt.timedelta(hours=1)
#: the look-back of every ``updated_after`` query (see the module docstring)
OVERLAP = dt.timedelta(seconds=1)
_GLOB = set("*?[")


@dataclass
class ProjectScope:
    """What every stream of one project shares."""

    client: GitLabClient
    source: GitLabConfig
    rules: RulesConfig
    sessions: Writers
    path: str
    name: str
    repository_id: int
    team_id: int | None
    default_branch: str | None
    _salt: bytes | None = field(default=None, repr=False)

    @property
    def api(self) -> str:
        return project_path(self.path)

    @property
    def page_size(self) -> int:
        return self.source.page_size

    def hash(self, session: Writer, identity: str | None) -> str | None:
        if not identity:
            return None
        if self._salt is None:
            self._salt = teams.author_salt(session)
        return teams.hash_identity(self._salt, identity)


def _load(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}  # an unreadable cursor means a full read, never a crash
    return data if isinstance(data, dict) else {}


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _param_time(key: str) -> str:
    """The ``updated_after`` sent for a stored watermark: one second before it."""
    parsed = dt.datetime.fromisoformat(key.replace("Z", "+00:00")) - OVERLAP
    return parsed.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GitLabStream(Stream):
    source = SOURCE

    def __init__(self, project: ProjectScope) -> None:
        super().__init__(project.path)
        self.project = project
        self.client = project.client

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        """The row of one normalized item (the scope's columns added); None: not stored."""
        return dict(item)

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = [r for item in items if item is not None and (r := self.row(session, item))]
        return super().store(session, rows)


class UpdatedAfterStream(GitLabStream):
    """A list GitLab filters by ``updated_after``, read oldest update first (module doc)."""

    #: the list under the project (``merge_requests``)
    endpoint: str
    #: query parameters besides ordering, filter and page size
    extra: dict[str, str] = {}  # noqa: RUF012 (read only)

    def expand(self, kept: list[Any]) -> list[Any]:
        """Fetch what a new or changed record needs beyond the list (approvals, commits)."""
        return kept

    def pages(self, since: str | None) -> Iterator[Page]:
        state = _load(since)
        high: str | None = state.get("since") if isinstance(state.get("since"), str) else None
        at: set[str] = {str(x) for x in state.get("at") or []}
        base = {
            **self.extra,
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": str(self.project.page_size),
        }
        url = f"{self.project.api}/{self.endpoint}"
        next_url: str | None = None
        while True:
            if next_url is None:
                params: dict[str, str] | None = dict(base)
                if high is not None:
                    params = {**base, "updated_after": _param_time(high)}
                page = next(self.client.paginate(url, params, scope=self.scope, what=self.name))
            else:  # the same instant fills more than a page: its offset pages, in order
                page = next(self.client.paginate(next_url, None, scope=self.scope, what=self.name))
            items, following = page
            kept: list[Any] = []
            read_high, read_at = high, set(at)
            for raw in items:
                key = records.iso_key(raw.get("updated_at")) if isinstance(raw, dict) else None
                ident = str(raw.get("id")) if isinstance(raw, dict) else ""
                if key is None:
                    kept.append(raw)  # the runner skips it with its reason
                    continue
                if read_high is not None and (
                    key < read_high or (key == read_high and ident in read_at)
                ):
                    continue  # read before: everything up to the watermark was
                kept.append(raw)
                if high is None or key > high:
                    high, at = key, {ident}
                elif key == high:
                    at.add(ident)
            cursor = _dump({"since": high, "at": sorted(at)}) if high is not None else None
            yield Page(self.expand(kept), cursor=cursor)
            full = len(items) >= self.project.page_size
            if not full or following is None:
                return
            # More to read: ask again from the new watermark, unless this page brought nothing
            # new (one instant holds more than a page), then follow the next offset page.
            next_url = following if not kept else None


# --- merge requests -----------------------------------------------------------------------


class MergeRequests(UpdatedAfterStream):
    """Merge requests by last update, with their approvals (every new or changed one) and their
    commits (merged ones: the first commit dates the change)."""

    name = "merge_requests"
    endpoint = "merge_requests"
    extra = {"state": "all", "scope": "all"}  # noqa: RUF012

    def expand(self, kept: list[Any]) -> list[Any]:
        out = []
        for raw in kept:
            if not isinstance(raw, dict) or not isinstance(raw.get("iid"), int):
                out.append(raw)
                continue
            base = f"{self.project.api}/merge_requests/{raw['iid']}"
            approvals = self._approvals(base)
            commits: list[Any] | None = None
            if raw.get("merged_at"):
                commits = []
                for items, _ in self.client.paginate(
                    f"{base}/commits",
                    {"per_page": "100"},
                    scope=self.scope,
                    what="merge request commits",
                ):
                    commits += items
            out.append({**raw, "_approvals": approvals, "_commits": commits})
        return out

    def _approvals(self, base: str) -> Any:
        """The approvals of one merge request; None where the token may not read them (the
        first 403 is said once and the rest of the run does without) or the merge request is
        gone."""
        if self.client.approvals_unavailable:
            return None
        try:
            return self.client.get(
                f"{base}/approvals", scope=self.scope, what="merge request approvals"
            ).data
        except GitLabError as exc:
            if exc.status == 404:  # gone between the list and this request
                log.debug("gitlab %s: %s has no approvals to read", self.scope, base)
                return None
            if exc.status != 403:
                raise
            self.client.approvals_unavailable = True
            self.client.progress.note(
                f"gitlab: merge request approvals are not available ({exc.status}); merge "
                "requests are stored without reviews in this run"
            )
            return None

    def normalize(self, raw: Any) -> Any:
        approvals = raw.get("_approvals") if isinstance(raw, dict) else None
        commits = raw.get("_commits") if isinstance(raw, dict) else None
        return records.merge_request(
            raw, approvals, commits, hotfix_labels=self.project.source.hotfix_labels
        )

    def store(self, session: Writer, items: list[Any]) -> int:
        if not items:
            return 0
        repo_id = self.project.repository_id
        by_number = {item["number"]: item for item in items}
        rows = []
        for item in by_number.values():
            row = {k: v for k, v in item.items() if k != "reviews"}
            row["author_hash"] = self.project.hash(session, row.pop("author_login"))
            row["repository_id"] = repo_id
            rows.append(row)
        write.upsert(session, tables.PullRequest, rows, key=["repository_id", "number"])
        ids = write.ids_by_key(
            session, tables.PullRequest, "number", list(by_number), repository_id=repo_id
        )
        reviews = {}
        for item in by_number.values():
            pr_id = ids[item["number"]]
            for review in item["reviews"]:
                reviews[(pr_id, review["external_id"])] = {
                    "pull_request_id": pr_id,
                    "external_id": review["external_id"],
                    "state": review["state"],
                    "submitted_at": review["submitted_at"],
                    "reviewer_hash": self.project.hash(session, review["reviewer_login"]),
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
    shas: set[str] = set()
    for row in rows:
        if row.get("is_hotfix"):
            shas.update(s for s in (row.get("merge_commit_sha"), row.get("head_sha")) if s)
    return shas


# --- pipelines ----------------------------------------------------------------------------


class Pipelines(UpdatedAfterStream):
    """Pipelines by last update, as ``builds`` rows (lint and tests come from the jobs)."""

    name = "pipelines"
    endpoint = "pipelines"
    table = tables.Build
    key = ("source", "scope", "external_id")

    def normalize(self, raw: Any) -> Any:
        return records.pipeline(raw)

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        return {
            **item,
            "source": BUILD_SOURCE,
            "scope": self.scope,
            "team_id": self.project.team_id,
            "repository_id": self.project.repository_id,
        }

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = {r["external_id"]: r for item in items if item and (r := self.row(session, item))}
        if not rows:
            return 0
        # has_lint and the test counts are the jobs stream's: a pipeline read again keeps them
        keep = [c for c in next(iter(rows.values())) if c not in self.key]
        return write.upsert(
            session, self.table, list(rows.values()), key=list(self.key), update=keep
        )


# --- jobs ---------------------------------------------------------------------------------


class Jobs(GitLabStream):
    """Jobs newest first (keyset): which pipelines lint, which publish test reports."""

    name = "jobs"

    def pages(self, since: str | None) -> Iterator[Page]:
        state = _load(since)
        done = int(state.get("done") or 0)
        walk = state.get("walk") if isinstance(state.get("walk"), dict) else None
        top: int | None = walk.get("top") if walk else None
        hold: int | None = walk.get("hold") if walk else None
        if walk and walk.get("next"):
            pages = self.client.paginate(str(walk["next"]), None, scope=self.scope, what=self.name)
        else:
            params = {
                "pagination": "keyset",
                "order_by": "id",
                "sort": "desc",
                "per_page": str(self.project.page_size),
            }
            pages = self.client.paginate(
                f"{self.project.api}/jobs", params, scope=self.scope, what=self.name
            )
        now = dt.datetime.now(dt.UTC)
        horizon = records.iso_key((now - PENDING_HORIZON).isoformat())
        missing_horizon = records.iso_key((now - MISSING_HORIZON).isoformat())
        for items, following in pages:
            parsed: list[dict[str, Any]] = []
            bad: list[Any] = []
            stop = False
            for raw in items:
                try:
                    job = records.job(raw, self.project.source.lint_patterns)
                except MalformedRecord:
                    bad.append(raw)
                    continue
                if job["id"] <= done:
                    stop = True
                    continue
                top = max(top or 0, job["id"])
                created = records.iso_key(raw.get("created_at"))
                # A job unfinished for longer than the horizon is abandoned, not pending.
                job["recent"] = created is None or horizon is None or created >= horizon
                job["new"] = (
                    created is None or missing_horizon is None or created >= missing_horizon
                )
                if not job["finished"] and job["recent"]:
                    hold = min(hold or job["id"], job["id"])
                parsed.append(job)
            facts, missing = self._facts(parsed)
            for pipeline_id, lowest in missing.items():
                log.debug("gitlab %s: pipeline %s is not stored yet", self.scope, pipeline_id)
                hold = min(hold or lowest, lowest)
            last = stop or following is None
            if last:
                # Everything up to the highest job read is done, but for the held-back ones.
                mark = hold - 1 if hold is not None else max(done, top or 0)
                cursor = _dump({"done": mark})
            else:
                cursor = _dump(
                    {"done": done, "walk": {"next": following, "top": top, "hold": hold}}
                )
            yield Page([*bad, *facts], cursor=cursor)
            if last:
                return

    def _facts(self, jobs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """Per pipeline of these jobs: lint or not, and its test counts when it has a JUnit
        report not stored yet (one request each); and the pipelines not stored yet (with the
        lowest job id of each created within ``MISSING_HORIZON``: it holds the mark back)."""
        by_pipeline: dict[int, dict[str, Any]] = {}
        lowest: dict[int, int] = {}
        junit: set[int] = set()
        for job in jobs:
            pid = job["pipeline_id"]
            fact = by_pipeline.setdefault(pid, {"pipeline_id": pid, "lint": False})
            fact["lint"] = fact["lint"] or job["lint"]
            if job["junit"] and job["finished"]:
                junit.add(pid)
            if job["new"]:
                lowest[pid] = min(lowest.get(pid, job["id"]), job["id"])
        if not by_pipeline:
            return [], {}
        with session_scope(self.project.sessions) as session:
            stored = {
                int(external_id): tests_total
                for external_id, tests_total in write.rows_where(
                    session,
                    tables.Build,
                    ["external_id", "tests_total"],
                    source=BUILD_SOURCE,
                    scope=self.scope,
                )
                if str(external_id).isdigit() and int(external_id) in by_pipeline
            }
        # A child pipeline is not in the pipelines list: its jobs hold the mark an hour at most.
        missing = {p: lowest[p] for p in by_pipeline if p not in stored and p in lowest}
        facts = []
        for pid, fact in by_pipeline.items():
            if pid not in stored:
                continue
            if pid in junit and stored[pid] is None and self.project.source.test_reports:
                summary = self.client.get(
                    f"{self.project.api}/pipelines/{pid}/test_report_summary",
                    scope=self.scope,
                    what="test report summary",
                ).data
                fact["tests"] = records.test_summary(summary)
            facts.append(fact)
        return facts, missing

    def normalize(self, raw: Any) -> Any:
        if isinstance(raw, dict) and "pipeline_id" in raw and "lint" in raw:
            return raw
        records.job(raw, self.project.source.lint_patterns)  # raises with the reason
        raise MalformedRecord("job without a usable pipeline")

    def store(self, session: Writer, items: list[Any]) -> int:
        written = 0
        where = {"source": BUILD_SOURCE, "scope": self.scope}
        for fact in items:
            key = {**where, "external_id": str(fact["pipeline_id"])}
            if fact["lint"]:
                written += write.update_rows(session, tables.Build, {"has_lint": True}, where=key)
            else:  # another page's job may have linted: only a pipeline not told yet is False
                written += write.update_rows(
                    session, tables.Build, {"has_lint": False}, where={**key, "has_lint": None}
                )
            if "tests" in fact:
                written += write.update_rows(session, tables.Build, fact["tests"], where=key)
        return written


# --- commits ------------------------------------------------------------------------------


class Commits(GitLabStream):
    """Commits of the default branch, only for projects that no team clones."""

    name = "commits"
    table = tables.Commit
    key = ("repository_id", "sha")

    def pages(self, since: str | None) -> Iterator[Page]:
        state = _load(since)
        mark = state.get("since") if isinstance(state.get("since"), str) else None
        head = state.get("head")
        threshold = None
        if mark:
            back = dt.timedelta(days=self.project.source.commit_lookback_days)
            start = dt.datetime.fromisoformat(mark.replace("Z", "+00:00")) - back
            threshold = records.iso_key(start.isoformat())
        params: dict[str, str] = {"per_page": str(self.project.page_size)}
        if self.project.default_branch:
            params["ref_name"] = self.project.default_branch
        high, new_head = mark, None
        try:
            pages = self.client.paginate(
                f"{self.project.api}/repository/commits", params, scope=self.scope, what=self.name
            )
            for n, (items, following) in enumerate(pages, start=1):
                if n == 1:
                    first = items[0] if items and isinstance(items[0], dict) else None
                    new_head = first.get("id") if first else None
                    if new_head is not None and new_head == head:
                        return  # the branch head did not move: nothing is new
                kept, stop = [], False
                for raw in items:
                    key = (
                        records.iso_key(raw.get("committed_date"))
                        if isinstance(raw, dict)
                        else None
                    )
                    if key is not None and (high is None or key > high):
                        high = key
                    if key is not None and threshold is not None and key < threshold:
                        stop = True
                        continue
                    kept.append(raw)
                if stop or following is None:
                    yield Page(kept, cursor=_dump({"since": high, "head": new_head}))
                    return
                yield Page(kept)
        except GitLabError as exc:
            if exc.status != 404 or self.project.default_branch:
                raise
            # An empty repository has no default branch and no commits.
            self.client.progress.note(f"gitlab {self.scope}: no commits (empty repository)")

    def normalize(self, raw: Any) -> Any:
        return records.commit(raw)

    def store(self, session: Writer, items: list[Any]) -> int:
        rows = []
        for item in items:
            row = dict(item)
            row["author_hash"] = self.project.hash(session, row.pop("author_identity")) or ""
            row["repository_id"] = self.project.repository_id
            rows.append(row)
        rows = list({r["sha"]: r for r in rows}.values())
        # Sizes and file kinds stay as the git collector or a later run wrote them.
        keep = ["parents", "author_hash", "authored_at", "committed_at", "is_merge", "subject"]
        return write.upsert(session, self.table, rows, key=list(self.key), update=keep)


# --- deployments --------------------------------------------------------------------------


class Deployments(UpdatedAfterStream):
    """Deployments by last update, each with its environment and job inline."""

    name = "deployments"
    endpoint = "deployments"
    table = tables.Deployment
    key = ("source", "scope", "external_id")

    def expand(self, kept: list[Any]) -> list[Any]:
        wanted = self.project.source.deployment_environments
        if not wanted:
            return kept
        out = []
        for raw in kept:
            env = raw.get("environment") if isinstance(raw, dict) else None
            name = env.get("name") if isinstance(env, dict) else None
            if isinstance(name, str) and not records.matches_any(name, wanted):
                continue
            out.append(raw)
        return out

    def normalize(self, raw: Any) -> Any:
        item = records.deployment(
            raw,
            automation_logins=self.project.source.automation_logins,
            hotfix_patterns=self.project.rules.hotfix_patterns,
            rollback_patterns=self.project.rules.rollback_patterns,
        )
        deployable = raw.get("deployable")
        pipe = deployable.get("pipeline") if isinstance(deployable, dict) else None
        pipeline_id = pipe.get("id") if isinstance(pipe, dict) else None
        item["pipeline_id"] = pipeline_id if isinstance(pipeline_id, int) else None
        return item

    def store(self, session: Writer, items: list[Any]) -> int:
        items = [i for i in items if i is not None]
        if not items:
            return 0
        # How the pipeline of the deploying job was started (pipelines are collected first).
        events = {
            str(external_id): event
            for external_id, event in write.rows_where(
                session,
                tables.Build,
                ["external_id", "event"],
                source=BUILD_SOURCE,
                scope=self.scope,
            )
        }
        hotfix = _stored_hotfix_shas(session, self.project.repository_id)
        rows = {}
        for item in items:
            row = {k: v for k, v in item.items() if k != "pipeline_id"}
            event = events.get(str(item["pipeline_id"])) if item["pipeline_id"] else None
            if row["trigger"] == "automated" and event in records.MANUAL_SOURCES:
                row["trigger"] = "manual"
            if row.get("commit_sha") in hotfix:
                row["is_hotfix"] = True
            row.update(
                source=SOURCE,
                scope=self.scope,
                team_id=self.project.team_id,
                repository_id=self.project.repository_id,
                service=self.project.name,
            )
            rows[row["external_id"]] = row
        return write.upsert(session, self.table, list(rows.values()), key=list(self.key))


def _stored_hotfix_shas(session: Writer, repository_id: int) -> set[str]:
    rows = write.rows_where(
        session,
        tables.PullRequest,
        ["merge_commit_sha", "head_sha"],
        repository_id=repository_id,
        is_hotfix=True,
    )
    return {sha for row in rows for sha in row if sha}


# --- issues -------------------------------------------------------------------------------


class Issues(UpdatedAfterStream):
    """Issues by last update; incidents by type or label."""

    name = "issues"
    endpoint = "issues"
    extra = {"state": "all", "scope": "all"}  # noqa: RUF012
    table = tables.Issue
    key = ("source", "scope", "external_id")

    def normalize(self, raw: Any) -> Any:
        return records.issue(raw, incident_labels=self.project.source.incident_labels)

    def row(self, session: Writer, item: Any) -> dict[str, Any] | None:
        return {**item, "source": SOURCE, "scope": self.scope, "team_id": self.project.team_id}


# --- the collector: scopes are projects ---------------------------------------------------


def is_glob(entry: str) -> bool:
    return any(c in _GLOB for c in entry)


def listing_root(entry: str) -> str | None:
    """The group to list for a glob: its segments before the first one with a glob character
    (``acme/payments/*`` -> ``acme/payments``); None when the first segment is a glob."""
    fixed: list[str] = []
    for segment in entry.split("/"):
        if is_glob(segment):
            break
        fixed.append(segment)
    return "/".join(fixed) or None


class GitLabCollector(Collector[GitLabConfig]):
    """Every project the teams list is one scope; globs list the projects of their group (with
    its subgroups) or, for a glob with no fixed group, of the token's memberships.

    One client serves the whole run: its rate-limit budget is the run's, not a project's.
    """

    def __init__(self, ctx: CollectContext, settings: GitLabConfig) -> None:
        super().__init__(ctx, settings)
        token = config_mod.secret(settings.token_env)
        if token is None:
            ctx.progress.note(
                f"gitlab: ${settings.token_env} is not set; requests are anonymous (public "
                "projects only)"
            )
        self.client = GitLabClient(settings, token, progress=ctx.progress, clock=ctx.clock)
        #: what a group listing said of its projects
        self.known: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.client.close()

    def entries(self) -> list[str]:
        chosen = [self.ctx.config.team(self.ctx.team)] if self.ctx.team else self.ctx.config.teams
        entries: list[str] = []
        for team in chosen:
            entries += [e for e in team.owns(SOURCE) if e not in entries]
        return entries

    def scopes(self) -> Scopes:
        out = Scopes()
        for entry in self.entries():
            if not is_glob(entry):
                if entry not in out.names:
                    out.names.append(entry)
                continue
            try:
                listed = self._list(entry)
            except CollectorError as exc:
                out.failed[entry] = str(exc)
                continue
            if not listed:
                self.ctx.progress.note(f"gitlab {entry}: no project matches")
            for info in listed:
                self.known.setdefault(info["path"], info)
                if info["path"] not in out.names:
                    out.names.append(info["path"])
        return out

    def _list(self, entry: str) -> list[dict[str, Any]]:
        """The projects a glob matches, by their full path (any case)."""
        root = listing_root(entry)
        params: dict[str, str] = {
            "order_by": "id",
            "sort": "asc",
            "per_page": str(self.settings.page_size),
        }
        if not self.settings.include_archived:
            params["archived"] = "false"
        if root is not None:
            url = f"{group_path(root)}/projects"
            params.update(include_subgroups="true", with_shared="false")
        else:
            # No fixed group: every project the token is a member of, by keyset pagination.
            url = "/projects"
            params.update(membership="true", pagination="keyset", simple="false")
        found = []
        pattern = entry.casefold()
        for items, _ in self.client.paginate(url, params, scope=entry, what="projects"):
            for raw in items:
                try:
                    info = records.project(raw)
                except MalformedRecord:
                    continue
                if fnmatch.fnmatchcase(info["path"].casefold(), pattern):
                    found.append(info)
        self.ctx.progress.note(f"gitlab {entry}: {len(found)} project(s)")
        return found

    def streams(self, scope: str) -> list[Stream]:
        info = self.known.get(scope)
        if info is None:
            resp = self.client.get(project_path(scope), scope=scope, what="project")
            try:
                info = records.project(resp.data)
            except MalformedRecord as exc:
                raise CollectorError(f"gitlab {scope}: project: {exc}") from None
        path = info["path"]
        if path.casefold() != scope.casefold():
            self.ctx.progress.note(f"gitlab {scope}: GitLab calls it {path} (moved or renamed)")
        with session_scope(self.ctx.sessions) as session:
            team_id = teams.owner_of(session, SOURCE, scope)
            repo_id = teams.upsert_repository(
                session,
                key=f"gitlab:{scope}",
                kind="gitlab",
                name=info["name"],
                location=info["web_url"] or f"{self.settings.url.rstrip('/')}/{scope}",
                team_id=team_id,
                default_branch=info["default_branch"],
                slug=scope,
            )
            cloned = teams.is_cloned(session, scope)
        project = ProjectScope(
            client=self.client,
            source=self.settings,
            rules=self.ctx.config.rules,
            sessions=self.ctx.sessions,
            path=scope,
            name=info["name"],
            repository_id=repo_id,
            team_id=team_id,
            default_branch=info["default_branch"],
        )
        chosen: list[Stream] = []
        if info["merge_requests"]:
            chosen.append(MergeRequests(project))
        if not cloned:
            chosen.append(Commits(project))
        if info["jobs"]:
            chosen += [Pipelines(project), Jobs(project)]
        chosen.append(Deployments(project))
        if info["issues"]:
            chosen.append(Issues(project))
        return chosen
