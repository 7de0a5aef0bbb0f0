"""Turn GitLab REST v4 payloads into rows of the store; pure functions, no I/O.

Each function takes one raw record and returns a dict of column values (usernames and e-mail
addresses not yet hashed: the stream hashes them with the store's salt). A record that lacks
what a row needs raises :class:`MalformedRecord` with the reason; the runner skips it and logs
why.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.base import MalformedRecord

#: pipeline status -> the build result vocabulary of the store
PIPELINE_RESULTS = {
    "success": "success",
    "failed": "failure",
    "canceled": "aborted",
    "canceling": "aborted",
    "skipped": "skipped",
    # waits for someone to press play: neither a success nor a failure
    "manual": "manual",
}
#: deployment status -> the deployment status vocabulary of the store
DEPLOYMENT_STATES = {
    "success": "success",
    "failed": "failure",
    "canceled": "aborted",
    "skipped": "skipped",
    "created": "running",
    "running": "running",
    "blocked": "running",  # waits for an approval
}
#: pipeline sources that mean a person started the pipeline by hand
MANUAL_SOURCES = {"web", "chat"}
#: job statuses after which a job changes no more
FINISHED_JOB_STATES = {"success", "failed", "canceled", "skipped", "manual"}


def when(value: Any, field: str) -> dt.datetime:
    """An ISO-8601 timestamp from GitLab as an aware datetime; MalformedRecord if it is not one."""
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{field} is missing or not a timestamp: {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRecord(f"{field} is not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def maybe_when(value: Any, field: str) -> dt.datetime | None:
    return None if value in (None, "") else when(value, field)


def iso_key(value: Any) -> str | None:
    """A sortable UTC key (millisecond precision) for a GitLab timestamp; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _obj(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"{what} is not an object: {type(raw).__name__}")
    return raw


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRecord(f"{field} is not an integer: {value!r}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _username(user: Any) -> str | None:
    if isinstance(user, Mapping) and isinstance(user.get("username"), str):
        return str(user["username"])
    return None


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)


def labels_of(raw: Mapping[str, Any]) -> list[str]:
    """Label names: GitLab sends strings (objects with ``with_labels_details``)."""
    names = []
    for label in raw.get("labels") or []:
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str) and name:
            names.append(name)
    return sorted(set(names))


# --- projects -----------------------------------------------------------------------------


def project(raw: Any) -> dict[str, Any]:
    """What a scope needs of ``GET /projects/:id`` or an item of a project list."""
    raw = _obj(raw, "project")
    path = raw.get("path_with_namespace")
    if not isinstance(path, str) or "/" not in path:
        raise MalformedRecord("project without a path_with_namespace")

    def enabled(flag: str, level: str) -> bool:
        # ``*_enabled`` on older servers, ``*_access_level`` ("disabled") on newer ones
        if raw.get(level) == "disabled":
            return False
        return raw.get(flag) is not False

    return {
        "id": raw.get("id") if isinstance(raw.get("id"), int) else None,
        "path": path,
        "name": _text(raw.get("path")) or path.rsplit("/", 1)[-1],
        "default_branch": raw.get("default_branch")
        if isinstance(raw.get("default_branch"), str)
        else None,
        "web_url": raw.get("web_url") if isinstance(raw.get("web_url"), str) else None,
        "archived": bool(raw.get("archived")),
        "merge_requests": enabled("merge_requests_enabled", "merge_requests_access_level"),
        "issues": enabled("issues_enabled", "issues_access_level"),
        "jobs": enabled("jobs_enabled", "builds_access_level"),
    }


# --- merge requests -----------------------------------------------------------------------


def approval(raw: Any, author: str | None) -> dict[str, Any] | None:
    """One entry of ``approved_by`` as a review row (None for the author's own approval)."""
    raw = _obj(raw, "approval")
    user = raw.get("user")
    login = _username(user)
    if login is not None and login == author:
        return None
    user_id = user.get("id") if isinstance(user, Mapping) else None
    return {
        "external_id": f"approval:{user_id if user_id is not None else login}",
        "state": "APPROVED",
        # GitLab 17 and later say when; older servers only who
        "submitted_at": maybe_when(raw.get("approved_at"), "approved_by.approved_at"),
        "reviewer_login": login,
        "commit_sha": None,
    }


def merge_request(
    raw: Any,
    approvals: Mapping[str, Any] | None,
    commits: Sequence[Any] | None,
    *,
    hotfix_labels: Sequence[str] = (),
) -> dict[str, Any]:
    """A merge request from the list, its approvals and its commits (both may be None: not
    read), as a ``pull_requests`` row with its reviews."""
    raw = _obj(raw, "merge request")
    author = _username(raw.get("author"))
    merged_at = maybe_when(raw.get("merged_at"), "merged_at")
    state = _text(raw.get("state"))
    state = {"opened": "open", "locked": "open"}.get(state, state) or "open"
    if merged_at is not None:
        state = "merged"
    reviews = []
    if approvals is not None:
        for entry in _obj(approvals, "approvals").get("approved_by") or []:
            review = approval(entry, author)
            if review is not None:
                reviews.append(review)
    first_commit_at = None
    if commits:
        dates = [
            when(c.get("authored_date") or c.get("created_at"), "commit.authored_date")
            for c in commits
            if isinstance(c, Mapping)
        ]
        first_commit_at = min(dates) if dates else None
    # The commit that landed on the target branch: the squash commit, else the merge commit,
    # else (a fast-forward merge) the head itself.
    landed = None
    if merged_at is not None:
        for key in ("squash_commit_sha", "merge_commit_sha", "sha"):
            value = raw.get(key)
            if isinstance(value, str) and value:
                landed = value
                break
    labels = labels_of(raw)
    wanted = {x.casefold() for x in hotfix_labels}
    timed = [r["submitted_at"] for r in reviews if r["submitted_at"] is not None]
    return {
        "number": _int(raw.get("iid"), "iid"),
        "external_id": str(_int(raw.get("id"), "id")),
        "title": _text(raw.get("title")),
        "state": state,
        "author_login": author,
        "base_branch": raw.get("target_branch"),
        "head_branch": raw.get("source_branch"),
        "head_sha": raw.get("sha") if isinstance(raw.get("sha"), str) else None,
        "merge_commit_sha": landed,
        "created_at": when(raw.get("created_at"), "created_at"),
        "updated_at": maybe_when(raw.get("updated_at"), "updated_at"),
        "merged_at": merged_at,
        "closed_at": maybe_when(raw.get("closed_at"), "closed_at") or merged_at,
        "first_commit_at": first_commit_at,
        "additions": None,
        "deletions": None,
        "commits_count": len(commits) if commits is not None else None,
        "reviews": reviews,
        "first_review_at": min(timed, default=None),
        "approved_at": min(timed, default=None),
        "review_count": len(reviews),
        "approval_count": len({r["reviewer_login"] or r["external_id"] for r in reviews}),
        "labels": json.dumps(labels, ensure_ascii=False) if labels else None,
        "is_hotfix": any(label.casefold() in wanted for label in labels),
    }


# --- commits ------------------------------------------------------------------------------


def commit(raw: Any) -> dict[str, Any]:
    """A commit from ``GET /projects/:id/repository/commits``: no sizes (``with_stats`` costs)."""
    raw = _obj(raw, "commit")
    sha = raw.get("id")
    if not isinstance(sha, str) or not sha:
        raise MalformedRecord("commit without an id")
    parents = [p for p in raw.get("parent_ids") or [] if isinstance(p, str)]
    authored = when(raw.get("authored_date") or raw.get("created_at"), "authored_date")
    committed = when(raw.get("committed_date") or raw.get("created_at"), "committed_date")
    identity = raw.get("author_email") or raw.get("author_name") or ""
    return {
        "sha": sha,
        "parents": " ".join(parents),
        "author_identity": str(identity),
        "authored_at": authored,
        "author_tz_offset": _offset_minutes(authored),
        "committed_at": committed,
        "committer_tz_offset": _offset_minutes(committed),
        "is_merge": len(parents) > 1,
        "subject": _text(raw.get("title") or raw.get("message")).split("\n", 1)[0][:1000],
        "on_default_branch": True,
    }


def _offset_minutes(value: dt.datetime) -> int:
    offset = value.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


# --- pipelines and jobs -------------------------------------------------------------------


def pipeline(raw: Any) -> dict[str, Any]:
    """A pipeline from ``GET /projects/:id/pipelines`` as a ``builds`` row.

    The list carries no start, end or duration: the pipeline starts when it was created, and
    a finished one took until its last update.
    """
    raw = _obj(raw, "pipeline")
    created = when(raw.get("created_at"), "created_at")
    status = _text(raw.get("status"))
    result = PIPELINE_RESULTS.get(status, "running")
    duration = None
    if result != "running" and raw.get("updated_at"):
        duration = max(0.0, (when(raw["updated_at"], "updated_at") - created).total_seconds())
    name = raw.get("name")
    source = _text(raw.get("source")) or None
    job = name.strip()[:500] if isinstance(name, str) and name.strip() else "pipeline"
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "job": job,
        "number": raw.get("iid") if isinstance(raw.get("iid"), int) else None,
        "commit_sha": raw.get("sha") if isinstance(raw.get("sha"), str) else None,
        "branch": raw.get("ref") if isinstance(raw.get("ref"), str) else None,
        "event": source,
        "result": result,
        "started_at": created,
        "duration_s": duration,
        "url": raw.get("web_url") if isinstance(raw.get("web_url"), str) else None,
    }


def job(raw: Any, lint_patterns: Sequence[str]) -> dict[str, Any]:
    """What a pipeline learns from one of its jobs: its pipeline, lint, a JUnit report."""
    raw = _obj(raw, "job")
    pipe = _obj(raw.get("pipeline"), "job.pipeline")
    names = [n for n in (raw.get("name"), raw.get("stage")) if isinstance(n, str) and n]
    artifacts = raw.get("artifacts") or []
    return {
        "id": _int(raw.get("id"), "id"),
        "pipeline_id": _int(pipe.get("id"), "pipeline.id"),
        "finished": raw.get("status") in FINISHED_JOB_STATES,
        "lint": any(matches_any(n, lint_patterns) for n in names),
        "junit": any(isinstance(a, Mapping) and a.get("file_type") == "junit" for a in artifacts),
    }


def test_summary(raw: Any) -> dict[str, int]:
    """``tests_total/failed/skipped`` from ``GET /pipelines/:id/test_report_summary``."""
    total = _obj(_obj(raw, "test report summary").get("total"), "test report summary.total")

    def count(key: str) -> int:
        value = total.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return {
        "tests_total": count("count"),
        "tests_failed": count("failed") + count("error"),
        "tests_skipped": count("skipped"),
    }


# --- deployments --------------------------------------------------------------------------


def is_automation(raw: Mapping[str, Any], automation_logins: Sequence[str]) -> bool | None:
    """True: a pipeline that no person started by hand ran the deployment (or a bot user did);
    False: someone started the pipeline from the web UI; None: no job (made through the API)."""
    login = _username(raw.get("user")) or ""
    if login and (
        login.endswith(("_bot", "-bot", "[bot]")) or matches_any(login, automation_logins)
    ):
        return True
    deployable = raw.get("deployable")
    if not isinstance(deployable, Mapping):
        return None
    pipe = deployable.get("pipeline")
    source = pipe.get("source") if isinstance(pipe, Mapping) else None
    return source not in MANUAL_SOURCES


def deployment(
    raw: Any,
    *,
    automation_logins: Sequence[str],
    hotfix_patterns: Sequence[str],
    rollback_patterns: Sequence[str],
) -> dict[str, Any]:
    """A deployment from ``GET /projects/:id/deployments`` (its job and environment inline)."""
    raw = _obj(raw, "deployment")
    env = raw.get("environment")
    environment = env.get("name") if isinstance(env, Mapping) else None
    if not isinstance(environment, str) or not environment:
        raise MalformedRecord("deployment without an environment")
    created = when(raw.get("created_at"), "created_at")
    state = _text(raw.get("status"))
    status = DEPLOYMENT_STATES.get(state, state or "unknown")
    deployable = raw.get("deployable") if isinstance(raw.get("deployable"), Mapping) else {}
    finished = None
    if status not in ("running",):
        finished = maybe_when(deployable.get("finished_at"), "deployable.finished_at") or (
            maybe_when(raw.get("updated_at"), "updated_at")
        )
    ref = raw.get("ref") if isinstance(raw.get("ref"), str) else None
    words = [w for w in (ref, deployable.get("name")) if isinstance(w, str)]
    automated = is_automation(raw, automation_logins)
    job_id = deployable.get("id")
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "environment": environment[:200],
        "version": ref[:300] if ref else None,
        "commit_sha": raw.get("sha") if isinstance(raw.get("sha"), str) else None,
        "started_at": created,
        "finished_at": finished,
        "status": status,
        "trigger": None if automated is None else ("automated" if automated else "manual"),
        "is_rollback": any(matches_any(w, rollback_patterns) for w in words),
        "is_hotfix": any(matches_any(w, hotfix_patterns) for w in words),
        "build_ref": f"job {job_id}" if isinstance(job_id, int) else None,
        "url": deployable.get("web_url") if isinstance(deployable.get("web_url"), str) else None,
    }


# --- issues -------------------------------------------------------------------------------


def issue(raw: Any, *, incident_labels: Sequence[str]) -> dict[str, Any]:
    """An issue; GitLab's incident type (``issue_type: incident``) or a label makes an incident."""
    raw = _obj(raw, "issue")
    labels = labels_of(raw)
    wanted = {x.casefold() for x in incident_labels}
    kind = raw.get("issue_type")
    if not isinstance(kind, str):
        kind = _text(raw.get("type")).lower() or None
    state = _text(raw.get("state")) or "opened"
    closed = state == "closed"
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "key": f"#{_int(raw.get('iid'), 'iid')}",
        "title": _text(raw.get("title")),
        "issue_type": kind,
        "status": state,
        "status_category": "done" if closed else "new",
        "labels": json.dumps(labels, ensure_ascii=False) if labels else None,
        "created_at": when(raw.get("created_at"), "created_at"),
        "updated_at": maybe_when(raw.get("updated_at"), "updated_at"),
        "resolved_at": maybe_when(raw.get("closed_at"), "closed_at") if closed else None,
        "is_incident": kind == "incident" or any(label.casefold() in wanted for label in labels),
        "url": raw.get("web_url") if isinstance(raw.get("web_url"), str) else None,
    }
