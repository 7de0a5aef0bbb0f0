"""A local Jenkins that speaks Jenkins' JSON API: folders, jobs, builds, ``tree=`` with ranges.

Payloads are built from the recorded responses in ``tests/fixtures/jenkins`` (every field the
real API sends is kept; only numbers, names, URLs, results and times are changed), so that
python-jenkins talks to it exactly as it talks to a real server. It also misbehaves on demand
(HTTP errors in bursts, slow answers, dropped connections, truncated bodies) and counts every
request, for the fault tests and the request benchmark.

Usage::

    with JenkinsServer(user="ci", token="s3cret") as server:
        server.add_folder("payments")
        server.add_job("payments/api")
        server.add_builds("payments/api", 250)
        ... jenkins.Jenkins(server.url, "ci", "s3cret") ...
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.servers import POLL_S, hold_answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jenkins"
VERSION = "2.462.3"

FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FREESTYLE_JOB = "hudson.model.FreeStyleProject"
_RUN_CLASS = {
    WORKFLOW_JOB: "org.jenkinsci.plugins.workflow.job.WorkflowRun",
    FREESTYLE_JOB: "hudson.model.FreeStyleBuild",
}

#: causes as Jenkins exports them (the user cause is the recorded one, see _template)
CAUSES: dict[str, dict[str, Any]] = {
    "upstream": {
        "_class": "hudson.model.Cause$UpstreamCause",
        "shortDescription": 'Started by upstream project "build" build number 1',
        "upstreamBuild": 1,
        "upstreamProject": "build",
        "upstreamUrl": "job/build/",
    },
    "scm": {"_class": "hudson.triggers.SCMTrigger$SCMTriggerCause", "shortDescription": ""},
    "timer": {
        "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
        "shortDescription": "Started by timer",
    },
}


def load_fixture(name: str) -> dict[str, Any]:
    """The body of one recorded exchange in ``tests/fixtures/jenkins``."""
    envelope = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body: dict[str, Any] = envelope["body"]
    return body


# --- the tree= parameter ------------------------------------------------------------------


@dataclass
class TreeNode:
    name: str
    children: list[TreeNode] | None = None
    start: int | None = None
    stop: int | None = None
    ranged: bool = False


def parse_tree(text: str) -> list[TreeNode]:
    """Parse Jenkins' ``tree`` syntax: ``a,b[c,d[e]]{0,100}`` (ranges as ``{M,N}``, ``{M,}``,
    ``{,N}``, ``{N}``)."""
    nodes, pos = _parse_list(text, 0)
    if pos != len(text):
        raise ValueError(f"unexpected {text[pos]!r} at {pos} in tree")
    return nodes


def _parse_list(text: str, pos: int) -> tuple[list[TreeNode], int]:
    nodes = []
    while True:
        start = pos
        while pos < len(text) and text[pos] not in ",[]{}":
            pos += 1
        node = TreeNode(text[start:pos].strip())
        if not node.name:
            raise ValueError(f"empty name at {start} in tree")
        while pos < len(text) and text[pos] in "[{":
            if text[pos] == "[":
                node.children, pos = _parse_list(text, pos + 1)
                if pos >= len(text) or text[pos] != "]":
                    raise ValueError("unbalanced [ in tree")
                pos += 1
            else:
                end = text.index("}", pos)
                spec = text[pos + 1 : end]
                node.ranged = True
                if "," in spec:
                    a, b = spec.split(",", 1)
                    node.start = int(a) if a.strip() else None
                    node.stop = int(b) if b.strip() else None
                else:
                    node.start = int(spec)
                    node.stop = int(spec) + 1
                pos = end + 1
        nodes.append(node)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return nodes, pos


def prune(value: Any, nodes: list[TreeNode] | None) -> Any:
    """What Jenkins sends for ``value`` under a tree: objects keep ``_class`` and the asked keys;
    an object asked for without sub-keys is reduced to its ``_class``."""
    if isinstance(value, list):
        return [prune(v, nodes) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    if "_class" in value:
        out["_class"] = value["_class"]
    if nodes is None:
        return out
    wanted = {n.name: n for n in nodes}
    for key, item in value.items():
        node = wanted.get(key)
        if node is None:
            continue
        if node.ranged and isinstance(item, list):
            item = item[node.start : node.stop]
        out[key] = prune(item, node.children)
    return out


# --- the data -----------------------------------------------------------------------------


@dataclass
class Item:
    """A folder, multibranch project or job."""

    name: str
    cls: str
    parent: Item | None = None
    children: dict[str, Item] = field(default_factory=dict)
    builds: list[dict[str, Any]] = field(default_factory=list)  # ascending by number
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: False: the folder is listed without its ``jobs`` (only its ``_class`` says what it is)
    lists_jobs: bool = True

    @property
    def is_folder(self) -> bool:
        return self.cls in (FOLDER, MULTIBRANCH)

    @property
    def full_name(self) -> str:
        names = []
        item: Item | None = self
        while item is not None and item.parent is not None:
            names.append(item.name)
            item = item.parent
        return "/".join(reversed(names))

    def path(self) -> str:
        """The URL path, with each name encoded as Jenkins does (``feature%2Fx`` ->
        ``feature%252Fx``)."""
        return "".join(f"job/{quote(n, safe='')}/" for n in self.full_name.split("/"))


@dataclass
class Fault:
    """A misbehaviour for the next ``times`` requests whose path contains ``match``."""

    kind: str  # status | slow | reset | truncate
    times: int = 1
    status: int = 502
    delay_s: float = 0.0
    match: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: matching requests to let through before the fault starts
    after: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


class JenkinsServer:
    """A Jenkins on 127.0.0.1 at a random port; see the module docstring."""

    def __init__(
        self,
        user: str | None = "ci",
        token: str | None = "s3cret",
        *,
        all_builds: bool = True,
        ignore_tree: bool = False,
    ) -> None:
        self.user, self.token = user, token
        #: False: an older Jenkins, whose jobs export every build as ``builds``, no ``allBuilds``
        self.all_builds = all_builds
        #: True: a proxy in front drops ``tree=``; every answer is the default one
        self.ignore_tree = ignore_tree
        self.root = Item("", "hudson.model.Hudson")
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.forbidden: list[str] = []
        self.crumbs = True
        #: seconds spent answering (benchmarks subtract it: the server shares the process)
        self.busy_s = 0.0
        self._lock = threading.RLock()
        self._templates = {
            "workflow": load_fixture("GET_job_folder_job_pipeline_52_api_json"),
            "freestyle": load_fixture("GET_job_freestylejob_14_api_json"),
            "legacy": load_fixture("GET_job_rdhanoa_test_project_110_api_json"),
        }
        git_build = load_fixture("GET_job_fish_10_api_json")
        self._changeset = git_build["changeSets"][0]
        legacy = self._templates["legacy"]["actions"]
        self._build_data = next(a for a in legacy if "lastBuiltRevision" in a)
        # A current Jenkins' git BuildData (with _class) and the LibrariesAction beside it.
        recorded = load_fixture("GET_job_Cassandra-3.11_501_api_json")["actions"]
        self._current_build_data = next(a for a in recorded if "lastBuiltRevision" in a)
        self._libraries_action = next(a for a in recorded if "LibrariesAction" in a["_class"])
        self._test_action = next(a for a in legacy if a.get("urlName") == "testReport")
        self._user_cause = self._templates["workflow"]["actions"][0]["causes"][0]
        self._report = load_fixture("GET_job_folder_job_pipeline_52_testReport_api_json")
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.jenkins = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # lifecycle

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> JenkinsServer:
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> JenkinsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what was asked

    def count(self, contains: str = "") -> int:
        """Requests so far whose path contains ``contains``."""
        with self._lock:
            return sum(1 for r in self.requests if contains in r.path)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.busy_s = 0.0

    def inject(self, kind: str, **kwargs: Any) -> Fault:
        """Misbehave: ``inject("status", status=502, times=3)``, ``inject("slow", delay_s=2)``,
        ``inject("reset")``, ``inject("truncate", match="/job/a/")``."""
        fault = Fault(kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def forbid(self, job: str) -> None:
        """Answer 403 to every request under ``job`` (no read permission)."""
        item = self.item(job)
        self.forbidden.append("/" + item.path())

    # building the instance

    def item(self, full_name: str) -> Item:
        item = self.root
        for name in full_name.split("/"):
            item = item.children[name]
        return item

    def _add(self, full_name: str, cls: str) -> Item:
        parent_name, _, name = full_name.rpartition("/")
        parent = self.item(parent_name) if parent_name else self.root
        with self._lock:
            item = parent.children.get(name) or Item(name, cls, parent)
            parent.children[name] = item
        return item

    def add_folder(
        self, full_name: str, *, multibranch: bool = False, cls: str | None = None
    ) -> Item:
        return self._add(full_name, cls or (MULTIBRANCH if multibranch else FOLDER))

    def add_job(self, full_name: str, *, freestyle: bool = False) -> Item:
        return self._add(full_name, FREESTYLE_JOB if freestyle else WORKFLOW_JOB)

    def add_build(
        self,
        job: str,
        *,
        number: int | None = None,
        result: str | None = "SUCCESS",
        building: bool = False,
        timestamp_ms: int | None = None,
        duration_ms: int = 60_000,
        parameters: list[tuple[str, Any, str]] | None = None,
        sha: str | None = None,
        branch: str = "refs/remotes/origin/main",
        scm: str = "builddata",
        tests: tuple[int, int, int] | None = None,
        cause: str = "user",
        lint: bool = False,
        legacy: bool = False,
        remote: str | None = None,
        library: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add one build made from a recorded template.

        Args:
            parameters: (name, value, kind) with kind ``String``, ``Boolean``, ``Password``.
            scm: ``builddata`` (git BuildData action) or ``changeset`` (changeSets commitId).
            tests: (total, failed, skipped) published by the JUnit action, or None.
            cause: ``user``, ``upstream``, ``scm`` or ``timer``.
            legacy: the old-Jenkins shape without ``_class`` keys.
            remote: the project's remote URL in its BuildData (default: the recorded one).
            library: (remote URL, sha) of a shared library the pipeline loads: its checkout's
                BuildData comes first, after the LibrariesAction, as Jenkins lists them.
        """
        item = self.item(job)
        kind = "legacy" if legacy else "freestyle" if item.cls == FREESTYLE_JOB else "workflow"
        build = copy.deepcopy(self._templates[kind])
        with self._lock:
            if number is None:
                number = item.builds[-1]["number"] + 1 if item.builds else 1
            ts = timestamp_ms if timestamp_ms is not None else 1_700_000_000_000 + number * 600_000
            url = f"{self.url}{item.path()}{number}/"
            build.update(
                number=number,
                id=str(number),
                displayName=f"#{number}",
                fullDisplayName=f"{item.full_name.replace('/', ' » ')} #{number}",
                url=url,
                result=None if building else result,
                building=building,
                timestamp=ts,
                duration=0 if building else duration_ms,
                queueId=number + 1000,
            )
            if building:
                build["executor"] = {"_class": "hudson.model.OneOffExecutor"}
            if "previousBuild" in build:
                prev = item.builds[-1] if item.builds else None
                build["previousBuild"] = (
                    {"number": prev["number"], "url": prev["url"]} if prev else None
                )
            actions: list[dict[str, Any]] = []
            cause_body = copy.deepcopy(self._user_cause if cause == "user" else CAUSES[cause])
            actions.append({"_class": "hudson.model.CauseAction", "causes": [cause_body]})
            if parameters:
                actions.append(
                    {
                        "_class": "hudson.model.ParametersAction",
                        "parameters": [
                            _parameter(name, value, pkind) for name, value, pkind in parameters
                        ],
                    }
                )
            if library is not None:
                actions.append(copy.deepcopy(self._libraries_action))
                actions.append(self._library_checkout(number, *library))
                actions.append({"_class": "org.jenkinsci.plugins.workflow.cps.EnvActionImpl"})
            if sha and scm == "builddata":
                data = copy.deepcopy(self._build_data)
                if remote is not None:
                    data["remoteUrls"] = [remote]
                rev = {"SHA1": sha, "branch": [{"SHA1": sha, "name": branch}]}
                data["buildsByBranchName"] = {
                    branch: {
                        "buildNumber": number,
                        "buildResult": None,
                        "marked": rev,
                        "revision": rev,
                    }
                }
                data["lastBuiltRevision"] = rev
                data["_class"] = "hudson.plugins.git.util.BuildData"
                actions.append(data)
            actions.append({})
            if tests is not None:
                total, failed, skipped = tests
                test_action = copy.deepcopy(self._test_action)
                test_action.update(totalCount=total, failCount=failed, skipCount=skipped)
                test_action["_class"] = "hudson.tasks.junit.TestResultAction"
                actions.append(test_action)
                report = copy.deepcopy(self._report)
                report.update(
                    failCount=failed, skipCount=skipped, passCount=total - failed - skipped
                )
                item.reports[number] = report
            if lint:
                actions.append(
                    {
                        "_class": "io.jenkins.plugins.analysis.core.model.ResultAction",
                        "urlName": "checkstyle",
                    }
                )
            if legacy:
                actions = [_strip_class(a) for a in actions]
            build["actions"] = actions
            changes_key = "changeSets" if "changeSets" in build else "changeSet"
            if sha and scm == "changeset":
                changeset = copy.deepcopy(self._changeset)
                changeset["items"][0].update(commitId=sha, id=sha, timestamp=ts)
                build[changes_key] = [changeset] if changes_key == "changeSets" else changeset
            item.builds.append(build)
            if len(item.builds) > 1 and item.builds[-2]["number"] > number:
                item.builds.sort(key=lambda b: b["number"])
        return build

    def _library_checkout(self, number: int, remote: str, sha: str) -> dict[str, Any]:
        """The BuildData of a shared library's checkout, shaped as the recorded one."""
        data = copy.deepcopy(self._current_build_data)
        rev = {"SHA1": sha, "branch": [{"SHA1": sha, "name": "master"}]}
        data["buildsByBranchName"] = {
            "master": {
                "_class": "hudson.plugins.git.util.Build",
                "buildNumber": number,
                "buildResult": None,
                "marked": rev,
                "revision": rev,
            }
        }
        data["lastBuiltRevision"] = rev
        data["remoteUrls"] = [remote]
        return data

    def add_builds(self, job: str, count: int, **kwargs: Any) -> None:
        """Add ``count`` builds; every seventh fails, and each carries a sha and tests."""
        for _ in range(count):
            item = self.item(job)
            n = item.builds[-1]["number"] + 1 if item.builds else 1
            self.add_build(
                job,
                result="FAILURE" if n % 7 == 0 else "SUCCESS",
                sha=f"{n:040x}",
                tests=(100, 1 if n % 7 == 0 else 0, 2),
                **kwargs,
            )

    def finish_build(self, job: str, number: int, result: str = "SUCCESS") -> None:
        with self._lock:
            build = next(b for b in self.item(job).builds if b["number"] == number)
            build.update(building=False, result=result, duration=120_000, executor=None)

    def delete_build(self, job: str, number: int) -> None:
        with self._lock:
            item = self.item(job)
            item.builds = [b for b in item.builds if b["number"] != number]

    # rendering

    def _summary(self, build: dict[str, Any]) -> dict[str, Any]:
        out = {"number": build["number"], "url": build["url"]}
        return {"_class": build["_class"], **out} if "_class" in build else out

    def model(self, item: Item) -> dict[str, Any]:
        """The whole exported object of an item (what ``tree=`` prunes)."""
        if item is self.root:
            body = load_fixture("GET_api_json")
            body["jobs"] = [self.model(c) for c in item.children.values()]
            body["primaryView"]["url"] = self.url
            body["views"][0]["url"] = self.url
            body["useCrumbs"] = self.crumbs
            return body
        url = self.url + item.path()
        if item.is_folder:
            name = (
                "GET_job_Level1_multibranchjob_api_json"
                if item.cls == MULTIBRANCH
                else "GET_job_folder_api_json"
            )
            body = load_fixture(name)
            body.update(
                _class=item.cls,
                name=item.name,
                displayName=unquote(item.name),
                fullName=item.full_name,
                fullDisplayName=item.full_name.replace("/", " » "),
                url=url,
                jobs=[self.model(c) for c in item.children.values()],
            )
            if not item.lists_jobs:
                del body["jobs"]
            body["primaryView"]["url"] = url
            for view in body["views"]:
                view["url"] = url
            return body
        body = load_fixture("GET_job_Level1_WorkflowJob_api_json")
        newest = list(reversed(item.builds))
        finished = [b for b in newest if not b["building"]]
        last_ok = next((b for b in finished if b["result"] == "SUCCESS"), None)
        last_bad = next((b for b in finished if b["result"] != "SUCCESS"), None)
        body.update(
            _class=item.cls,
            name=item.name,
            displayName=unquote(item.name),
            fullName=item.full_name,
            fullDisplayName=item.full_name.replace("/", " » "),
            url=url,
            allBuilds=newest,
            builds=newest[:100] if self.all_builds else newest,
            color=_color(newest[0] if newest else None),
            firstBuild=item.builds[0] if item.builds else None,
            lastBuild=newest[0] if newest else None,
            lastCompletedBuild=finished[0] if finished else None,
            lastSuccessfulBuild=last_ok,
            lastStableBuild=last_ok,
            lastFailedBuild=last_bad,
            lastUnsuccessfulBuild=last_bad,
            lastUnstableBuild=None,
            nextBuildNumber=(newest[0]["number"] + 1) if newest else 1,
        )
        if not self.all_builds:
            del body["allBuilds"]
        return body

    def render_default(self, item: Item) -> dict[str, Any]:
        """``api/json`` without ``tree``: nested objects as short summaries, no allBuilds."""
        body = self.model(item)
        if "jobs" in body:
            body["jobs"] = [
                {k: j[k] for k in ("_class", "name", "url", "color") if k in j}
                for j in body["jobs"]
            ]
        if "builds" in body:
            body.pop("allBuilds", None)
            body["builds"] = [self._summary(b) for b in body["builds"]]
            for key in (
                "firstBuild",
                "lastBuild",
                "lastCompletedBuild",
                "lastSuccessfulBuild",
                "lastStableBuild",
                "lastFailedBuild",
                "lastUnsuccessfulBuild",
            ):
                if body.get(key):
                    body[key] = self._summary(body[key])
        return body

    # answering

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """Status and JSON body (or text) for a GET of ``path``."""
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        if not segments:
            return 200, "<html><body>Jenkins</body></html>"
        if segments == ["crumbIssuer", "api", "json"]:
            if not self.crumbs:
                return 404, "Not Found"
            return 200, load_fixture("GET_crumbIssuer_api_json")
        if segments[-2:] != ["api", "json"]:
            return 404, "Not Found"
        segments = segments[:-2]
        report = False
        if segments and segments[-1] == "testReport":
            report, segments = True, segments[:-1]
        number: int | None = None
        if segments and segments[-1].isdigit() and len(segments) % 2 == 1:
            number, segments = int(segments[-1]), segments[:-1]
        item = self.root
        if len(segments) % 2:
            return 404, "Not Found"
        for i in range(0, len(segments), 2):
            if segments[i] != "job" or segments[i + 1] not in item.children:
                return 404, "Not Found"
            item = item.children[segments[i + 1]]
        with self._lock:
            if number is not None:
                build = next((b for b in item.builds if b["number"] == number), None)
                if build is None:
                    return 404, "Not Found"
                if report:
                    if number not in item.reports:
                        return 404, "Not Found"
                    value: Any = item.reports[number]
                else:
                    value = build
            elif report:
                return 404, "Not Found"
            else:
                tree = "tree" in query and not self.ignore_tree
                value = self.model(item) if tree else self.render_default(item)
            if "tree" in query and not self.ignore_tree:
                try:
                    value = prune(value, parse_tree(query["tree"]))
                except ValueError as exc:
                    return 400, f"bad tree: {exc}"
            return 200, json.loads(json.dumps(value))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match in path:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def authorized(self, header: str | None) -> bool:
        if self.user is None:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return given == f"{self.user}:{self.token}"

    def builds_of(self, job: str) -> Iterator[dict[str, Any]]:
        yield from self.item(job).builds


def _parameter(name: str, value: Any, kind: str) -> dict[str, Any]:
    if kind == "Password":
        # Jenkins never exports a password parameter's value.
        return {"_class": "hudson.model.PasswordParameterValue", "name": name}
    return {"_class": f"hudson.model.{kind}ParameterValue", "name": name, "value": value}


def _strip_class(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_class(v) for k, v in value.items() if k != "_class"}
    if isinstance(value, list):
        return [_strip_class(v) for v in value]
    return value


def _color(build: dict[str, Any] | None) -> str:
    if build is None:
        return "notbuilt"
    base = {"SUCCESS": "blue", "UNSTABLE": "yellow", "ABORTED": "aborted"}.get(
        build["result"] or "SUCCESS", "red"
    )
    return base + "_anime" if build["building"] else base


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Jetty(10.0.20)"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        started = time.perf_counter()
        try:
            self._get()
        finally:
            jenkins: JenkinsServer = self.server.jenkins  # type: ignore[attr-defined]
            with jenkins._lock:
                jenkins.busy_s += time.perf_counter() - started

    def _get(self) -> None:
        jenkins: JenkinsServer = self.server.jenkins  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record = Request("GET", parts.path, query)
        with jenkins._lock:
            jenkins.requests.append(record)
        fault = jenkins.take_fault(parts.path)
        if fault is not None and fault.kind == "reset":
            record.status = -1
            # An RST instead of an answer: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        slow = fault is not None and fault.kind == "slow"
        if slow and fault is not None and hold_answer(self.connection, fault.delay_s):
            self.close_connection = True
            return  # the client gave up waiting
        if fault is not None and fault.kind == "status":
            record.status = fault.status
            self._send(fault.status, f"<html>Error {fault.status}</html>", fault.headers)
            return
        if not jenkins.authorized(self.headers.get("Authorization")):
            record.status = 401
            self._send(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="Jenkins"'})
            return
        if any(parts.path.startswith(p) for p in jenkins.forbidden):
            record.status = 403
            self._send(403, "<html>Access Denied: ci is missing the Job/Read permission</html>")
            return
        status, body = jenkins.answer(parts.path, query)
        record.status = status
        truncate = fault is not None and fault.kind == "truncate"
        self._send(status, body, truncate=truncate)

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
    ) -> None:
        if isinstance(body, str):
            data, ctype = body.encode(), "text/html;charset=utf-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json;charset=utf-8"
        if truncate:
            # The body ends mid-JSON, with an honest Content-Length: a proxy cut it short.
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Jenkins", VERSION)
        self.send_header("X-Hudson", "1.395")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
