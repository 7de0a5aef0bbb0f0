"""A local server that speaks GitLab's REST API v4 (the calls the GitLab collector makes).

Payloads are the recorded and documented ones in ``tests/fixtures/gitlab`` (every field the real
API sends), with ids, paths, times, shas and URLs generated per item. It serves the real paths
under ``/api/v4``, projects addressed by id or by URL-encoded full path (``acme%2Fapi``), group
project lists with subgroups, offset pagination (``page``/``per_page`` with ``X-Page``,
``X-Per-Page``, ``X-Total``, ``X-Total-Pages``, ``X-Next-Page``, ``X-Prev-Page`` and ``Link``
prev/next/first/last) and keyset pagination where GitLab offers it (``/projects`` with
``id_after``, project jobs with ``cursor``: ``Link`` next only), ``updated_after`` filters
(inclusive on merge requests and issues, exclusive on pipelines and deployments, as GitLab's
finders are), ``RateLimit-*`` headers on every answer with a budget that runs out (then 429,
``Retry-After`` and ``RateLimit-ResetTime``, body ``Retry later``), GitLab-shaped 401, 403 and
404 bodies, and injected faults (5xx bursts, timeouts, resets, truncated bodies). It counts
requests per path (project paths decoded). Usable from tests and from ``bench/``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import email.utils
import hashlib
import json
import math
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.servers import POLL_S, hold_answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gitlab"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: GitLab's answer to keyset pagination an endpoint or ordering does not offer
KEYSET_405 = {"error": "Keyset pagination is not yet available for this type of request"}


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]


def sha_of(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


# --- generated data -----------------------------------------------------------------------


@dataclass
class FakeProject:
    """One project's data as compact specs; full payloads are rendered when served."""

    path: str
    id: int
    default_branch: str = "main"
    archived: bool = False
    jobs_enabled: bool = True
    issues_enabled: bool = True
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    # Factories: each adds one item; ids are unique across the server.

    def add_merge_request(
        self,
        *,
        at: dt.datetime,
        merged: bool = True,
        approvers: list[str] | None = None,
        author: str = "dev-a",
        labels: list[str] | None = None,
        commits: int = 2,
        squash: bool = False,
    ) -> dict[str, Any]:
        iid = len(self.merge_requests) + 1
        approvers = ["reviewer-b"] if approvers is None else approvers
        done = at + dt.timedelta(hours=5)
        spec = {
            "iid": iid,
            "id": self.id * 100_000 + iid,
            "title": f"Change {iid}",
            "author": author,
            "created": at,
            "updated": done,
            "merged": done if merged else None,
            "closed": None,
            "sha": sha_of(self.path, "head", iid),
            "merge_sha": sha_of(self.path, "merge", iid) if merged and not squash else None,
            "squash_sha": sha_of(self.path, "squash", iid) if merged and squash else None,
            "labels": labels or [],
            "approvals": [
                {"login": login, "user_id": 500 + i, "at": at + dt.timedelta(hours=1, minutes=i)}
                for i, login in enumerate(approvers)
            ],
            "commits": [
                {
                    "sha": sha_of(self.path, "mr", iid, n),
                    "at": at - dt.timedelta(hours=2) + dt.timedelta(minutes=10 * n),
                }
                for n in range(commits)
            ],
        }
        self.merge_requests.append(spec)
        return spec

    def touch_merge_request(self, iid: int, at: dt.datetime) -> None:
        self.merge_requests[iid - 1]["updated"] = at

    def add_commit(self, *, at: dt.datetime, merge: bool = False) -> dict[str, Any]:
        n = len(self.commits) + 1
        parents = [self.commits[-1]["sha"]] if self.commits else []
        if merge:
            parents.append(sha_of(self.path, "side", n))
        spec = {
            "sha": sha_of(self.path, "commit", n),
            "parents": parents,
            "email": f"dev{n % 3}@example.com",
            "at": at,
            "message": f"Commit {n}\n\nBody of commit {n}",
        }
        self.commits.append(spec)
        return spec

    def add_pipeline(
        self,
        *,
        at: dt.datetime,
        status: str = "success",
        sha: str | None = None,
        source: str = "push",
        lint: bool = True,
        tests: tuple[int, int, int] | None = (40, 1, 2),
        ref: str | None = None,
    ) -> dict[str, Any]:
        """A pipeline with a build job, a lint job (``lint``) and a test job that publishes a
        JUnit report with (total, failed, skipped) ``tests`` (None: no report)."""
        n = len(self.pipelines) + 1
        spec = {
            "id": self.id * 1_000_000 + n,
            "iid": n,
            "status": status,
            "source": source,
            "ref": ref or self.default_branch,
            "sha": sha or sha_of(self.path, "commit", n),
            "created": at,
            "updated": at + dt.timedelta(minutes=6),
            "tests": tests,
        }
        self.pipelines.append(spec)
        finished = status not in ("running", "pending", "created")
        names = [("build", "build"), ("ruff-lint", "test")] if lint else [("build", "build")]
        names.append(("unit-tests", "test"))
        for name, stage in names:
            self.jobs.append(
                {
                    "id": self.id * 10_000_000 + len(self.jobs) + 1,
                    "pipeline": spec,
                    "name": name,
                    "stage": stage,
                    "status": ("success" if status == "success" else "failed")
                    if finished
                    else "running",
                    "junit": name == "unit-tests" and tests is not None and finished,
                    "created": at + dt.timedelta(seconds=len(self.jobs)),
                }
            )
        return spec

    def finish_pipeline(self, spec: dict[str, Any], status: str, at: dt.datetime) -> None:
        spec["status"], spec["updated"] = status, at
        for job in self.jobs:
            if job["pipeline"] is spec:
                job["status"] = "success" if status == "success" else "failed"
                job["junit"] = job["name"] == "unit-tests" and spec["tests"] is not None

    def add_deployment(
        self,
        *,
        at: dt.datetime,
        environment: str = "production",
        status: str = "success",
        sha: str | None = None,
        ref: str | None = None,
        pipeline: dict[str, Any] | None = None,
        user: str = "deployer",
    ) -> dict[str, Any]:
        n = len(self.deployments) + 1
        spec = {
            "id": self.id * 10_000 + n,
            "iid": n,
            "environment": environment,
            "status": status,
            "ref": ref or self.default_branch,
            "sha": sha or sha_of(self.path, "deploy", n),
            "created": at,
            "updated": at + dt.timedelta(minutes=3),
            "pipeline": pipeline,
            "user": user,
        }
        self.deployments.append(spec)
        return spec

    def add_issue(
        self,
        *,
        at: dt.datetime,
        labels: list[str] | None = None,
        incident: bool = False,
        closed: dt.datetime | None = None,
    ) -> dict[str, Any]:
        n = len(self.issues) + 1
        spec = {
            "id": self.id * 1_000 + n,
            "iid": n,
            "title": f"Issue {n}",
            "labels": labels or [],
            "type": "incident" if incident else "issue",
            "created": at,
            "updated": closed or at,
            "closed": closed,
        }
        self.issues.append(spec)
        return spec

    def populate(
        self,
        *,
        merge_requests: int = 0,
        commits: int = 0,
        pipelines: int = 0,
        deployments: int = 0,
        issues: int = 0,
        start: dt.datetime = T0,
    ) -> FakeProject:
        for i in range(merge_requests):
            self.add_merge_request(at=start + dt.timedelta(minutes=7 * i), merged=i % 5 != 4)
        for i in range(commits):
            self.add_commit(at=start + dt.timedelta(minutes=11 * i), merge=i % 4 == 3)
        for i in range(pipelines):
            self.add_pipeline(
                at=start + dt.timedelta(minutes=3 * i),
                status="failed" if i % 10 == 9 else "success",
                lint=i % 2 == 0,
                tests=(30 + i % 7, i % 2, 1) if i % 3 != 2 else None,
            )
        for i in range(deployments):
            self.add_deployment(
                at=start + dt.timedelta(hours=6 * i),
                environment="production" if i % 2 else "staging",
            )
        for i in range(issues):
            self.add_issue(
                at=start + dt.timedelta(hours=i),
                labels=["incident"] if i % 4 == 0 else ["bug"],
                incident=i % 6 == 5,
            )
        return self


class Templates:
    """The recorded payloads, one template item each."""

    def __init__(self) -> None:
        self.project = fixture("GET_groups_id_projects.json")[0]
        self.merge_request = next(
            m for m in fixture("GET_projects_id_merge_requests.json") if m.get("author")
        )
        self.approvals = fixture("GET_projects_id_merge_requests_iid_approvals.json")
        self.commit = fixture("GET_projects_id_repository_commits.json")[0]
        self.pipeline = fixture("GET_projects_id_pipelines.json")[0]
        self.summary = fixture("GET_projects_id_pipelines_id_test_report_summary.json")
        self.job = fixture("GET_projects_id_jobs.json")[0]
        self.deployment = fixture("GET_projects_id_deployments.json")[0]
        self.issue = fixture("GET_projects_id_issues.json")[0]


def _user(template: dict[str, Any], login: str) -> dict[str, Any]:
    user = copy.deepcopy(template)
    old = user.get("username") or ""
    for key, value in list(user.items()):
        if isinstance(value, str) and old:
            user[key] = value.replace(old, login)
    user["username"] = login
    user["name"] = login.replace("-", " ").title()
    user["id"] = int(hashlib.md5(login.encode()).hexdigest()[:7], 16)
    return user


class Renderer:
    """Full payloads from specs, for one project on one host."""

    def __init__(self, t: Templates, project: FakeProject, web: str) -> None:
        self.t = t
        self.p = project
        self.web = web  # http://host

    def project(self) -> dict[str, Any]:
        out = copy.deepcopy(self.t.project)
        group = self.p.path.rsplit("/", 1)[0]
        out.update(
            id=self.p.id,
            name=self.p.name.title(),
            path=self.p.name,
            path_with_namespace=self.p.path,
            name_with_namespace=" / ".join(s.title() for s in self.p.path.split("/")),
            # an empty repository has no default branch yet
            default_branch=self.p.default_branch if self.p.commits else None,
            archived=self.p.archived,
            web_url=f"{self.web}/{self.p.path}",
            http_url_to_repo=f"{self.web}/{self.p.path}.git",
            ssh_url_to_repo=f"git@{self.web.split('://', 1)[1]}:{self.p.path}.git",
            jobs_enabled=self.p.jobs_enabled,
            issues_enabled=self.p.issues_enabled,
        )
        out["namespace"] = {**out["namespace"], "path": group.rsplit("/", 1)[-1], "name": group}
        return out

    def merge_request(self, s: dict[str, Any]) -> dict[str, Any]:
        m = copy.deepcopy(self.t.merge_request)
        merged = s["merged"]
        m.update(
            id=s["id"],
            iid=s["iid"],
            project_id=self.p.id,
            title=s["title"],
            state="merged" if merged else ("closed" if s["closed"] else "opened"),
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            merged_at=iso(merged) if merged else None,
            closed_at=iso(s["closed"]) if s["closed"] else None,
            target_branch=self.p.default_branch,
            source_branch=f"feature-{s['iid']}",
            sha=s["sha"],
            merge_commit_sha=s["merge_sha"],
            squash_commit_sha=s["squash_sha"],
            labels=list(s["labels"]),
            reference=f"!{s['iid']}",
            web_url=f"{self.web}/{self.p.path}/-/merge_requests/{s['iid']}",
            source_project_id=self.p.id,
            target_project_id=self.p.id,
        )
        m["author"] = _user(m["author"], s["author"])
        m["merged_by"] = _user(m["author"], "maintainer") if merged else None
        return m

    def approvals(self, s: dict[str, Any]) -> dict[str, Any]:
        a = copy.deepcopy(self.t.approvals)
        template = a["approved_by"][0]["user"]
        a.update(
            id=s["id"],
            iid=s["iid"],
            project_id=self.p.id,
            title=s["title"],
            state="merged" if s["merged"] else "opened",
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            approvals_left=max(0, a["approvals_required"] - len(s["approvals"])),
        )
        a["approved_by"] = []
        for entry in s["approvals"]:
            user = _user(template, entry["login"])
            user["id"] = entry["user_id"]
            # GitLab 17 and later say when; ``at`` None stands for an older server
            item: dict[str, Any] = {"user": user}
            if entry["at"] is not None:
                item["approved_at"] = iso(entry["at"])
            a["approved_by"].append(item)
        return a

    def commit(self, s: dict[str, Any]) -> dict[str, Any]:
        c = copy.deepcopy(self.t.commit)
        title = s["message"].split("\n", 1)[0]
        c.update(
            id=s["sha"],
            short_id=s["sha"][:8],
            title=title,
            message=s["message"],
            author_email=s["email"],
            author_name=s["email"].split("@")[0],
            authored_date=iso(s["at"]),
            committed_date=iso(s["at"]),
            created_at=iso(s["at"]),
            parent_ids=list(s["parents"]),
            web_url=f"{self.web}/{self.p.path}/-/commit/{s['sha']}",
        )
        return c

    def mr_commit(self, mr: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        return self.commit(
            {"sha": s["sha"], "parents": [], "email": f"{mr['author']}@example.com",
             "at": s["at"], "message": f"Work on {mr['title']}"}
        )  # fmt: skip

    def pipeline(self, s: dict[str, Any]) -> dict[str, Any]:
        p = copy.deepcopy(self.t.pipeline)
        p.update(
            id=s["id"],
            iid=s["iid"],
            project_id=self.p.id,
            status=s["status"],
            source=s["source"],
            ref=s["ref"],
            sha=s["sha"],
            web_url=f"{self.web}/{self.p.path}/-/pipelines/{s['id']}",
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
        )
        p.update(s.get("override", {}))
        return p

    def summary(self, s: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(self.t.summary)
        total, failed, skipped = s["tests"] or (0, 0, 0)
        out["total"].update(count=total, success=total - failed - skipped, failed=failed)
        out["total"].update(skipped=skipped, error=0)
        suite = out["test_suites"][0]
        suite.update(total_count=total, success_count=total - failed - skipped)
        suite.update(failed_count=failed, skipped_count=skipped, error_count=0)
        if s["tests"] is None:
            out["test_suites"] = []
        return out

    def job(self, s: dict[str, Any]) -> dict[str, Any]:
        j = copy.deepcopy(self.t.job)
        pipe = s["pipeline"]
        j.update(
            id=s["id"],
            name=s["name"],
            stage=s["stage"],
            status=s["status"],
            ref=pipe["ref"],
            created_at=iso(s["created"]),
            web_url=f"{self.web}/{self.p.path}/-/jobs/{s['id']}",
        )
        j["failure_reason"] = "script_failure" if s["status"] == "failed" else None
        j["pipeline"] = {
            **j["pipeline"],
            "id": pipe["id"],
            "project_id": self.p.id,
            "ref": pipe["ref"],
            "sha": pipe["sha"],
            "status": pipe["status"],
        }
        j["commit"] = {**j["commit"], "id": pipe["sha"], "short_id": pipe["sha"][:8]}
        junit = [a for a in j["artifacts"] if a["file_type"] == "junit"]
        j["artifacts"] = [a for a in j["artifacts"] if a["file_type"] != "junit"]
        if s["junit"]:
            j["artifacts"] += junit
        j.update(s.get("override", {}))
        return j

    def deployment(self, s: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(self.t.deployment)
        d.update(
            id=s["id"],
            iid=s["iid"],
            ref=s["ref"],
            sha=s["sha"],
            status=s["status"],
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
        )
        d["environment"] = {
            **d["environment"],
            "id": abs(hash(s["environment"])) % 10_000,
            "name": s["environment"],
        }
        d["user"] = _user(d["user"], s["user"])
        pipe = s["pipeline"]
        if pipe is None:
            d["deployable"] = None
        else:
            job = d["deployable"]
            job.update(
                id=s["id"] * 10,
                status="success" if s["status"] == "success" else s["status"],
                ref=s["ref"],
                finished_at=iso(s["updated"]),
                created_at=iso(s["created"]),
            )
            job["commit"] = {**job["commit"], "id": s["sha"], "short_id": s["sha"][:8]}
            job["pipeline"] = {
                **job["pipeline"],
                "id": pipe["id"],
                "sha": pipe["sha"],
                "ref": pipe["ref"],
                "status": pipe["status"],
                "created_at": iso(pipe["created"]),
                "updated_at": iso(pipe["updated"]),
                "web_url": f"{self.web}/{self.p.path}/-/pipelines/{pipe['id']}",
            }
            job["user"] = _user(job["user"], s["user"])
        d.update(s.get("override", {}))
        return d

    def issue(self, s: dict[str, Any]) -> dict[str, Any]:
        i = copy.deepcopy(self.t.issue)
        i.update(
            id=s["id"],
            iid=s["iid"],
            project_id=self.p.id,
            title=s["title"],
            state="closed" if s["closed"] else "opened",
            labels=list(s["labels"]),
            issue_type=s["type"],
            type=s["type"].upper(),
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            closed_at=iso(s["closed"]) if s["closed"] else None,
            web_url=f"{self.web}/{self.p.path}/-/issues/{s['iid']}",
        )
        i["references"] = {
            "short": f"#{s['iid']}",
            "relative": f"{self.p.name}#{s['iid']}",
            "full": f"{self.p.path}#{s['iid']}",
        }
        i.update(s.get("override", {}))
        return i


# --- faults and rate limits ---------------------------------------------------------------


@dataclass
class Fault:
    """Answer ``times`` requests whose path contains ``match`` badly, after ``skip`` good ones.

    kind: an HTTP status ("502", "401", "403", "404"), "429" (with ``Retry-After``),
    "timeout" (answer after ``delay`` seconds), "reset" (close without an answer), "truncate"
    (half a JSON body).
    """

    match: str
    kind: str
    times: int = 1
    skip: int = 0
    delay: float = 2.0
    retry_after: int = 1


@dataclass
class RateLimit:
    """GitLab's Rack::Attack budget: ``limit`` requests per ``window_s``."""

    limit: int = 2000
    remaining: int = 2000
    window_s: float = 60.0
    #: when the budget comes back; a whole second, as the real server announces it (the header
    #: is an integer epoch: a reset between two seconds would be announced before it happens)
    reset_at: float = field(default_factory=lambda: time.time() + 60.0)
    #: when set: the reset is instead the first whole second this long after the budget is found
    #: spent (the last request it allows, or the first it refuses), so that a test waits for a
    #: reset of whatever its requests before cost, and never sees one pass before them
    reset_in_s: float | None = None
    #: the server's clock (a test's ``VirtualClock.time`` moves on by the client's waits)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.reset_at = math.ceil(self.reset_at)

    def spend(self) -> bool:
        """Take one request from the budget; False when it is spent."""
        now = self.clock()
        if now >= self.reset_at:
            self.remaining, self.reset_at = self.limit, math.ceil(now + self.window_s)
        if self.remaining <= 0:
            self._spent(now)
            return False
        self.remaining -= 1
        if self.remaining == 0:
            self._spent(now)
        return True

    def _spent(self, now: float) -> None:
        if self.reset_in_s is not None:
            self.reset_at, self.reset_in_s = math.ceil(now + self.reset_in_s), None


# --- the server ---------------------------------------------------------------------------


class GitLabServer:
    """``with GitLabServer(token="t") as gl: gl.add_project("acme/api").populate(pipelines=5)``."""

    def __init__(self, token: str | None = "test-token") -> None:
        self.token = token
        self.projects: dict[str, FakeProject] = {}
        self.templates = Templates()
        self.rate = RateLimit()
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        #: (method, path and query as requested, status)
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GitLabServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_project(self, path: str, **kwargs: Any) -> FakeProject:
        project = FakeProject(path, id=100 + len(self.projects), **kwargs)
        self.projects[path.lower()] = project
        return project

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def total(self) -> int:
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.log.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.match in path and fault.times > 0:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def project(self, ident: str) -> FakeProject | None:
        ident = urllib.parse.unquote(ident)
        if ident.isdigit():
            return next((p for p in self.projects.values() if p.id == int(ident)), None)
        return self.projects.get(ident.lower())


def _handler(server: GitLabServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GitLabHandler):
        gl = server

    return Handler


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _message(status: int, message: str) -> _Reply:
    """GitLab's ``render_api_error!``: ``{"message": "404 Project Not Found"}``."""
    return _Reply(status, {"message": message})


def _after(value: dt.datetime, query: dict[str, str], inclusive: bool) -> bool:
    since = query.get("updated_after")
    if not since:
        return True
    at = parse_iso(since)
    return value >= at if inclusive else value > at


class _GitLabHandler(BaseHTTPRequestHandler):
    gl: GitLabServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        raw = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.query).items()}
        parts = raw.path.split("/")[1:]  # still URL-encoded: %2F stays inside one part
        logical = self._logical(parts)
        with self.gl._lock:
            self.gl.counts[logical] += 1
        fault = self.gl._take_fault(logical)
        if fault is not None and self._fault(fault):
            self._record(self.path, 0)
            return
        web = f"http://{self.headers.get('Host')}"
        try:
            self._check_auth()
            if parts[:2] != ["api", "v4"]:
                raise _Reply(404, {"error": "404 Not Found"})
            status, body, headers = self._route(parts[2:], query, web)
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        self._send(status, body, headers, self.path)

    # --- plumbing ---------------------------------------------------------------------------

    def _logical(self, parts: list[str]) -> str:
        """``/projects/{full path}/...`` with the path decoded (a numeric id resolved)."""
        rest = parts[2:] if parts[:2] == ["api", "v4"] else parts
        if len(rest) >= 2 and rest[0] in ("projects", "groups"):
            ident = urllib.parse.unquote(rest[1])
            if rest[0] == "projects" and ident.isdigit():
                found = self.gl.project(ident)
                ident = found.path if found else ident
            return "/" + "/".join([rest[0], ident, *rest[2:]])
        return "/" + "/".join(rest)

    def _record(self, path: str, status: int) -> None:
        with self.gl._lock:
            self.gl.log.append(("GET", path, status))

    def _rate_headers(self) -> dict[str, str]:
        rate = self.gl.rate
        remaining = max(0, rate.remaining)
        return {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(rate.limit),
            "RateLimit-Observed": str(rate.limit - remaining),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(rate.reset_at)),
        }

    def _throttled(self, retry_after: float) -> None:
        # As Rack::Attack answers: Retry-After is the time to the reset the headers announce
        # (a reset a minute away with Retry-After 2 made every 429 test wait that minute).
        reset_at = min(self.gl.rate.reset_at, self.gl.rate.clock() + retry_after)
        headers = {
            **self._rate_headers(),
            "RateLimit-Reset": str(int(reset_at)),
            "RateLimit-Remaining": "0",
            "RateLimit-ResetTime": email.utils.formatdate(reset_at, usegmt=True),
            # whole seconds, rounded up as Rack::Attack's are: never before the reset
            "Retry-After": str(max(0, math.ceil(retry_after))),
            "Content-Type": "text/plain",
        }
        self._write(429, b"Retry later\n", headers)

    def _fault(self, fault: Fault) -> bool:
        if fault.kind == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return True
        if fault.kind == "timeout":
            if hold_answer(self.connection, fault.delay):
                self.close_connection = True
                return True  # the client gave up waiting
            return False
        if fault.kind == "truncate":
            body = json.dumps([{"id": 1, "title": "cut short"} for _ in range(20)]).encode()
            self._write(200, body[: len(body) // 2], {"Content-Type": "application/json"})
            return True
        if fault.kind == "429":
            self._throttled(fault.retry_after)
            return True
        status = int(fault.kind)
        messages = {
            401: "401 Unauthorized",
            403: "403 Forbidden",
            404: "404 Project Not Found",
        }
        body = {"message": messages.get(status, f"{status} Server Error")}
        if status >= 500:
            body = {"message": "500 Internal Server Error"}
        self._write(status, json.dumps(body).encode(), {**self._rate_headers()})
        return True

    def _check_auth(self) -> None:
        if self.gl.token is None:
            return
        token = self.headers.get("PRIVATE-TOKEN")
        if token is None:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            token = value if scheme.lower() == "bearer" else None
        if token != self.gl.token:
            raise _message(401, "401 Unauthorized")

    def _send(self, status: int, body: Any, headers: dict[str, str], path: str) -> None:
        with self.gl._lock:
            ok = self.gl.rate.spend()
        if not ok:
            self._throttled(self.gl.rate.reset_at - self.gl.rate.clock())
            self._record(path, 429)
            return
        data = json.dumps(body, separators=(",", ":")).encode()
        self._write(status, data, {**self._rate_headers(), **headers})
        self._record(path, status)

    def _write(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        if "Content-Type" not in headers:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", hashlib.md5(self.path.encode()).hexdigest()[:26])
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    # --- pagination -------------------------------------------------------------------------

    def _offset(
        self,
        items: list[Any],
        query: dict[str, str],
        link_base: str,
        render: Callable[[Any], Any] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = max(1, min(100, int(query.get("per_page", "20"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            raise _Reply(400, {"error": "page is invalid"}) from None
        chunk = items[(page - 1) * per_page : page * per_page]
        body = [render(x) for x in chunk] if render else chunk
        last = max(1, -(-len(items) // per_page))

        def link(n: int, rel: str) -> str:
            q = {k: v for k, v in query.items() if k != "page"} | {"page": str(n)}
            return f'<{link_base}?{urllib.parse.urlencode(q)}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        links += [link(1, "first"), link(last, "last")]
        headers = {
            "Link": ", ".join(links),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(last),
            "X-Next-Page": str(page + 1) if page < last else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        return 200, body, headers

    def _keyset(
        self,
        items: list[Any],
        query: dict[str, str],
        link_base: str,
        key: Callable[[Any], int],
        render: Callable[[Any], Any],
        *,
        param: str,
    ) -> tuple[int, Any, dict[str, str]]:
        """Keyset pages ordered by ``key``: ``id_after`` (projects) or an opaque ``cursor``
        (jobs); only ``Link: rel="next"``, no totals."""
        per_page = max(1, min(100, int(query.get("per_page", "20"))))
        descending = query.get("sort", "asc") == "desc"
        ordered = sorted(items, key=key, reverse=descending)
        if param in query:
            raw = query[param]
            bound = int(base64.urlsafe_b64decode(raw).decode()) if param == "cursor" else int(raw)
            ordered = [x for x in ordered if (key(x) < bound if descending else key(x) > bound)]
        chunk = ordered[:per_page]
        headers: dict[str, str] = {}
        if len(ordered) > per_page:
            last = key(chunk[-1])
            value = base64.urlsafe_b64encode(str(last).encode()).decode()
            value = value if param == "cursor" else str(last)
            q = {k: v for k, v in query.items() if k != param} | {param: value}
            headers["Link"] = f'<{link_base}?{urllib.parse.urlencode(q)}>; rel="next"'
        return 200, [render(x) for x in chunk], headers

    # --- routes -----------------------------------------------------------------------------

    def _route(
        self, parts: list[str], query: dict[str, str], web: str
    ) -> tuple[int, Any, dict[str, str]]:
        api = f"{web}/api/v4"
        t = self.gl.templates
        if parts == ["projects"]:
            projects = [
                p for p in self.gl.projects.values() if not p.archived or "archived" not in query
            ]
            if query.get("pagination") == "keyset":
                if query.get("order_by", "id") != "id":
                    raise _Reply(405, KEYSET_405)
                return self._keyset(
                    projects, query, f"{api}/projects", lambda p: p.id,
                    lambda p: Renderer(t, p, web).project(), param="id_after",
                )  # fmt: skip
            ordered = sorted(projects, key=lambda p: p.id)
            return self._offset(
                ordered, query, f"{api}/projects", lambda p: Renderer(t, p, web).project()
            )
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "projects":
            group = urllib.parse.unquote(parts[1]).lower()
            subgroups = query.get("include_subgroups") == "true"
            depth = group.count("/") + 1
            members = [
                p
                for p in self.gl.projects.values()
                if p.path.lower().startswith(group + "/")
                and (subgroups or p.path.count("/") == depth)
            ]
            if not members:
                raise _message(404, "404 Group Not Found")
            if query.get("archived") == "false":
                members = [p for p in members if not p.archived]
            members.sort(key=lambda p: p.id)
            return self._offset(
                members, query, f"{api}/groups/{parts[1]}/projects",
                lambda p: Renderer(t, p, web).project(),
            )  # fmt: skip
        if len(parts) < 2 or parts[0] != "projects":
            raise _Reply(404, {"error": "404 Not Found"})
        project = self.gl.project(parts[1])
        if project is None:
            raise _message(404, "404 Project Not Found")
        r = Renderer(t, project, web)
        base = f"{api}/projects/{parts[1]}"
        rest = parts[2:]
        if not rest:
            return 200, r.project(), {}
        kind = rest[0]
        if rest == ["merge_requests"]:
            items = [m for m in project.merge_requests if _after(m["updated"], query, True)]
            field_ = "updated" if query.get("order_by") == "updated_at" else "created"
            reverse = query.get("sort", "desc") == "desc"
            items.sort(key=lambda m: (m[field_], m["id"]), reverse=reverse)
            return self._offset(items, query, f"{base}/merge_requests", r.merge_request)
        if kind == "merge_requests" and len(rest) == 3:
            mr = next((m for m in project.merge_requests if str(m["iid"]) == rest[1]), None)
            if mr is None:
                raise _message(404, "404 Not found")
            if rest[2] == "approvals":
                return 200, r.approvals(mr), {}
            if rest[2] == "commits":
                commits = sorted(mr["commits"], key=lambda c: c["at"], reverse=True)
                return self._offset(
                    commits, query, f"{base}/merge_requests/{rest[1]}/commits",
                    lambda c: r.mr_commit(mr, c),
                )  # fmt: skip
        if rest == ["repository", "commits"]:
            ref = query.get("ref_name")
            if ref is not None and ref != project.default_branch:
                raise _message(404, "404 Not Found")
            items = list(reversed(project.commits))
            return self._offset(items, query, f"{base}/repository/commits", r.commit)
        if not project.jobs_enabled and kind in ("pipelines", "jobs"):
            raise _message(403, "403 Forbidden")
        if rest == ["pipelines"]:
            items = [p for p in project.pipelines if _after(p["updated"], query, False)]
            field_ = "updated" if query.get("order_by") == "updated_at" else "id"
            reverse = query.get("sort", "desc") == "desc"
            items.sort(key=lambda p: (p[field_], p["id"]), reverse=reverse)
            return self._offset(items, query, f"{base}/pipelines", r.pipeline)
        if kind == "pipelines" and len(rest) == 3 and rest[2] == "test_report_summary":
            pipe = next((p for p in project.pipelines if str(p["id"]) == rest[1]), None)
            if pipe is None:
                raise _message(404, "404 Not found")
            return 200, r.summary(pipe), {}
        if rest == ["jobs"]:
            if query.get("pagination") == "keyset":
                if query.get("order_by") != "id" or query.get("sort") != "desc":
                    raise _Reply(405, KEYSET_405)
                return self._keyset(
                    project.jobs, query, f"{base}/jobs", lambda j: j["id"], r.job, param="cursor"
                )  # fmt: skip
            items = sorted(project.jobs, key=lambda j: j["id"], reverse=True)
            return self._offset(items, query, f"{base}/jobs", r.job)
        if rest == ["deployments"]:
            items = [d for d in project.deployments if _after(d["updated"], query, False)]
            field_ = "updated" if query.get("order_by") == "updated_at" else "id"
            reverse = query.get("sort", "asc") == "desc"
            items.sort(key=lambda d: (d[field_], d["id"]), reverse=reverse)
            return self._offset(items, query, f"{base}/deployments", r.deployment)
        if rest == ["issues"]:
            if not project.issues_enabled:
                raise _message(403, "403 Forbidden")
            items = [i for i in project.issues if _after(i["updated"], query, True)]
            state = query.get("state", "all")
            if state != "all":
                items = [i for i in items if (i["closed"] is None) == (state == "opened")]
            field_ = "updated" if query.get("order_by") == "updated_at" else "created"
            reverse = query.get("sort", "desc") == "desc"
            items.sort(key=lambda i: (i[field_], i["id"]), reverse=reverse)
            return self._offset(items, query, f"{base}/issues", r.issue)
        raise _Reply(404, {"error": "404 Not Found"})
