"""A local Jira that speaks REST API v2 well enough for the jira library: tests and benchmarks.

Issues are generated from the recorded payloads in ``tests/fixtures/jira`` (every field the real
API sends is kept; only values change), served under a context path like a real Jira Server
(``http://127.0.0.1:PORT/jira``). It answers ``serverInfo`` (a Server or a Cloud variant), the
field list, projects, statuses, issues, the issue changelog endpoint, and searches: JQL with
``project``, ``updated``, ``issuetype``, ``labels`` clauses joined by AND and ``ORDER BY``,
paged by ``startAt/maxResults/total`` (Server) or ``nextPageToken`` (Cloud, ``/search/jql``).
It checks basic auth (401), refuses forbidden projects (403), answers 400 for an unknown
project as Jira does, and injects faults on demand: 429 with Retry-After, 502 bursts, slow
answers, reset connections, truncated bodies, and stalls. Every request is counted.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers import POLL_S, hold_answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jira"
API = "/rest/api/2"


def load_fixture(name: str, base: str) -> Any:
    """The body of a recorded exchange, its absolute URLs rewritten to ``base``."""
    envelope = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    text = json.dumps(envelope["body"]).replace(envelope["recorded_base"], base)
    return json.loads(text)


@dataclass
class Fault:
    """A failure the server answers with instead of the real thing, for matching requests."""

    kind: str  # 429 | 502 | 503 | echo | slow | reset | truncate | cut | stall
    path: str = API + "/search"
    count: int = 1
    after: int = 0
    retry_after: str | None = "1"
    delay_s: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)
    seen: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class StoredIssue:
    id: str
    key: str
    project: str
    number: int
    fields: dict[str, Any]
    updated: dt.datetime
    created: dt.datetime
    histories: list[dict[str, Any]]


class JiraError(Exception):
    def __init__(self, status: int, messages: list[str]) -> None:
        super().__init__(messages)
        self.status = status
        self.messages = messages


class JiraServer:
    """Start with ``with JiraServer() as jira:``; ``jira.url`` is the base URL to configure."""

    def __init__(
        self,
        *,
        deployment: str = "Server",
        user: str | None = "collector",
        token: str | None = "jira-secret-token-123",
        tz: dt.tzinfo = dt.timezone(dt.timedelta(hours=13)),
        max_results: int = 1000,
        changelog_limit: int = 100,
        context_path: str = "/jira",
        changelog_endpoint: bool = True,
    ) -> None:
        self.deployment = deployment
        self.user, self.token = user, token
        self.tz = tz
        self.max_results = max_results
        self.changelog_limit = changelog_limit
        self.context_path = context_path
        #: False: no /issue/{id}/changelog (older Jira Server), only issue?expand=changelog
        self.changelog_endpoint = changelog_endpoint
        self.projects: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, StoredIssue] = {}
        self.forbidden: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._next_id = 10000
        self._numbers: dict[str, int] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{context_path}"
        self._thread: threading.Thread | None = None
        self._load_templates()

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> JiraServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for fault in self.faults:
            fault.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- data ---------------------------------------------------------------------------------

    def _load_templates(self) -> None:
        base = self.url
        search = load_fixture("GET_rest_api_2_search_page1.json", base)
        self.issue_template: dict[str, Any] = search["issues"][0]
        drill = load_fixture("GET_rest_api_2_issue_DRILL-1_expand-changelog.json", base)
        self.history_template: dict[str, Any] = next(
            h for h in drill["changelog"]["histories"] if h["items"][0]["field"] == "resolution"
        )
        self.version_template: dict[str, Any] = drill["fields"]["fixVersions"][0]
        self.project_template = load_fixture("GET_rest_api_2_project_SAMPLEPROJECT.json", base)
        self.component_template: dict[str, Any] = self.project_template["components"][0]
        self.statuses: dict[str, dict[str, Any]] = {
            s["name"]: s for s in load_fixture("GET_rest_api_2_status.json", base)
        }
        self.issue_types: dict[str, dict[str, Any]] = {
            t["name"]: t for t in self.project_template["issueTypes"]
        }
        incident = copy.deepcopy(self.issue_types["Bug"])
        incident.update(id="10100", name="Incident", description="A service disruption.")
        incident["self"] = f"{base}{API}/issuetype/10100"
        self.issue_types["Incident"] = incident
        priority = self.issue_template["fields"]["priority"]
        self.priorities = {
            name: {**priority, "name": name, "id": str(i), "self": f"{base}{API}/priority/{i}"}
            for i, name in enumerate(["Blocker", "Critical", "Major", "Minor", "Trivial"], 1)
        }
        fields = load_fixture("GET_rest_api_2_field.json", base)
        # Two custom fields in the recorded shape, for service_field and deployment_field.
        for fid, name in (("customfield_10100", "Service"), ("customfield_10101", "Deployment")):
            fields.append(
                {
                    "id": fid,
                    "name": name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{fid.split('_')[1]}]", name],
                    "schema": {
                        "type": "string",
                        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                        "customId": int(fid.split("_")[1]),
                    },
                }
            )
        self.fields = fields

    def add_project(self, key: str, name: str | None = None) -> None:
        project = copy.deepcopy(self.project_template)
        pid = str(20000 + len(self.projects))
        project.update(key=key, id=pid, name=name or f"Project {key}")
        project["self"] = f"{self.url}{API}/project/{key}"
        self.projects[key] = project

    def fmt(self, when: dt.datetime) -> str:
        """A timestamp as Jira renders it: ``2011-12-15T15:35:06.000+1300``."""
        local = when.astimezone(self.tz)
        return (
            local.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{local.microsecond // 1000:03d}"
            + (local.strftime("%z"))
        )

    def add_issue(
        self,
        project: str,
        *,
        created: dt.datetime,
        updated: dt.datetime | None = None,
        summary: str | None = None,
        issue_type: str = "Task",
        priority: str = "Major",
        status: str = "Open",
        labels: list[str] | None = None,
        components: list[str] | None = None,
        versions: list[str] | None = None,
        fix_versions: list[str] | None = None,
        resolved: dt.datetime | None = None,
        transitions: list[tuple[str, str, dt.datetime]] | None = None,
        custom: dict[str, Any] | None = None,
    ) -> StoredIssue:
        """Add one issue built from the recorded template; ``transitions`` fill its changelog."""
        if project not in self.projects:
            self.add_project(project)
        with self._lock:
            self._next_id += 1
            issue_id = str(self._next_id)
            number = self._numbers[project] = self._numbers.get(project, 0) + 1
        key = f"{project}-{number}"
        base = self.url
        fields = dict(self.issue_template["fields"])
        fields.update(
            summary=summary if summary is not None else f"Issue {key}",
            issuetype=self.issue_types[issue_type],
            priority=self.priorities[priority],
            status=self.statuses[status],
            labels=list(labels or []),
            components=[
                {**self.component_template, "name": c, "id": str(30000 + i)}
                for i, c in enumerate(components or [])
            ],
            versions=[self._version(v) for v in versions or []],
            fixVersions=[self._version(v) for v in fix_versions or []],
            project={
                k: v
                for k, v in self.projects[project].items()
                if k in self.issue_template["fields"]["project"]
            },
            votes={**fields["votes"], "self": f"{base}{API}/issue/{key}/votes"},
            watches={**fields["watches"], "self": f"{base}{API}/issue/{key}/watchers"},
            resolution=None,
        )
        if resolved is not None:
            fields["resolution"] = {
                "self": f"{base}{API}/resolution/1",
                "id": "1",
                "description": "A fix for this issue is checked into the tree and tested.",
                "name": "Fixed",
            }
        for fid, value in (custom or {}).items():
            fields[fid] = value
        histories = []
        for i, (old, new, when) in enumerate(transitions or []):
            history = copy.deepcopy(self.history_template)
            history["id"] = f"{issue_id}{i:04d}"
            history["created"] = self.fmt(when)
            history["items"] = [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": self.statuses[old]["id"],
                    "fromString": old,
                    "to": self.statuses[new]["id"],
                    "toString": new,
                }
            ]
            histories.append(history)
        stored = StoredIssue(
            id=issue_id,
            key=key,
            project=project,
            number=number,
            fields=fields,
            created=created,
            updated=updated or created,
            histories=histories,
        )
        self._stamp(stored, resolved)
        with self._lock:
            self.issues[key] = stored
        return stored

    def _version(self, name: str) -> dict[str, Any]:
        digest = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
        return {**self.version_template, "name": name, "id": str(digest), "description": ""}

    def _stamp(self, issue: StoredIssue, resolved: dt.datetime | None = None) -> None:
        issue.fields["created"] = self.fmt(issue.created)
        issue.fields["updated"] = self.fmt(issue.updated)
        if resolved is not None:
            issue.fields["resolutiondate"] = self.fmt(resolved)

    def generate(
        self,
        project: str,
        count: int,
        *,
        start: dt.datetime = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC),
        step: dt.timedelta = dt.timedelta(seconds=37),
        incident_every: int = 10,
        histories: int = 2,
    ) -> list[StoredIssue]:
        """``count`` issues updated ``step`` apart: tasks, bugs and every n-th an incident."""
        made = []
        cycle = [("Open", "In Progress"), ("In Progress", "Resolved"), ("Resolved", "Closed")]
        for n in range(count):
            created = start + step * n
            is_incident = incident_every > 0 and n % incident_every == 0
            moves = [
                (a, b, created + dt.timedelta(seconds=5 + i)) for i, (a, b) in enumerate(cycle)
            ]
            moves = (
                moves[:histories]
                if histories <= len(cycle)
                else [
                    (cycle[i % 2][0], cycle[i % 2][1], created + dt.timedelta(milliseconds=10 * i))
                    for i in range(histories)
                ]
            )
            status = moves[-1][1] if moves else "Open"
            resolved = moves[-1][2] if status in ("Resolved", "Closed") else None
            updated = max([created, *(m[2] for m in moves)])
            made.append(
                self.add_issue(
                    project,
                    created=created,
                    updated=updated,
                    issue_type="Incident" if is_incident else ("Bug" if n % 3 == 0 else "Task"),
                    priority="Critical" if is_incident else "Major",
                    status=status,
                    labels=["incident"] if is_incident and n % 20 == 0 else [],
                    components=[f"svc-{n % 4}"],
                    versions=[f"1.{n % 7}.0"] if is_incident else [],
                    resolved=resolved,
                    transitions=moves,
                )
            )
        return made

    def delete_issue(self, key: str) -> None:
        """Delete an issue, as Jira does: it is no longer found, searched or listed."""
        with self._lock:
            for ident, issue in list(self.issues.items()):
                if issue.key == key:
                    del self.issues[ident]

    def update_issue(
        self,
        key: str,
        *,
        when: dt.datetime | None = None,
        status: str | None = None,
        summary: str | None = None,
    ) -> StoredIssue:
        """Change an issue as a person would: a new ``updated`` and, for a status, a history."""
        issue = self.issues[key]
        newest = max(i.updated for i in self.issues.values())
        when = when or newest + dt.timedelta(minutes=1)
        if summary is not None:
            issue.fields["summary"] = summary
        if status is not None:
            old = issue.fields["status"]["name"]
            history = copy.deepcopy(self.history_template)
            history["id"] = f"{issue.id}{len(issue.histories):04d}"
            history["created"] = self.fmt(when)
            history["items"] = [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": self.statuses[old]["id"],
                    "fromString": old,
                    "to": self.statuses[status]["id"],
                    "toString": status,
                }
            ]
            issue.histories.append(history)
            issue.fields["status"] = self.statuses[status]
        issue.updated = when
        self._stamp(issue)
        return issue

    # --- faults and counting --------------------------------------------------------------------

    def inject(self, kind: str, path: str = API + "/search", **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, path=path, **kwargs)
        self.faults.append(fault)
        return fault

    def count(self, path: str = "", method: str = "GET") -> int:
        """Requests whose path (without the context path) starts with ``path``."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path.startswith(path))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if not path.startswith(fault.path) or fault.count <= 0:
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.count -= 1
                return fault
        return None

    # --- API --------------------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        info = load_fixture("GET_rest_api_2_serverInfo_cloud-variant.json", self.url)
        info["baseUrl"] = self.url
        info["serverTime"] = self.fmt(dt.datetime.now(dt.UTC))
        if self.deployment != "Cloud":
            # No Server recording exists; this is the Cloud one in a Data Center's values.
            info.update(
                version="9.12.2",
                versionNumbers=[9, 12, 2],
                deploymentType="Server",
                buildNumber=9120002,
            )
        return info

    def search(self, query: dict[str, list[str]], *, cloud: bool) -> dict[str, Any]:
        jql = _one(query, "jql") or ""
        issues = self.select(jql)
        size = min(int(_one(query, "maxResults") or 50), self.max_results)
        wanted = _fields_wanted(query)
        if wanted is not None:
            # The recorded field list gives system fields numeric ids ("2" is Summary); a field
            # asked for by id is served under its system name, as Jira keys issue fields.
            by_id = {f["id"]: (f.get("schema") or {}).get("system") or f["id"] for f in self.fields}
            wanted = {by_id.get(name, name) for name in wanted}
        expand = ",".join(query.get("expand", []))
        if cloud:
            token = _one(query, "nextPageToken")
            start = _decode_token(token, jql) if token else 0
        else:
            start = int(_one(query, "startAt") or 0)
        page = [self.render(i, wanted, "changelog" in expand) for i in issues[start : start + size]]
        if cloud:
            body: dict[str, Any] = {"issues": page, "isLast": start + size >= len(issues)}
            if not body["isLast"]:
                body["nextPageToken"] = _encode_token(start + size, jql)
            return body
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(issues),
            "issues": page,
        }

    def select(self, jql: str) -> list[StoredIssue]:
        where, order = _split_order(jql)
        clauses = _conjuncts(where)
        with self._lock:
            issues = list(self.issues.values())
        for clause in clauses:
            issues = self._filter(clause, issues)
        for term in reversed(order):
            name, _, direction = term.strip().partition(" ")
            reverse = direction.strip().upper() == "DESC"
            sort_key: Any
            if name.lower() == "updated":
                sort_key = lambda i: i.updated  # noqa: E731
            elif name.lower() == "created":
                sort_key = lambda i: i.created  # noqa: E731
            elif name.lower() == "key":
                sort_key = lambda i: (i.project, i.number)  # noqa: E731
            else:
                raise JiraError(400, [f"Not able to sort using field '{name}'."])
            issues.sort(key=sort_key, reverse=reverse)
        return issues

    def _filter(self, clause: str, issues: list[StoredIssue]) -> list[StoredIssue]:
        m = re.fullmatch(r'project\s*=\s*"?([^"]+?)"?', clause, re.I)
        if m:
            key = m.group(1).replace('\\"', '"')
            if key not in self.projects:
                raise JiraError(400, [f"The value '{key}' does not exist for the field 'project'."])
            if key in self.forbidden:
                raise JiraError(403, [f"You do not have permission to browse project '{key}'."])
            return [i for i in issues if i.project == key]
        m = re.fullmatch(r'updated\s*(>=|>|<=|<)\s*"([^"]+)"', clause, re.I)
        if m:
            try:
                bound = dt.datetime.strptime(m.group(2).replace("/", "-"), "%Y-%m-%d %H:%M")
            except ValueError:
                raise JiraError(
                    400, [f"Date value '{m.group(2)}' for field 'updated' is invalid."]
                ) from None
            bound = bound.replace(tzinfo=self.tz)
            op = m.group(1)
            # JQL dates have minute precision: '>' means after that whole minute.
            if op == ">=":
                return [i for i in issues if i.updated >= bound]
            if op == ">":
                return [i for i in issues if i.updated >= bound + dt.timedelta(minutes=1)]
            if op == "<":
                return [i for i in issues if i.updated < bound]
            return [i for i in issues if i.updated < bound + dt.timedelta(minutes=1)]
        m = re.fullmatch(r'(issuetype|labels)\s*(=|!=)\s*"?([^"]+?)"?', clause, re.I)
        if m:
            name, op, value = m.group(1).lower(), m.group(2), m.group(3)

            def has(i: StoredIssue) -> bool:
                if name == "issuetype":
                    return bool(i.fields["issuetype"]["name"].casefold() == value.casefold())
                return value in i.fields["labels"]

            return [i for i in issues if has(i) == (op == "=")]
        raise JiraError(400, [f"Error in the JQL Query: unsupported clause '{clause}'."])

    def render(
        self,
        issue: StoredIssue,
        wanted: set[str] | None,
        changelog: bool,
        limit: int | None = -1,
    ) -> dict[str, Any]:
        """An issue as the API shows it; ``limit`` caps the changelog (-1: the search cap)."""
        fields = (
            issue.fields
            if wanted is None
            else {k: v for k, v in issue.fields.items() if k in wanted}
        )
        out: dict[str, Any] = {
            "expand": self.issue_template["expand"],
            "id": issue.id,
            "self": f"{self.url}{API}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }
        if changelog:
            cap = self.changelog_limit if limit == -1 else limit
            shown = issue.histories if cap is None else issue.histories[:cap]
            out["changelog"] = {
                "startAt": 0,
                "maxResults": len(shown),
                "total": len(issue.histories),
                "histories": shown,
            }
        return out

    def changelog(self, key_or_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        issue = self._find(key_or_id)
        start = int(_one(query, "startAt") or 0)
        size = min(int(_one(query, "maxResults") or 100), 100)
        values = issue.histories[start : start + size]
        return {
            "self": f"{self.url}{API}/issue/{issue.id}/changelog?maxResults={size}&startAt={start}",
            "maxResults": size,
            "startAt": start,
            "total": len(issue.histories),
            "isLast": start + size >= len(issue.histories),
            "values": values,
        }

    def _find(self, key_or_id: str) -> StoredIssue:
        with self._lock:
            for issue in self.issues.values():
                if key_or_id in (issue.key, issue.id):
                    if issue.project in self.forbidden:
                        raise JiraError(403, ["You do not have the permission to see this issue."])
                    return issue
        raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])

    def answer(self, method: str, path: str, query: dict[str, list[str]], auth: str | None) -> Any:
        """The JSON body for a request (or a JiraError): routing and authentication."""
        if self.token is not None and not self._authorized(auth):
            raise JiraError(401, ["You are not authenticated. Authentication required."])
        if method != "GET":
            raise JiraError(405, [f"{method} is not supported here"])
        cloud = self.deployment == "Cloud"
        if path == API + "/serverInfo":
            return self.server_info()
        if path == API + "/field":
            return self.fields
        if path == API + "/status":
            return list(self.statuses.values())
        if path == API + "/project":
            return [
                {k: p[k] for k in ("self", "id", "key", "name", "avatarUrls")}
                for p in self.projects.values()
                if p["key"] not in self.forbidden
            ]
        if path.startswith(API + "/project/"):
            key = path.rsplit("/", 1)[1]
            if key not in self.projects:
                raise JiraError(404, [f"No project could be found with key '{key}'."])
            return self.projects[key]
        if path == API + "/search/jql":
            if not cloud:
                raise JiraError(404, ["null for uri: " + path])
            return self.search(query, cloud=True)
        if path == API + "/search":
            if cloud:
                raise JiraError(410, ["The requested API has been removed. Use /search/jql."])
            return self.search(query, cloud=False)
        m = re.fullmatch(re.escape(API) + r"/issue/([^/]+)/changelog", path)
        if m and self.changelog_endpoint:
            return self.changelog(m.group(1), query)
        m = re.fullmatch(re.escape(API) + r"/issue/([^/]+)", path)
        if m:
            issue = self._find(m.group(1))
            expand = ",".join(query.get("expand", []))
            # One issue comes with its whole changelog; only searches cut it short.
            return self.render(issue, _fields_wanted(query), "changelog" in expand, limit=None)
        raise JiraError(404, ["null for uri: " + path])

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme == "Basic" and self.user is not None:
            expected = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
            return value == expected
        if scheme == "Bearer":
            return value == self.token
        return False


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _fields_wanted(query: dict[str, list[str]]) -> set[str] | None:
    names = {f.strip() for v in query.get("fields", []) for f in v.split(",") if f.strip()}
    if not names or names & {"*all", "*navigable"}:
        return None
    return names


def _encode_token(offset: int, jql: str) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(json.dumps([offset, digest]).encode()).decode()


def _decode_token(token: str, jql: str) -> int:
    try:
        offset, digest = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise JiraError(400, ["Invalid nextPageToken."]) from None
    if digest != hashlib.sha256(jql.encode()).hexdigest()[:12]:
        raise JiraError(400, ["The nextPageToken does not belong to this query."])
    return int(offset)


def _split_order(jql: str) -> tuple[str, list[str]]:
    m = re.search(r"\border\s+by\b", jql, re.I)
    if not m:
        return jql, ["key DESC"]
    return jql[: m.start()], [t for t in jql[m.end() :].split(",") if t.strip()]


def _conjuncts(where: str) -> list[str]:
    """Split at top-level AND (outside quotes and parentheses); flatten parenthesized ANDs."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    text = where.strip()
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and (m := re.match(r"\s+AND\s+", text[i:], re.I)):
            parts.append(text[start:i])
            i += m.end()
            start = i
            continue
        i += 1
    parts.append(text[start:])
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if part.startswith("(") and part.endswith(")"):
            out += _conjuncts(part[1:-1])
        elif re.search(r"\s+OR\s+", part, re.I):
            raise JiraError(400, ["Error in the JQL Query: OR is not supported by this server."])
        else:
            out.append(part)
    return out


def _handler(server: JiraServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without this, Nagle and delayed ACKs add
        # 40 ms to every answer on a kept-alive connection.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if server.context_path and path.startswith(server.context_path + "/"):
                path = path[len(server.context_path) :]
            query = parse_qs(parts.query, keep_blank_values=True)
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
            with server._lock:
                server.requests.append(Request(method, path, query))
            fault = server._take_fault(path)
            if fault is not None and self._fault(fault):
                return
            try:
                body = server.answer(method, path, query, self.headers.get("Authorization"))
                status = 200
            except JiraError as exc:
                status, body = exc.status, {"errorMessages": exc.messages, "errors": {}}
            data = json.dumps(body).encode()
            if fault is not None and fault.kind in ("truncate", "cut"):
                self._truncated(data, cut=fault.kind == "cut")
                return
            self._send(status, data)

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _truncated(self, data: bytes, *, cut: bool) -> None:
            half = data[: max(1, len(data) // 2)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            # truncate: a well-framed body that is half a JSON document;
            # cut: the full length is promised and the connection closes halfway.
            self.send_header("Content-Length", str(len(data) if cut else len(half)))
            self.end_headers()
            self.wfile.write(half)
            if cut:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def _fault(self, fault: Fault) -> bool:
            """Act out a fault; True when the answer has been given (or withheld)."""
            if fault.kind in ("429", "502", "503"):
                status = int(fault.kind)
                headers = {}
                if fault.retry_after is not None and status != 502:
                    headers["Retry-After"] = fault.retry_after
                if status == 429:
                    body = json.dumps({"errorMessages": ["Rate limit exceeded."], "errors": {}})
                else:
                    body = f"<html><body><h1>{status} Bad Gateway</h1></body></html>"
                self._send(status, body.encode(), headers)
                return True
            if fault.kind == "echo":
                # A careless proxy that repeats the credentials it was sent in its error.
                header = self.headers.get("Authorization") or ""
                decoded = base64.b64decode(header.partition(" ")[2] or "").decode()
                message = f"Bad request with {header} ({decoded})"
                self._send(400, json.dumps({"errorMessages": [message], "errors": {}}).encode())
                return True
            if fault.kind == "slow":
                if hold_answer(self.connection, fault.delay_s):
                    self.close_connection = True
                    return True  # the client gave up waiting
                return False
            if fault.kind == "stall":
                fault.release.wait(timeout=120)
                return False
            if fault.kind == "reset":
                # SO_LINGER with a zero timeout turns close() into a TCP reset.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return True
            return False

    return Handler
