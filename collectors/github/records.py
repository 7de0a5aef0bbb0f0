"""Turn GitHub payloads (REST and GraphQL) into rows of the store; pure functions, no I/O.

Each function takes one raw record and returns a dict of column values (logins not yet hashed:
the stream hashes them with the store's salt). A record that lacks what a row needs raises
:class:`MalformedRecord` with the reason; the runner skips it and logs why.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.base import MalformedRecord

#: GitHub Actions conclusion -> the build result vocabulary of the store
RUN_RESULTS = {
    "success": "success",
    "neutral": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    "action_required": "failure",
    "cancelled": "aborted",
    "stale": "aborted",
    "skipped": "skipped",
}
#: deployment status state -> the deployment status vocabulary of the store
DEPLOYMENT_STATES = {
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "inactive": "success",  # superseded by a later deployment: it had succeeded
    "pending": "running",
    "queued": "running",
    "in_progress": "running",
    "unknown": "unknown",
}
PENDING_DEPLOYMENT_STATES = {"pending", "queued", "in_progress"}
#: the status of a deployment that never got one within ``deployment_status_max_age_h``
NO_STATUS = "unknown"


def when(value: Any, field: str) -> dt.datetime:
    """An ISO-8601 timestamp from GitHub as an aware datetime; MalformedRecord if it is not one."""
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


def _obj(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"{what} is not an object: {type(raw).__name__}")
    return raw


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRecord(f"{field} is not an integer: {value!r}")
    return value


def _login(user: Any) -> str | None:
    if isinstance(user, Mapping) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)


# --- pull requests ------------------------------------------------------------------------


def _review_summary(reviews: list[dict[str, Any]], author: str | None) -> dict[str, Any]:
    submitted = [r for r in reviews if r["submitted_at"] is not None and r["state"] != "PENDING"]
    # A reply by the author in the review thread is not a review of their own change.
    by_others = [r for r in submitted if r["reviewer_login"] != author or author is None]
    approvals = [r for r in by_others if r["state"] == "APPROVED"]
    return {
        "first_review_at": min((r["submitted_at"] for r in by_others), default=None),
        "approved_at": min((r["submitted_at"] for r in approvals), default=None),
        "review_count": len(by_others),
        "approval_count": len({r["reviewer_login"] or r["external_id"] for r in approvals}),
    }


def review_rest(raw: Any) -> dict[str, Any]:
    """A review from ``GET /repos/{o}/{r}/pulls/{n}/reviews``."""
    raw = _obj(raw, "review")
    return {
        "external_id": str(_int(raw.get("id"), "review.id")),
        "state": _text(raw.get("state")) or "COMMENTED",
        "submitted_at": maybe_when(raw.get("submitted_at"), "review.submitted_at"),
        "reviewer_login": _login(raw.get("user")),
        "commit_sha": raw.get("commit_id") if isinstance(raw.get("commit_id"), str) else None,
    }


def _labels(values: Any) -> list[str]:
    """Label names from a REST list of label objects or a GraphQL ``{nodes: [{name}]}``."""
    if isinstance(values, Mapping):
        values = values.get("nodes")
    names = []
    for label in values or []:
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str) and name:
            names.append(name)
    return sorted(set(names))


def _label_fields(labels: list[str], hotfix_labels: Sequence[str]) -> dict[str, Any]:
    wanted = {x.casefold() for x in hotfix_labels}
    return {
        "labels": json.dumps(labels, ensure_ascii=False) if labels else None,
        "is_hotfix": any(label.casefold() in wanted for label in labels),
    }


def pull_request_rest(
    raw: Any, reviews: list[Any] | None = None, *, hotfix_labels: Sequence[str] = ()
) -> dict[str, Any]:
    """A pull request from the REST list (reviews fetched separately)."""
    raw = _obj(raw, "pull request")
    base, head = _obj(raw.get("base"), "base"), _obj(raw.get("head"), "head")
    merged_at = maybe_when(raw.get("merged_at"), "merged_at")
    author = _login(raw.get("user"))
    parsed_reviews = [review_rest(r) for r in reviews or []]
    state = "merged" if merged_at else _text(raw.get("state")) or "open"
    row = {
        "number": _int(raw.get("number"), "number"),
        "external_id": str(_int(raw.get("id"), "id")),
        "title": _text(raw.get("title")),
        "state": state,
        "author_login": author,
        "base_branch": base.get("ref"),
        "head_branch": head.get("ref"),
        "head_sha": head.get("sha"),
        "merge_commit_sha": raw.get("merge_commit_sha") if merged_at else None,
        "created_at": when(raw.get("created_at"), "created_at"),
        "updated_at": maybe_when(raw.get("updated_at"), "updated_at"),
        "merged_at": merged_at,
        "closed_at": maybe_when(raw.get("closed_at"), "closed_at"),
        "first_commit_at": None,
        # The list payload has no sizes; a single-PR GET would, at one request per PR.
        "additions": raw.get("additions") if isinstance(raw.get("additions"), int) else None,
        "deletions": raw.get("deletions") if isinstance(raw.get("deletions"), int) else None,
        "commits_count": raw.get("commits") if isinstance(raw.get("commits"), int) else None,
        "reviews": parsed_reviews,
        **_label_fields(_labels(raw.get("labels")), hotfix_labels),
    }
    row.update(_review_summary(parsed_reviews, author))
    return row


def pull_request_graphql(node: Any, *, hotfix_labels: Sequence[str] = ()) -> dict[str, Any]:
    """A pull request node of the GraphQL query in ``streams.PR_QUERY``, reviews included."""
    node = _obj(node, "pull request")
    author = _login(node.get("author"))
    reviews_conn = _obj(node.get("reviews") or {"nodes": []}, "reviews")
    reviews = []
    for r in reviews_conn.get("nodes") or []:
        r = _obj(r, "review")
        commit: Mapping[str, Any] = r["commit"] if isinstance(r.get("commit"), Mapping) else {}
        reviews.append(
            {
                "external_id": str(_int(r.get("databaseId"), "review.databaseId")),
                "state": _text(r.get("state")) or "COMMENTED",
                "submitted_at": maybe_when(r.get("submittedAt"), "review.submittedAt"),
                "reviewer_login": _login(r.get("author")),
                "commit_sha": commit.get("oid"),
            }
        )
    merged_at = maybe_when(node.get("mergedAt"), "mergedAt")
    state = _text(node.get("state")).lower() or "open"
    first_commit_at = None
    first = node.get("firstCommit")
    if isinstance(first, Mapping) and first.get("nodes"):
        commit = _obj(first["nodes"][0], "commit").get("commit") or {}
        first_commit_at = maybe_when(commit.get("authoredDate"), "authoredDate")
    commits = node.get("commits")
    merge_commit = node.get("mergeCommit")
    row = {
        "number": _int(node.get("number"), "number"),
        "external_id": str(_int(node.get("databaseId"), "databaseId")),
        "title": _text(node.get("title")),
        "state": "merged" if merged_at else state,
        "author_login": author,
        "base_branch": node.get("baseRefName"),
        "head_branch": node.get("headRefName"),
        "head_sha": node.get("headRefOid"),
        "merge_commit_sha": merge_commit.get("oid") if isinstance(merge_commit, Mapping) else None,
        "created_at": when(node.get("createdAt"), "createdAt"),
        "updated_at": maybe_when(node.get("updatedAt"), "updatedAt"),
        "merged_at": merged_at,
        "closed_at": maybe_when(node.get("closedAt"), "closedAt"),
        "first_commit_at": first_commit_at,
        "additions": node.get("additions") if isinstance(node.get("additions"), int) else None,
        "deletions": node.get("deletions") if isinstance(node.get("deletions"), int) else None,
        "commits_count": commits.get("totalCount") if isinstance(commits, Mapping) else None,
        "reviews": reviews,
        "reviews_total": reviews_conn.get("totalCount"),
        **_label_fields(_labels(node.get("labels")), hotfix_labels),
    }
    row.update(_review_summary(reviews, author))
    return row


# --- commits, tags ------------------------------------------------------------------------


def commit(raw: Any) -> dict[str, Any]:
    """A commit from ``GET /repos/{o}/{r}/commits``: no sizes (those cost one GET per commit)."""
    raw = _obj(raw, "commit")
    inner = _obj(raw.get("commit"), "commit.commit")
    author = _obj(inner.get("author"), "commit.author")
    committer = _obj(inner.get("committer"), "commit.committer")
    parents = [p.get("sha") for p in raw.get("parents") or [] if isinstance(p, Mapping)]
    sha = raw.get("sha")
    if not isinstance(sha, str) or not sha:
        raise MalformedRecord("commit without a sha")
    identity = author.get("email") or _login(raw.get("author")) or author.get("name") or ""
    return {
        "sha": sha,
        "parents": " ".join(p for p in parents if isinstance(p, str)),
        "author_identity": str(identity),
        "authored_at": when(author.get("date"), "commit.author.date"),
        "author_tz_offset": 0,  # the API gives UTC only
        "committed_at": when(committer.get("date"), "commit.committer.date"),
        "committer_tz_offset": 0,
        "is_merge": len(parents) > 1,
        "subject": _text(inner.get("message")).split("\n", 1)[0][:1000],
        "on_default_branch": True,
    }


def tag(raw: Any) -> dict[str, Any]:
    """A tag from ``GET /repos/{o}/{r}/tags`` (the list does not say whether it is annotated)."""
    raw = _obj(raw, "tag")
    name = raw.get("name")
    sha = _obj(raw.get("commit"), "tag.commit").get("sha")
    if not isinstance(name, str) or not isinstance(sha, str):
        raise MalformedRecord("tag without a name or a commit sha")
    return {"name": name, "sha": sha}


def release(raw: Any) -> dict[str, Any]:
    """A release: its tag and when it was published."""
    raw = _obj(raw, "release")
    name = raw.get("tag_name")
    if not isinstance(name, str) or not name:
        raise MalformedRecord("release without a tag_name")
    created = when(raw.get("created_at"), "created_at")
    return {
        "name": name,
        "created_at": created,
        "tagged_at": maybe_when(raw.get("published_at"), "published_at") or created,
        "draft": bool(raw.get("draft")),
    }


# --- workflow runs, deployments -----------------------------------------------------------


def workflow_run(raw: Any) -> dict[str, Any]:
    """A GitHub Actions run from ``GET /repos/{o}/{r}/actions/runs``."""
    raw = _obj(raw, "workflow run")
    started = when(raw.get("run_started_at") or raw.get("created_at"), "run_started_at")
    status = raw.get("status")
    completed = status == "completed"
    duration = None
    if completed and raw.get("updated_at"):
        duration = max(0.0, (when(raw["updated_at"], "updated_at") - started).total_seconds())
    conclusion = raw.get("conclusion")
    result = RUN_RESULTS.get(str(conclusion), str(conclusion)) if completed else "running"
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "job": workflow_name(raw),
        "number": raw.get("run_number") if isinstance(raw.get("run_number"), int) else None,
        "commit_sha": raw.get("head_sha"),
        "branch": raw.get("head_branch"),
        "event": raw.get("event"),
        "result": result,
        "started_at": started,
        "duration_s": duration,
        "url": raw.get("html_url"),
        "created_at": when(raw.get("created_at"), "created_at"),
        "completed": completed,
    }


def workflow_name(raw: Mapping[str, Any]) -> str:
    """The job a run belongs to: its workflow's name, else the workflow file's path, else the
    workflow's id (older servers and some event-made runs send no name), never one shared
    catch-all that would merge unrelated workflows."""
    for key in ("name", "path"):
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:500]
    workflow_id = raw.get("workflow_id")
    if isinstance(workflow_id, int) and not isinstance(workflow_id, bool):
        return f"workflow {workflow_id}"
    url = raw.get("workflow_url")
    if isinstance(url, str) and url.rstrip("/").rsplit("/", 1)[-1].isdigit():
        return f"workflow {url.rstrip('/').rsplit('/', 1)[-1]}"
    return "workflow"


def is_automation(raw: Mapping[str, Any], automation_logins: Sequence[str]) -> bool:
    """A deployment is automated when a bot, a GitHub App or a configured login created it.

    GitHub Actions deploys as ``github-actions[bot]`` (type ``Bot``) or through an App
    (``performed_via_github_app``); a person's login means someone pressed the button.
    """
    creator: Mapping[str, Any] = raw["creator"] if isinstance(raw.get("creator"), Mapping) else {}
    login = _login(creator) or ""
    return bool(
        raw.get("performed_via_github_app")
        or creator.get("type") == "Bot"
        or login.endswith("[bot]")
        or (login and matches_any(login, automation_logins))
    )


def deployment(
    raw: Any,
    statuses: list[Any],
    *,
    automation_logins: Sequence[str],
    hotfix_patterns: Sequence[str],
    rollback_patterns: Sequence[str],
    status_max_age: dt.timedelta = dt.timedelta(hours=24),
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A deployment and the statuses GitHub lists for it (newest first).

    A deployment without any status is ``running`` (pending, read again) until it is older
    than ``status_max_age``; then it is final with status ``unknown``: no tool ever said how
    it went, so it is neither a success nor a failure.
    """
    raw = _obj(raw, "deployment")
    environment = raw.get("environment")
    if not isinstance(environment, str) or not environment:
        raise MalformedRecord("deployment without an environment")
    created = when(raw.get("created_at"), "created_at")
    parsed = [_obj(s, "deployment status") for s in statuses]
    parsed.sort(key=lambda s: (when(s.get("created_at"), "status.created_at"), s.get("id") or 0))
    meaningful = [s for s in parsed if s.get("state") != "inactive"] or parsed
    latest = meaningful[-1] if meaningful else None
    state = str(latest.get("state")) if latest else "pending"
    now = now or dt.datetime.now(dt.UTC)
    if latest is None and now - created >= status_max_age:
        state = NO_STATUS
    finished = None
    if latest is not None and state not in PENDING_DEPLOYMENT_STATES:
        finished = when(latest.get("created_at"), "status.created_at")
    ref = raw.get("ref") if isinstance(raw.get("ref"), str) else None
    words = [w for w in (ref, raw.get("description"), raw.get("task")) if isinstance(w, str)]
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "environment": environment,
        "version": ref,
        "commit_sha": raw.get("sha"),
        "started_at": created,
        "finished_at": finished,
        "status": DEPLOYMENT_STATES.get(state, state),
        "trigger": "automated" if is_automation(raw, automation_logins) else "manual",
        "is_rollback": any(matches_any(w, rollback_patterns) for w in words),
        "is_hotfix": any(matches_any(w, hotfix_patterns) for w in words),
        "url": raw.get("url"),
        "pending": state in PENDING_DEPLOYMENT_STATES,
    }


# --- issues -------------------------------------------------------------------------------


def issue(raw: Any, *, incident_labels: Sequence[str]) -> dict[str, Any] | None:
    """An issue, or None for the pull requests that the issues API also lists."""
    raw = _obj(raw, "issue")
    pull = raw.get("pull_request")
    # Old payloads give every issue a "pull_request" object, with null URLs for plain issues.
    if isinstance(pull, Mapping) and any(pull.get(k) for k in ("url", "html_url", "diff_url")):
        return None
    labels = [
        str(label.get("name")) if isinstance(label, Mapping) else str(label)
        for label in raw.get("labels") or []
    ]
    wanted = {x.casefold() for x in incident_labels}
    state = _text(raw.get("state")) or "open"
    kind = raw.get("type")
    return {
        "external_id": str(_int(raw.get("id"), "id")),
        "key": f"#{_int(raw.get('number'), 'number')}",
        "title": _text(raw.get("title")),
        "issue_type": kind.get("name") if isinstance(kind, Mapping) else None,
        "status": state,
        "status_category": "done" if state == "closed" else "new",
        "labels": json.dumps(labels, ensure_ascii=False) if labels else None,
        "created_at": when(raw.get("created_at"), "created_at"),
        "updated_at": maybe_when(raw.get("updated_at"), "updated_at"),
        "resolved_at": maybe_when(raw.get("closed_at"), "closed_at"),
        "is_incident": any(label.casefold() in wanted for label in labels),
        "url": raw.get("html_url"),
    }
