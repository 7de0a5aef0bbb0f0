"""A local server that speaks GitHub's REST API (and the one GraphQL query the collector sends).

Payloads are the recorded ones in ``tests/fixtures/github`` (every field the real API sends),
with ids, numbers, times, shas and URLs generated per item. It serves the real paths, with or
without the ``/api/v3`` prefix of GitHub Enterprise, the ``/repositories/{id}/...`` paths that
real ``Link`` headers use, the query parameters the collector relies on (per_page, page, state,
sort, direction, since, created), ``Link`` next/last, ``ETag`` and 304, ``X-RateLimit-*``
headers with a budget that runs out, GitHub-shaped 401/403/404 bodies, secondary rate limits
with ``Retry-After``, and injected faults (5xx bursts, timeouts, resets, truncated bodies).
It counts requests per path. Usable from tests and from ``bench/``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
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

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
RECORDED_API = "https://api.github.com"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]


def sha_of(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


# --- generated data -----------------------------------------------------------------------


@dataclass
class FakeRepo:
    """One repository's data as compact specs; full payloads are rendered when served."""

    owner: str
    name: str
    id: int
    default_branch: str = "main"
    pulls: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # Factories: each adds one item after the last one (times move forward).

    def add_pull(
        self,
        *,
        at: dt.datetime,
        merged: bool = True,
        reviews: list[tuple[str, str]] | None = None,
        author: str = "dev-a",
        title: str | None = None,
        labels: list[str] | None = None,
    ) -> dict[str, Any]:
        number = len(self.pulls) + 1
        reviews = [("reviewer-b", "APPROVED")] if reviews is None else reviews
        spec = {
            "number": number,
            "id": self.id * 100_000 + number,
            "title": title or f"Change {number}",
            "author": author,
            "created": at,
            "updated": at + dt.timedelta(hours=5),
            "merged": at + dt.timedelta(hours=5) if merged else None,
            "closed": at + dt.timedelta(hours=5) if merged else None,
            "head_sha": sha_of(self.full_name, "head", number),
            "merge_sha": sha_of(self.full_name, "merge", number),
            "first_commit": at - dt.timedelta(hours=2),
            "labels": labels or [],
            "reviews": [
                {
                    "id": self.id * 1_000_000 + number * 10 + i,
                    "login": login,
                    "state": state,
                    "at": at + dt.timedelta(hours=1, minutes=i),
                }
                for i, (login, state) in enumerate(reviews)
            ],
        }
        self.pulls.append(spec)
        return spec

    def touch_pull(self, number: int, at: dt.datetime) -> None:
        self.pulls[number - 1]["updated"] = at

    def add_run(
        self, *, at: dt.datetime, conclusion: str | None = "success", name: str = "CI"
    ) -> dict[str, Any]:
        n = len(self.runs) + 1
        spec = {
            "id": self.id * 1_000_000 + n,
            "run_number": n,
            "name": name,
            "head_sha": sha_of(self.full_name, "commit", n),
            "branch": self.default_branch,
            "event": "push",
            "status": "completed" if conclusion else "in_progress",
            "conclusion": conclusion,
            "created": at,
            "updated": at + dt.timedelta(minutes=4),
        }
        self.runs.append(spec)
        return spec

    def add_commit(self, *, at: dt.datetime, merge: bool = False) -> dict[str, Any]:
        n = len(self.commits) + 1
        parents = [self.commits[-1]["sha"]] if self.commits else []
        if merge:
            parents.append(sha_of(self.full_name, "side", n))
        spec = {
            "sha": sha_of(self.full_name, "commit", n),
            "parents": parents,
            "email": f"dev{n % 3}@example.com",
            "login": f"dev-{n % 3}",
            "at": at,
            "message": f"Commit {n}\n\nBody of commit {n}",
        }
        self.commits.append(spec)
        return spec

    def add_deployment(
        self,
        *,
        at: dt.datetime,
        environment: str = "production",
        states: list[str] | None = None,
        creator: str = "github-actions[bot]",
        ref: str | None = None,
    ) -> dict[str, Any]:
        n = len(self.deployments) + 1
        spec = {
            "id": self.id * 10_000 + n,
            "sha": sha_of(self.full_name, "deploy", n),
            "ref": ref or f"v1.{n}.0",
            "environment": environment,
            "creator": creator,
            "created": at,
            "statuses": [
                {
                    "id": self.id * 100_000 + n * 10 + i,
                    "state": s,
                    "at": at + dt.timedelta(minutes=i + 1),
                }
                for i, s in enumerate(["in_progress", "success"] if states is None else states)
            ],
        }
        self.deployments.append(spec)
        return spec

    def add_issue(
        self, *, at: dt.datetime, labels: list[str] | None = None, is_pull: bool = False
    ) -> dict[str, Any]:
        n = len(self.issues) + 1
        spec = {
            "id": self.id * 1_000 + n,
            "number": 10_000 + n,
            "title": f"Issue {n}",
            "labels": labels or [],
            "created": at,
            "updated": at,
            "closed": None,
            "is_pull": is_pull,
        }
        self.issues.append(spec)
        return spec

    def add_release(self, *, at: dt.datetime) -> dict[str, Any]:
        n = len(self.releases) + 1
        name = f"v{n}.0.0"
        self.tags.append({"name": name, "sha": sha_of(self.full_name, "tag", n)})
        spec = {"id": self.id * 100 + n, "tag": name, "at": at}
        self.releases.append(spec)
        return spec

    def populate(
        self,
        *,
        pulls: int = 0,
        runs: int = 0,
        commits: int = 0,
        deployments: int = 0,
        issues: int = 0,
        releases: int = 0,
        start: dt.datetime = T0,
    ) -> FakeRepo:
        for i in range(pulls):
            self.add_pull(at=start + dt.timedelta(minutes=7 * i), merged=i % 5 != 4)
        for i in range(runs):
            self.add_run(
                at=start + dt.timedelta(minutes=3 * i),
                conclusion="failure" if i % 10 == 9 else "success",
            )
        for i in range(commits):
            self.add_commit(at=start + dt.timedelta(minutes=11 * i), merge=i % 4 == 3)
        for i in range(deployments):
            self.add_deployment(
                at=start + dt.timedelta(hours=6 * i),
                environment="production" if i % 2 else "staging",
                creator="github-actions[bot]" if i % 3 else "release-manager",
            )
        for i in range(issues):
            self.add_issue(
                at=start + dt.timedelta(hours=i),
                labels=["incident"] if i % 4 == 0 else ["bug"],
                is_pull=i % 7 == 6,
            )
        for i in range(releases):
            self.add_release(at=start + dt.timedelta(days=i))
        return self


class Templates:
    """The recorded payloads, one template item each, rewritten for a repository and a host."""

    def __init__(self) -> None:
        self.repo = _fixture("GET_repos_PyGithub_PyGithub.json")
        self.pull = _fixture(
            "GET_repos_openmicroscopy_ome-documentation_pulls_state-closed_page1.json"
        )[0]
        self.review = _fixture("GET_repos_PyGithub_PyGithub_pulls_538_reviews.json")[0]
        self.run = _fixture("GET_repos_PyGithub_PyGithub_actions_runs_page1.json")["workflow_runs"][
            0
        ]
        self.commit = _fixture("GET_repos_PyGithub_PyGithub_commits_page1.json")[0]
        self.deployment = _fixture("GET_repos_PyGithub_PyGithub_deployments_page1.json")[0]
        self.status = _fixture(
            "GET_repos_jacquev6_PyGithub_deployments_263877258_statuses_page1.json"
        )[0]
        issues = _fixture("GET_repos_PyGithub_PyGithub_issues_page1.json")
        # Recorded in 2012: plain issues carry "pull_request" with null URLs; pull requests
        # listed as issues carry the URLs (today's API omits the key for plain issues).
        self.issue = issues[0]
        self.release = _fixture("GET_repos_PyGithub_PyGithub_releases_page1.json")[0]
        self.tag = _fixture("GET_repos_PyGithub_PyGithub_tags_page1.json")[0]
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def for_repo(self, repo: FakeRepo, api: str) -> dict[str, Any]:
        """Every template with the recorded host and repository names replaced."""
        key = (repo.full_name, api)
        if key not in self._cache:
            text = json.dumps({k: v for k, v in vars(self).items() if not k.startswith("_")})
            for recorded in (
                "PyGithub/PyGithub",
                "jacquev6/PyGithub",
                "openmicroscopy/ome-documentation",
            ):
                text = text.replace(recorded, repo.full_name)
            text = text.replace(RECORDED_API, api)
            self._cache[key] = json.loads(text)
        return self._cache[key]


def _user(template: dict[str, Any], login: str, bot: bool = False) -> dict[str, Any]:
    user = copy.deepcopy(template)
    old = user.get("login", "")
    for k, v in list(user.items()):
        if isinstance(v, str) and old:
            user[k] = v.replace(old, login)
    user["login"] = login
    user["id"] = int(hashlib.md5(login.encode()).hexdigest()[:7], 16)
    user["type"] = "Bot" if bot or login.endswith("[bot]") else "User"
    return user


class Renderer:
    """Full payloads from specs."""

    def __init__(self, templates: Templates, repo: FakeRepo, api: str) -> None:
        self.t = templates.for_repo(repo, api)
        self.repo = repo
        self.api = api

    def repository(self) -> dict[str, Any]:
        r = copy.deepcopy(self.t["repo"])
        r.update(
            id=self.repo.id,
            name=self.repo.name,
            full_name=self.repo.full_name,
            default_branch=self.repo.default_branch,
        )
        r["owner"] = _user(r["owner"], self.repo.owner)
        return r

    def pull(self, s: dict[str, Any]) -> dict[str, Any]:
        p = copy.deepcopy(self.t["pull"])
        p.update(
            id=s["id"],
            number=s["number"],
            title=s["title"],
            state="closed" if s["closed"] else "open",
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            merged_at=iso(s["merged"]) if s["merged"] else None,
            closed_at=iso(s["closed"]) if s["closed"] else None,
            merge_commit_sha=s["merge_sha"],
        )
        p["url"] = f"{self.api}/repos/{self.repo.full_name}/pulls/{s['number']}"
        p["user"] = _user(p["user"], s["author"])
        p["head"]["sha"] = s["head_sha"]
        p["head"]["ref"] = f"feature-{s['number']}"
        p["base"]["ref"] = self.repo.default_branch
        p["labels"] = [self.label(name) for name in s.get("labels", [])]
        return p

    def label(self, name: str) -> dict[str, Any]:
        """A label object as the recorded issues list carries them, renamed."""
        template = (self.t["issue"]["labels"] or [{"name": "x", "color": "000000"}])[0]
        return {
            **template,
            "name": name,
            "url": f"{self.api}/repos/{self.repo.full_name}/labels/{name}",
        }

    def review(self, pull: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(self.t["review"])
        out.update(
            id=r["id"], state=r["state"], submitted_at=iso(r["at"]), commit_id=pull["head_sha"]
        )
        out["user"] = _user(out["user"], r["login"])
        return out

    def pull_node(self, s: dict[str, Any]) -> dict[str, Any]:
        """The GraphQL shape of a pull request, as the query in the collector asks for it."""
        reviews = s["reviews"]
        state = "MERGED" if s["merged"] else ("CLOSED" if s["closed"] else "OPEN")
        return {
            "databaseId": s["id"],
            "number": s["number"],
            "title": s["title"],
            "state": state,
            "author": {"login": s["author"]},
            "baseRefName": self.repo.default_branch,
            "headRefName": f"feature-{s['number']}",
            "headRefOid": s["head_sha"],
            "mergeCommit": {"oid": s["merge_sha"]} if s["merged"] else None,
            "labels": {"nodes": [{"name": name} for name in s.get("labels", [])]},
            "createdAt": iso(s["created"]),
            "updatedAt": iso(s["updated"]),
            "mergedAt": iso(s["merged"]) if s["merged"] else None,
            "closedAt": iso(s["closed"]) if s["closed"] else None,
            "additions": 10 + s["number"] % 50,
            "deletions": s["number"] % 20,
            "commits": {"totalCount": 1 + s["number"] % 4},
            "firstCommit": {"nodes": [{"commit": {"authoredDate": iso(s["first_commit"])}}]},
            "reviews": {
                "totalCount": len(reviews),
                "nodes": [
                    {
                        "databaseId": r["id"],
                        "state": r["state"],
                        "submittedAt": iso(r["at"]),
                        "author": {"login": r["login"]},
                        "commit": {"oid": s["head_sha"]},
                    }
                    for r in reviews[:100]
                ],
            },
        }

    def run(self, s: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(self.t["run"])
        r.update(
            id=s["id"],
            name=s["name"],
            run_number=s["run_number"],
            head_sha=s["head_sha"],
            head_branch=s["branch"],
            event=s["event"],
            status=s["status"],
            conclusion=s["conclusion"],
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            run_started_at=iso(s["created"]),
        )
        r["url"] = f"{self.api}/repos/{self.repo.full_name}/actions/runs/{s['id']}"
        r["html_url"] = f"https://github.com/{self.repo.full_name}/actions/runs/{s['id']}"
        r.update(s.get("override", {}))
        for key in s.get("drop", ()):  # fields some servers do not send
            r.pop(key, None)
        return r

    def commit(self, s: dict[str, Any]) -> dict[str, Any]:
        c = copy.deepcopy(self.t["commit"])
        c["sha"] = s["sha"]
        c["url"] = f"{self.api}/repos/{self.repo.full_name}/commits/{s['sha']}"
        c["commit"]["message"] = s["message"]
        c["commit"]["author"].update(email=s["email"], date=iso(s["at"]), name=s["login"])
        c["commit"]["committer"].update(date=iso(s["at"]))
        c["author"] = _user(c["author"], s["login"]) if c.get("author") else None
        c["parents"] = [
            {"sha": p, "url": f"{self.api}/repos/{self.repo.full_name}/commits/{p}"}
            for p in s["parents"]
        ]
        return c

    def deployment(self, s: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(self.t["deployment"])
        d.update(
            id=s["id"],
            sha=s["sha"],
            ref=s["ref"],
            environment=s["environment"],
            original_environment=s["environment"],
            created_at=iso(s["created"]),
            updated_at=iso(s["statuses"][-1]["at"] if s["statuses"] else s["created"]),
        )
        d["url"] = f"{self.api}/repos/{self.repo.full_name}/deployments/{s['id']}"
        d["statuses_url"] = d["url"] + "/statuses"
        d["creator"] = _user(d["creator"], s["creator"])
        d.update(s.get("override", {}))
        return d

    def status(self, dep: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(self.t["status"])
        out.update(id=s["id"], state=s["state"], environment=dep["environment"])
        out.update(created_at=iso(s["at"]), updated_at=iso(s["at"]))
        return out

    def issue(self, s: dict[str, Any]) -> dict[str, Any]:
        i = copy.deepcopy(self.t["issue"])
        i.update(
            id=s["id"],
            number=s["number"],
            title=s["title"],
            state="closed" if s["closed"] else "open",
            created_at=iso(s["created"]),
            updated_at=iso(s["updated"]),
            closed_at=iso(s["closed"]) if s["closed"] else None,
        )
        i["url"] = f"{self.api}/repos/{self.repo.full_name}/issues/{s['number']}"
        if s["is_pull"]:
            html = f"https://github.com/{self.repo.full_name}/pull/{s['number']}"
            i["html_url"] = html
            i["pull_request"] = {
                "patch_url": html + ".patch",
                "diff_url": html + ".diff",
                "html_url": html,
            }
        i["labels"] = [self.label(name) for name in s["labels"]]
        if not s["is_pull"]:
            i["html_url"] = f"https://github.com/{self.repo.full_name}/issues/{s['number']}"
        i.update(s.get("override", {}))
        return i

    def release(self, s: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(self.t["release"])
        r.update(id=s["id"], tag_name=s["tag"], name=s["tag"], draft=False)
        r.update(created_at=iso(s["at"]), published_at=iso(s["at"] + dt.timedelta(minutes=5)))
        return r

    def tag(self, s: dict[str, Any]) -> dict[str, Any]:
        t = copy.deepcopy(self.t["tag"])
        t["name"] = s["name"]
        t["commit"]["sha"] = s["sha"]
        t["commit"]["url"] = f"{self.api}/repos/{self.repo.full_name}/commits/{s['sha']}"
        return t


# --- faults and rate limits ---------------------------------------------------------------


@dataclass
class Fault:
    """Answer ``times`` requests whose path contains ``match`` badly, after ``skip`` good ones.

    kind: an HTTP status ("502", "401", "403", "404"), "secondary" (403 + Retry-After),
    "429", "timeout" (answer after ``delay`` seconds), "reset" (close without an answer),
    "truncate" (half a JSON body).
    """

    match: str
    kind: str
    times: int = 1
    skip: int = 0
    delay: float = 2.0
    retry_after: int = 1


@dataclass
class RateLimit:
    limit: int = 5000
    remaining: int = 5000
    window_s: float = 3600.0
    #: when the budget comes back; a whole second, as the real server announces it (the header
    #: is an integer epoch: a reset between two seconds would be announced before it happens)
    reset_at: float = field(default_factory=lambda: time.time() + 3600.0)
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


class GitHubServer:
    """``with GitHubServer(token="t") as gh: gh.add_repo("acme", "api").populate(pulls=5)``."""

    def __init__(
        self, token: str | None = "test-token", *, graphql: bool = True, etags: bool = True
    ) -> None:
        self.token = token
        self.graphql_enabled = graphql
        #: False: like a proxy that strips conditional requests, no ETag and never a 304
        self.etags = etags
        self.repos: dict[str, FakeRepo] = {}
        self.orgs: dict[str, list[str]] = {}
        self.users: dict[str, list[str]] = {}
        self.templates = Templates()
        self.rate = RateLimit()
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        #: paths exactly as requested (with /api/v3, /repositories/{id})
        self.raw_paths: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        #: seconds added to every answer (a far-away API), and what the budget tests read:
        #: (arrival time, path, fault kind or ""), and the most requests ever in flight at once
        self.latency_s = 0.0
        self.arrivals: list[tuple[float, str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> GitHubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_repo(self, owner: str, name: str, *, org: bool = True) -> FakeRepo:
        repo = FakeRepo(owner, name, id=1000 + len(self.repos))
        self.repos[repo.full_name.lower()] = repo
        owners = self.orgs if org else self.users
        owners.setdefault(owner.lower(), []).append(repo.full_name)
        return repo

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def total(self) -> int:
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.raw_paths.clear()
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


def _handler(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GitHubHandler):
        gh = server

    return Handler


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str) -> _Reply:
    return _Reply(
        status,
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        },
    )


class _GitHubHandler(BaseHTTPRequestHandler):
    gh: GitHubServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read counts, not an access log

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # --- plumbing ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path.removeprefix("/api/v3")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        logical = self._logical(path)
        with self.gh._lock:
            self.gh.counts[logical] += 1
            self.gh.raw_paths[parsed.path] += 1
        self._answer(method, logical, path, parsed.path, query, body_in)

    def _answer(
        self,
        method: str,
        logical: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body_in: bytes,
    ) -> None:
        prefix = "/api/v3" if raw_path.startswith("/api/v3/") else ""
        fault = self.gh._take_fault(logical)
        with self.gh._lock:
            self.gh.arrivals.append((time.time(), logical, fault.kind if fault else ""))
            # held from its arrival until its answer starts: a client can only send its next
            # request after that, so two requests held at once were truly sent at once (counting
            # to the end of the handler would also count the microseconds after the last byte)
            self.gh.in_flight += 1
            self.gh.max_in_flight = max(self.gh.max_in_flight, self.gh.in_flight)
        try:
            if self.gh.latency_s:
                time.sleep(self.gh.latency_s)
        finally:
            with self.gh._lock:
                self.gh.in_flight -= 1
        if fault is not None and self._fault(fault):
            self._record(method, logical, 0)
            return
        api = f"http://{self.headers.get('Host')}{prefix}"
        try:
            self._check_auth()
            if method == "POST" and path in ("/graphql", "/api/graphql"):
                raise _Reply(200, self._graphql(body_in, api))
            if method != "GET":
                raise _error(404, "Not Found")
            status, body, headers = self._route(path, query, api, prefix)
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        self._send(status, body, headers, method, logical)

    def _logical(self, path: str) -> str:
        """``/repositories/{id}/x`` as ``/repos/{owner}/{name}/x``, so counts add up."""
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "repositories" and parts[2].isdigit():
            for repo in self.gh.repos.values():
                if repo.id == int(parts[2]):
                    return "/".join(["", "repos", repo.owner, repo.name, *parts[3:]])
        return path

    def _record(self, method: str, path: str, status: int) -> None:
        with self.gh._lock:
            self.gh.log.append((method, path, status))

    def _fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the request is answered (or dropped) by it."""
        if fault.kind == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return True
        if fault.kind == "timeout":
            if hold_answer(self.connection, fault.delay):
                self.close_connection = True
                return True  # the client gave up waiting
            return False  # then answer, too late for the client
        if fault.kind == "truncate":
            body = json.dumps([{"id": 1, "title": "cut short"} for _ in range(20)]).encode()
            body = body[: len(body) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        headers = self._rate_headers()
        if fault.kind == "secondary":
            reply = _error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again.",
            )
            self._write(403, reply.body, {**headers, "Retry-After": str(fault.retry_after)})
            return True
        if fault.kind == "429":
            reply = _error(429, "Too Many Requests")
            self._write(429, reply.body, {**headers, "Retry-After": str(fault.retry_after)})
            return True
        status = int(fault.kind)
        messages = {
            401: "Bad credentials",
            403: "Resource not accessible by integration",
            404: "Not Found",
            409: "Git Repository is empty.",
            410: "Issues are disabled for this repo",
        }
        if status >= 500:
            self._write(status, {"message": "Server Error"}, headers)
        else:
            self._write(status, _error(status, messages.get(status, "Error")).body, headers)
        return True

    def _check_auth(self) -> None:
        if self.gh.token is None:
            return
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or value != self.gh.token:
            raise _error(401, "Bad credentials")

    def _rate_headers(self) -> dict[str, str]:
        rate = self.gh.rate
        return {
            "X-RateLimit-Limit": str(rate.limit),
            "X-RateLimit-Remaining": str(max(0, rate.remaining)),
            "X-RateLimit-Reset": str(int(rate.reset_at)),
            "X-RateLimit-Used": str(rate.limit - max(0, rate.remaining)),
            "X-RateLimit-Resource": "core",
        }

    def _spend(self) -> None:
        with self.gh._lock:
            ok = self.gh.rate.spend()
        if not ok:
            reply = _error(
                403,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                "for help, please include the request ID.",
            )
            reply.headers = self._rate_headers()
            raise reply

    def _send(
        self, status: int, body: Any, headers: dict[str, str], method: str, path: str
    ) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        etag = 'W/"' + hashlib.sha256(data).hexdigest()[:40] + '"'
        if status == 200 and method == "GET" and self.gh.etags:
            if self.headers.get("If-None-Match") == etag:
                # A 304 does not count against the budget (as on github.com).
                self._write(304, None, {**self._rate_headers(), "ETag": etag})
                self._record(method, path, 304)
                return
            headers = {**headers, "ETag": etag}
        if status == 200:
            try:
                self._spend()
            except _Reply as reply:
                status, data, headers = reply.status, json.dumps(reply.body).encode(), reply.headers
        self._write(status, data, {**self._rate_headers(), **headers})
        self._record(method, path, status)

    def _write(self, status: int, body: Any, headers: dict[str, str]) -> None:
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Request-Id", hashlib.md5(self.path.encode()).hexdigest()[:16])
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    # --- routes -----------------------------------------------------------------------------

    def _repo(self, parts: list[str]) -> tuple[FakeRepo, list[str]]:
        if parts[0] == "repositories" and len(parts) > 1 and parts[1].isdigit():
            for repo in self.gh.repos.values():
                if repo.id == int(parts[1]):
                    return repo, parts[2:]
            raise _error(404, "Not Found")
        if parts[0] == "repos" and len(parts) >= 3:
            found = self.gh.repos.get(f"{parts[1]}/{parts[2]}".lower())
            if found is None:
                raise _error(404, "Not Found")
            return found, parts[3:]
        raise _error(404, "Not Found")

    def _route(
        self, path: str, query: dict[str, str], api: str, prefix: str
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise _error(404, "Not Found")
        if parts == ["rate_limit"]:
            return 200, _fixture("GET_rate_limit.json"), {}
        if parts[0] in ("orgs", "users") and len(parts) == 3 and parts[2] == "repos":
            owners = self.gh.orgs if parts[0] == "orgs" else self.gh.users
            names = owners.get(parts[1].lower())
            if names is None:
                raise _error(404, "Not Found")
            items = [
                Renderer(self.gh.templates, self.gh.repos[n.lower()], api).repository()
                for n in names
            ]
            return self._page(items, query, api + path)
        repo, rest = self._repo(parts)
        r = Renderer(self.gh.templates, repo, api)
        base = f"{api}/repositories/{repo.id}"
        if not rest:
            return 200, r.repository(), {}
        kind = rest[0]
        if kind == "pulls" and len(rest) == 1:
            state = query.get("state", "open")
            items = [
                p
                for p in repo.pulls
                if state == "all" or (state == "open") == (p["closed"] is None)
            ]
            sort = query.get("sort", "created")
            key = {"created": "created", "updated": "updated"}.get(sort, "created")
            default_dir = "desc" if sort == "created" else "asc"
            reverse = query.get("direction", default_dir) == "desc"
            items = sorted(items, key=lambda p: (p[key], p["number"]), reverse=reverse)
            return self._page(items, query, base + "/pulls", render=r.pull)
        if kind == "pulls" and len(rest) == 3 and rest[2] == "reviews":
            pull = self._find(repo.pulls, "number", rest[1])
            return self._page(
                pull["reviews"],
                query,
                base + f"/pulls/{rest[1]}/reviews",
                render=lambda x: r.review(pull, x),
            )
        if kind == "commits" and len(rest) == 1:
            items = list(reversed(repo.commits))
            if "since" in query:
                since = parse_iso(query["since"])
                items = [c for c in items if c["at"] >= since]
            return self._page(items, query, base + "/commits", render=r.commit)
        if rest == ["actions", "runs"]:
            items = sorted(repo.runs, key=lambda x: (x["created"], x["id"]), reverse=True)
            created = query.get("created")
            total = len(items)
            if created:
                items = [x for x in items if _matches_created(x["created"], created)]
                total = len(items)
                # As on github.com: a query filtered by created returns 1,000 runs at most.
                items = items[:1000]
            status, page, headers = self._page(items, query, base + "/actions/runs", render=r.run)
            return status, {"total_count": total, "workflow_runs": page}, headers
        if kind == "deployments" and len(rest) == 1:
            items = sorted(repo.deployments, key=lambda x: (x["created"], x["id"]), reverse=True)
            return self._page(items, query, base + "/deployments", render=r.deployment)
        if kind == "deployments" and len(rest) == 3 and rest[2] == "statuses":
            dep = self._find(repo.deployments, "id", rest[1])
            items = list(reversed(dep["statuses"]))
            return self._page(
                items,
                query,
                base + f"/deployments/{rest[1]}/statuses",
                render=lambda x: r.status(dep, x),
            )
        if kind == "issues" and len(rest) == 1:
            state = query.get("state", "open")
            items = [
                i
                for i in repo.issues
                if state == "all" or (state == "open") == (i["closed"] is None)
            ]
            if "since" in query:
                since = parse_iso(query["since"])
                items = [i for i in items if i["updated"] >= since]
            if "labels" in query:
                wanted = set(query["labels"].split(","))
                items = [i for i in items if wanted <= set(i["labels"])]
            sort = query.get("sort", "created")
            key = "updated" if sort == "updated" else "created"
            reverse = query.get("direction", "desc") == "desc"
            items = sorted(items, key=lambda i: (i[key], i["number"]), reverse=reverse)
            return self._page(items, query, base + "/issues", render=r.issue)
        if kind == "releases" and len(rest) == 1:
            items = sorted(repo.releases, key=lambda x: (x["at"], x["id"]), reverse=True)
            return self._page(items, query, base + "/releases", render=r.release)
        if kind == "tags" and len(rest) == 1:
            items = sorted(repo.tags, key=lambda x: x["name"], reverse=True)
            return self._page(items, query, base + "/tags", render=r.tag)
        raise _error(404, "Not Found")

    @staticmethod
    def _find(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
        for item in items:
            if str(item[key]) == value:
                return item
        raise _error(404, "Not Found")

    def _page(
        self,
        items: list[Any],
        query: dict[str, str],
        link_base: str,
        render: Any = None,
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = max(1, min(100, int(query.get("per_page", "30"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            raise _error(422, "Invalid page") from None
        chunk = items[(page - 1) * per_page : page * per_page]
        body = [render(x) for x in chunk] if render else chunk
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(n: int, rel: str) -> str:
            q = {k: v for k, v in query.items() if k != "page"} | {"page": str(n)}
            return f'<{link_base}?{urllib.parse.urlencode(q)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return 200, body, ({"Link": ", ".join(links)} if links else {})

    def _graphql(self, body: bytes, api: str) -> Any:
        if not self.gh.graphql_enabled:
            raise _error(404, "Not Found")
        try:
            request = json.loads(body)
            query, variables = request["query"], request.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            raise _error(400, "Problems parsing JSON") from None
        if "PullRequestsWithReviews" not in query or "UPDATED_AT" not in query:
            return {"errors": [{"message": "this server answers only the collector's query"}]}
        repo = self.gh.repos.get(f"{variables.get('owner')}/{variables.get('name')}".lower())
        if repo is None:
            return {
                "data": {"repository": None},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": ["repository"],
                        "message": "Could not resolve to a Repository with the name "
                        f"'{variables.get('owner')}/{variables.get('name')}'.",
                    }
                ],
            }
        first = min(100, int(variables.get("first") or 100))
        after = variables.get("after")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        items = sorted(repo.pulls, key=lambda p: (p["updated"], p["number"]), reverse=True)
        chunk = items[start : start + first]
        r = Renderer(self.gh.templates, repo, api)
        end = start + len(chunk)
        cursor = base64.b64encode(f"cursor:{end}".encode()).decode()
        return {
            "data": {
                "repository": {
                    "pullRequests": {
                        "pageInfo": {"hasNextPage": end < len(items), "endCursor": cursor},
                        "nodes": [r.pull_node(p) for p in chunk],
                    }
                }
            }
        }


def _matches_created(value: dt.datetime, spec: str) -> bool:
    """GitHub's ``created`` qualifier: ``>=T``, ``>T``, ``<=T``, ``<T``, ``A..B`` or ``T``."""
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            t = parse_iso(spec[len(op) :])
            return {">=": value >= t, "<=": value <= t, ">": value > t, "<": value < t}[op]
    if ".." in spec:
        a, b = spec.split("..", 1)
        return parse_iso(a) <= value <= parse_iso(b)
    return value.date() == parse_iso(spec).date()
