"""Jenkins build payloads -> rows of ``builds`` and ``deployments`` (pure, no I/O).

A payload is what ``tree=allBuilds[...]`` returns for one build (see ``client.BUILD_FIELDS``),
current Jenkins (with ``_class`` keys) or old (without). Anything unusable raises
:class:`MalformedRecord` with the reason; the runner skips that build and logs the reason.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from collectors.base import MalformedRecord
from collectors.jenkins.config import JenkinsConfig, JenkinsDeployRule
from maturity.config import RulesConfig

SOURCE = "jenkins"
RESULTS = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "UNSTABLE": "unstable",
    "ABORTED": "aborted",
    "NOT_BUILT": "not_built",
}
#: parameter names that may hold a secret: never stored, whatever their type
SECRET_NAME = re.compile(r"token|secret|passw|key|credential", re.IGNORECASE)
_SECRET_CLASSES = ("PasswordParameterValue", "CredentialsParameterValue")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_BRANCH_PREFIXES = ("refs/remotes/origin/", "refs/remotes/", "refs/heads/", "origin/")
_USER_CAUSES = ("UserIdCause", "UserCause")
_AUTOMATED_CAUSES = {
    "UpstreamCause": "upstream",
    "SCMTrigger": "scm",
    "TimerTrigger": "timer",
    "BranchIndexingCause": "scm",
    "BranchEventCause": "scm",
    "GitHubPushCause": "scm",
    "GitLabWebHookCause": "scm",
    "RemoteCause": "remote",
}
_LINT_ACTIONS = ("warnings", "checkstyle", "analysis.core", "pmd", "findbugs", "spotbugs")


@dataclass(frozen=True)
class Job:
    """A buildable Jenkins job, as the job list names it."""

    full_name: str  # folder/pipeline/feature%2Fx: the scope of its rows
    cls: str | None = None
    #: the branch when the job is a branch of a multibranch project (decoded: feature/x)
    branch: str | None = None

    @property
    def short_name(self) -> str:
        return unquote(self.full_name.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class BuildRecord:
    """One build made into rows: always a build, a deployment when a deploy rule matches."""

    number: int
    running: bool
    build: dict[str, Any]
    deployment: dict[str, Any] | None


#: ``_class`` of items whose children are listed too (folders, organisation folders,
#: multibranch projects of any SCM): never built themselves
_FOLDER_CLASS = re.compile(r"(Folder|MultiBranchProject)$")
_MULTIBRANCH_CLASS = re.compile(r"MultiBranchProject$")


def is_folder(item: dict[str, Any]) -> bool:
    """A folder or multibranch project, by its ``_class``; old Jenkins without ``_class`` keys
    is told by the ``jobs`` it lists."""
    cls = item.get("_class")
    if isinstance(cls, str) and cls:
        return bool(_FOLDER_CLASS.search(cls))
    return "jobs" in item


def select_jobs(items: Iterable[dict[str, object]], patterns: Sequence[str]) -> list[Job]:
    """The buildable jobs of a job list (folders left out) that match any glob."""
    items = list(items)
    classes = {str(i.get("fullname")): str(i.get("_class") or "") for i in items}
    jobs = []
    for item in items:
        name = item.get("fullname")
        if not isinstance(name, str) or is_folder(item):
            continue  # a folder or a multibranch project: its children are listed too
        folded = name.casefold()
        if not any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns):
            continue
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        multibranch = bool(_MULTIBRANCH_CLASS.search(classes.get(parent, "")))
        branch = unquote(name.rsplit("/", 1)[-1]) if multibranch else None
        cls = item.get("_class")
        jobs.append(Job(name, cls if isinstance(cls, str) else None, branch))
    return sorted(jobs, key=lambda j: j.full_name)


def unmatched(items: Iterable[dict[str, object]], patterns: Sequence[str]) -> list[str]:
    """The patterns that match no item of the job list (a job deleted, renamed, or hidden)."""
    names = [str(i.get("fullname")).casefold() for i in items if isinstance(i.get("fullname"), str)]
    return [p for p in patterns if not any(fnmatch.fnmatchcase(n, p.casefold()) for n in names)]


def build_number(raw: Any) -> int | None:
    """The build number of a raw payload, or None when it has none usable."""
    if not isinstance(raw, dict):
        return None
    number = raw.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return None
    return number


def normalize_build(
    raw: Any,
    *,
    job: Job,
    source: JenkinsConfig,
    rules: RulesConfig,
    repositories: Sequence[str] = (),
) -> BuildRecord:
    """Turn one build payload into rows; raises MalformedRecord when it cannot be used.

    ``repositories`` are the owning team's repositories (``owner/name`` globs, see
    :func:`remote_path`): among several git revisions, the one from such a remote is the
    build's commit.
    """
    number = build_number(raw)
    if number is None:
        raise MalformedRecord(f"build of {job.full_name} without a usable number")
    timestamp = raw.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or timestamp <= 0:
        raise MalformedRecord(f"{job.full_name} #{number}: no usable timestamp")
    actions = raw.get("actions") or []
    if not isinstance(actions, list):
        raise MalformedRecord(f"{job.full_name} #{number}: actions is not a list")
    actions = [a for a in actions if isinstance(a, dict)]
    started = dt.datetime.fromtimestamp(timestamp / 1000, dt.UTC)
    building = raw.get("building") is True
    result = raw.get("result")
    if building or result is None:
        status = "running"
    elif isinstance(result, str):
        status = RESULTS.get(result.upper(), result.lower()[:32])
    else:
        raise MalformedRecord(f"{job.full_name} #{number}: result is not text")
    duration = raw.get("duration")
    duration_s = (
        duration / 1000
        if status != "running" and isinstance(duration, int | float) and duration >= 0
        else None
    )
    parameters = _parameters(actions)
    event, trigger = _trigger(actions)
    revisions = git_revisions(actions, number)
    chosen = choose_revision(revisions, repositories, source.library_remotes)
    sha: str | None = chosen.sha if chosen is not None else _changeset_commit(raw)
    branch = chosen.branch if chosen is not None else None
    if job.branch is not None:
        branch = job.branch
    total, failed, skipped = _tests(actions)
    url = raw.get("url") if isinstance(raw.get("url"), str) else None
    row = {
        "source": SOURCE,
        "scope": job.full_name,
        "external_id": str(number),
        "job": job.full_name,
        "number": number,
        "commit_sha": sha,
        "branch": branch,
        "event": event,
        "result": status,
        "stage": None,
        "started_at": started,
        "duration_s": duration_s,
        "tests_total": total,
        "tests_failed": failed,
        "tests_skipped": skipped,
        "has_lint": _has_lint(job, actions, source.lint_patterns),
        "parameters": parameters or None,
        "url": url,
        "revisions": [r.visible() for r in revisions] if len(revisions) > 1 else None,
    }
    deployment = None
    rule = match_rule(job.full_name, source.deploy_rules)
    if rule is not None:
        deployment = _deployment(
            rule,
            job=job,
            number=number,
            parameters=parameters,
            sha=sha,
            branch=branch,
            status=status,
            started=started,
            duration_s=duration_s,
            trigger=trigger,
            url=url,
            rules=rules,
        )
    return BuildRecord(number, status == "running", row, deployment)


def match_rule(
    full_name: str, deploy_rules: Sequence[JenkinsDeployRule]
) -> JenkinsDeployRule | None:
    """The first deploy rule whose glob matches the job (case-insensitive), if any."""
    folded = full_name.casefold()
    for rule in deploy_rules:
        if fnmatch.fnmatchcase(folded, rule.job_pattern.casefold()):
            return rule
    return None


def is_secret_parameter(name: str, cls: str | None) -> bool:
    """True for parameters that may hold a secret: password types or secret-looking names."""
    if cls and any(c in cls for c in _SECRET_CLASSES):
        return True
    return bool(SECRET_NAME.search(name))


def _parameters(actions: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for action in actions:
        params = action.get("parameters")
        if not isinstance(params, list):
            continue
        for param in params:
            if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                continue
            name = param["name"]
            cls = param.get("_class") if isinstance(param.get("_class"), str) else None
            if is_secret_parameter(name, cls):
                continue
            value = param.get("value")
            if isinstance(value, str | int | float | bool) or value is None:
                out[name] = value
    return out


def _trigger(actions: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(event, trigger): the kind of the first cause, and manual/automated."""
    kinds: list[str] = []
    for action in actions:
        causes = action.get("causes")
        if not isinstance(causes, list):
            continue
        for cause in causes:
            if isinstance(cause, dict):
                kinds.append(_cause_kind(cause))
    if not kinds:
        return None, None
    if "user" in kinds:
        return "user", "manual"
    automated = [k for k in kinds if k != "other"]
    if automated:
        return automated[0], "automated"
    return "other", None


def _cause_kind(cause: dict[str, Any]) -> str:
    cls = cause.get("_class")
    if isinstance(cls, str):
        if any(c in cls for c in _USER_CAUSES):
            return "user"
        for marker, kind in _AUTOMATED_CAUSES.items():
            if marker in cls:
                return kind
        return "other"
    # Old Jenkins exports no _class: tell causes apart by their fields and wording.
    if "upstreamProject" in cause:
        return "upstream"
    if "userId" in cause or "userName" in cause:
        return "user"
    text = str(cause.get("shortDescription") or "").lower()
    if "timer" in text:
        return "timer"
    if "scm" in text or "push" in text:
        return "scm"
    return "other"


@dataclass(frozen=True)
class Revision:
    """One git checkout of a build (a git ``BuildData`` action)."""

    sha: str
    branch: str | None
    remotes: tuple[str, ...]

    def visible(self) -> dict[str, Any]:
        """What the store keeps of it: the first remote (without credentials), sha, branch."""
        remote = _without_credentials(self.remotes[0]) if self.remotes else None
        return {"remote": remote, "sha": self.sha, "branch": self.branch}


def git_revisions(actions: list[dict[str, Any]], number: int) -> list[Revision]:
    """Every git revision the build checked out, in the order Jenkins lists them.

    A pipeline that loads a shared library has one ``BuildData`` for the library (first, as
    libraries load before the pipeline runs) and one for each checkout it makes.
    """
    found: list[Revision] = []
    for action in actions:
        revision = action.get("lastBuiltRevision")
        if not isinstance(revision, dict):
            continue
        sha = revision.get("SHA1")
        if not (isinstance(sha, str) and _SHA.match(sha)):
            continue
        branch = None
        branches = revision.get("branch")
        if isinstance(branches, list) and branches and isinstance(branches[0], dict):
            branch = branches[0].get("name")
        by_name = action.get("buildsByBranchName")
        if isinstance(by_name, dict):
            for name, entry in by_name.items():
                if isinstance(entry, dict) and entry.get("buildNumber") == number:
                    branch = name
                    break
        urls = action.get("remoteUrls")
        remotes = tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else ()
        found.append(Revision(sha.lower(), _short_branch(branch), remotes))
    return found


def choose_revision(
    revisions: Sequence[Revision], repositories: Sequence[str], library_remotes: Sequence[str]
) -> Revision | None:
    """The build's own revision: the one from a repository of the team, else the first that
    is not from a known shared library, else the first."""
    if not revisions:
        return None
    wanted = [p.casefold() for p in repositories]
    for revision in revisions:
        paths = [remote_path(url) for url in revision.remotes]
        if any(p and fnmatch.fnmatchcase(p, w) for p in paths for w in wanted):
            return revision
    libraries = [p.casefold() for p in library_remotes]
    for revision in revisions:
        urls = [u.casefold() for u in revision.remotes]
        if not any(fnmatch.fnmatchcase(u, p) for u in urls for p in libraries):
            return revision
    return revisions[0]


def remote_path(url: str) -> str | None:
    """The repository path of a git remote, lower case, without host, user or ``.git``:
    ``git@github.com:Acme/API.git`` and ``https://github.com/acme/api`` -> ``acme/api``."""
    text = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?[^:/]+:(?!//)(.+)$", text)
    if "://" in text:
        rest = text.split("://", 1)[1]
        path = rest.split("/", 1)[1] if "/" in rest else ""
    elif scp:
        path = scp.group(1)
    else:
        return None  # a local path: no remote to compare
    path = path.strip("/").removesuffix(".git").strip("/")
    return path.casefold() or None


def _without_credentials(url: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]+@", r"\1", url, flags=re.IGNORECASE)


def _changeset_commit(raw: dict[str, Any]) -> str | None:
    """The newest commit of the change sets (builds without a git ``BuildData``)."""
    sets = raw.get("changeSets")
    if sets is None and isinstance(raw.get("changeSet"), dict):
        sets = [raw["changeSet"]]
    if isinstance(sets, list):
        for change_set in reversed(sets):
            items = change_set.get("items") if isinstance(change_set, dict) else None
            if not isinstance(items, list):
                continue
            for item in reversed(items):
                sha = item.get("commitId") if isinstance(item, dict) else None
                if isinstance(sha, str) and _SHA.match(sha):
                    return sha.lower()
    return None


def _short_branch(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    for prefix in _BRANCH_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :] or None
    return name


def _tests(actions: list[dict[str, Any]]) -> tuple[int | None, int | None, int | None]:
    for action in actions:
        cls = action.get("_class")
        if action.get("urlName") in ("testReport", "aggregatedTestReport") or (
            isinstance(cls, str) and cls.endswith("TestResultAction")
        ):
            counts = [action.get(k) for k in ("totalCount", "failCount", "skipCount")]
            if all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
                return counts[0], counts[1], counts[2]
    return None, None, None


def _has_lint(job: Job, actions: list[dict[str, Any]], patterns: Sequence[str]) -> bool:
    names = (job.full_name.casefold(), job.short_name.casefold())
    if any(fnmatch.fnmatchcase(n, p.casefold()) for n in names for p in patterns):
        return True
    for action in actions:
        cls = action.get("_class")
        if isinstance(cls, str) and any(m in cls.casefold() for m in _LINT_ACTIONS):
            return True
        url_name = action.get("urlName")
        if isinstance(url_name, str) and any(
            fnmatch.fnmatchcase(url_name.casefold(), p.casefold()) for p in patterns
        ):
            return True
    return False


def _lookup(parameters: dict[str, Any], name: str | None) -> str | None:
    if not name:
        return None
    value = parameters.get(name)
    if value is None:
        folded = name.casefold()
        value = next((v for k, v in parameters.items() if k.casefold() == folded), None)
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def service_of(job: Job, rule: JenkinsDeployRule) -> str:
    """The service a deployment job deploys: the rule's, else the job name without 'deploy'."""
    if rule.service:
        return rule.service
    name = re.sub(r"(^|[-_.\s])deploy(ment)?(s)?(?=[-_.\s]|$)", "", job.short_name, flags=re.I)
    name = name.strip("-_. ")
    if not name and "/" in job.full_name:
        name = unquote(job.full_name.rsplit("/", 2)[-2])
    return name or job.short_name


def _deployment(
    rule: JenkinsDeployRule,
    *,
    job: Job,
    number: int,
    parameters: dict[str, Any],
    sha: str | None,
    branch: str | None,
    status: str,
    started: dt.datetime,
    duration_s: float | None,
    trigger: str | None,
    url: str | None,
    rules: RulesConfig,
) -> dict[str, Any] | None:
    environment = _lookup(parameters, rule.environment_parameter) or rule.environment
    if environment is None:
        return None
    version = _lookup(parameters, rule.version_parameter) or sha
    names = [n.casefold() for n in (job.short_name, branch, version) if n]

    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p.casefold()) for n in names for p in patterns)

    ref = f"{job.full_name}#{number}"
    return {
        "source": SOURCE,
        "scope": job.full_name,
        "external_id": ref,
        "service": service_of(job, rule)[:300],
        "environment": environment[:200],
        "version": version[:300] if version else None,
        "commit_sha": sha,
        "started_at": started,
        "finished_at": started + dt.timedelta(seconds=duration_s)
        if duration_s is not None
        else None,
        "status": status,
        "trigger": trigger,
        "is_rollback": matches(rules.rollback_patterns),
        "is_hotfix": matches(rules.hotfix_patterns),
        "build_ref": ref[:300],
        "url": url,
    }
