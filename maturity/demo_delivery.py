"""The demo's delivery history: CI runs, deployments, incidents and the pull requests of merged
branches, matching its git history.

Each demo team delivers in its own way (every merge through staging to production, weekly
push-button releases, quarterly manual deployments...), so that the demo organisation spreads
across the maturity levels. The events are written as JSON lines in the documented schema of
``maturity ingest`` and go into the store through that same path.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class RepoHistory(Protocol):
    """What the git generator tells about one repository (see ``maturity.demo.history``)."""

    team: str
    repository: str
    default_branch: str
    default_commits: list[tuple[str, str]]
    tags: list[tuple[str, str, str]]
    merges: list[tuple[str, str, str]]
    branch_commits: list[tuple[str, str]]


@dataclass(frozen=True)
class Delivery:
    """How a team builds, promotes and deploys, as the generator plays it."""

    has_ci: bool
    build_success: float
    tests_published: bool
    lint: bool
    qa: bool
    staging: bool
    cadence: str  # "commit", "weekly", "monthly" or "quarterly"
    automated_pre: bool
    automated_prod: bool
    failure_rate: float
    restore_hours: tuple[float, float]
    promote_after_hours: float
    reviewed: float  # share of merged pull requests with a review


DELIVERY: dict[str, Delivery] = {
    "payments": Delivery(
        True, 0.95, True, True, True, True, "commit", True, True, 0.04, (0.3, 1.5), 1, 0.97
    ),
    "search": Delivery(
        True, 0.88, True, False, False, True, "weekly", True, False, 0.12, (2, 20), 24, 0.9
    ),
    "platform": Delivery(
        True, 0.86, False, True, True, True, "monthly", False, False, 0.15, (4, 48), 48, 0.6
    ),
    "data": Delivery(
        True, 0.78, True, False, True, False, "monthly", False, False, 0.25, (24, 120), 24, 0.35
    ),
    "mobile": Delivery(
        False, 0.0, False, False, False, False, "quarterly", False, False, 0.35, (48, 300), 0, 0
    ),
    # the monorepo shared by checkout and catalog (its history's team is the first of them)
    "checkout": Delivery(
        True, 0.9, True, True, False, True, "weekly", True, True, 0.1, (1, 8), 12, 0.8
    ),
}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _release_points(commits: Sequence[tuple[str, dt.datetime]], cadence: str) -> list[int]:
    """Indexes of the commits a team releases: every one, or the last of each week/month/quarter."""
    if cadence == "commit":
        return list(range(len(commits)))
    last: dict[tuple[int, int], int] = {}
    for i, (_, when) in enumerate(commits):
        iso = when.isocalendar()
        bucket = {
            "weekly": (iso.year, iso.week),
            "monthly": (when.year, when.month),
            "quarterly": (when.year, (when.month - 1) // 3),
        }[cadence]
        last[bucket] = i
    return sorted(last.values())


def events_for(repo: RepoHistory, delivery: Delivery, seed: int) -> Iterator[dict[str, Any]]:
    """Every build, deployment and incident event of one demo repository, oldest first."""
    rng = random.Random(f"{seed}:{repo.repository}")
    service = repo.repository
    commits = [(sha, dt.datetime.fromisoformat(when)) for sha, when in repo.default_commits]
    tags = {sha: name for name, sha, _ in repo.tags}
    passed: dict[str, str] = {}
    for number, (sha, when) in enumerate(commits, start=1):
        if not delivery.has_ci:
            break
        ok = rng.random() < delivery.build_success
        build_id = f"{service}-{number}"
        if ok:
            passed[sha] = build_id
        event: dict[str, Any] = {
            "kind": "build",
            "id": build_id,
            "pipeline": service,
            "job": f"{service}/main",
            "number": number,
            "commit_sha": sha,
            "branch": "main",
            "result": "success" if ok else "failure",
            "stage": "test",
            "started_at": _iso(when + dt.timedelta(minutes=2)),
            "duration_s": round(rng.uniform(180, 900), 1),
            "lint": delivery.lint,
        }
        if delivery.tests_published:
            total = 400 + number
            event["tests"] = {
                "total": total,
                "failed": 0 if ok else rng.randint(1, 5),
                "skipped": 2,
            }
        yield event
    incident = 0
    for index in _release_points(commits, delivery.cadence):
        sha, when = commits[index]
        if delivery.has_ci and sha not in passed:
            continue  # a red build is never released
        version = tags.get(sha, f"{when:%Y.%m.%d}-{sha[:7]}")
        start = when + dt.timedelta(minutes=20)
        for env, present in (("qa", delivery.qa), ("staging", delivery.staging)):
            if not present:
                continue
            yield _deployment(
                service, env, sha, version, start, "success", delivery.automated_pre, passed
            )
            start += dt.timedelta(minutes=25)
        start += dt.timedelta(hours=delivery.promote_after_hours)
        failed = rng.random() < delivery.failure_rate
        broke_deploy = failed and rng.random() < 0.4
        prod = _deployment(
            service,
            "production",
            sha,
            version,
            start,
            "failure" if broke_deploy else "success",
            delivery.automated_prod,
            passed,
        )
        yield prod
        if not failed:
            continue
        restore = dt.timedelta(hours=rng.uniform(*delivery.restore_hours))
        if broke_deploy:
            rollback = _deployment(
                service,
                "production",
                sha,
                version,
                start + restore,
                "success",
                delivery.automated_prod,
                passed,
                suffix="rollback",
            )
            rollback["rollback"] = True
            yield rollback
            continue
        incident += 1
        yield {
            "kind": "incident",
            "id": f"inc-{service}-{incident}",
            "service": service,
            "key": f"INC-{incident}",
            "title": rng.choice(
                [
                    "Checkout errors after release",
                    "Latency spike",
                    "Jobs stuck in queue",
                    "Login fails for some users",
                    "Stale search results",
                ]
            ),
            "started_at": _iso(start + dt.timedelta(minutes=30)),
            "resolved_at": _iso(start + dt.timedelta(minutes=30) + restore),
            "priority": rng.choice(["P1", "P2", "P2", "P3"]),
            "deployment": prod["id"],
        }
        fix = _deployment(
            service,
            "production",
            sha,
            version + "-hotfix",
            start + restore,
            "success",
            delivery.automated_prod,
            passed,
            suffix="hotfix",
        )
        fix["hotfix"] = True
        yield fix


def _deployment(
    service: str,
    env: str,
    sha: str,
    version: str,
    start: dt.datetime,
    status: str,
    automated: bool,
    passed: dict[str, str],
    *,
    suffix: str = "",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "deployment",
        "id": f"{service}-{env}-{sha[:12]}{'-' + suffix if suffix else ''}",
        "service": service,
        "environment": env,
        "version": version,
        "commit_sha": sha,
        "status": status,
        "started_at": _iso(start),
        "finished_at": _iso(start + dt.timedelta(minutes=4)),
        "trigger": "automated" if automated else "manual",
    }
    if sha in passed:
        event["build"] = passed[sha]
    return event


def branch_builds_for(repo: RepoHistory, delivery: Delivery, seed: int) -> Iterator[dict[str, Any]]:
    """CI runs of the commits pushed to branches, as CI runs them for a pull request."""
    if not delivery.has_ci:
        return
    rng = random.Random(f"{seed}:{repo.repository}:branches")
    service = repo.repository
    for number, (sha, when) in enumerate(repo.branch_commits, start=1):
        ok = rng.random() < delivery.build_success
        event: dict[str, Any] = {
            "kind": "build",
            "id": f"{service}-branch-{number}",
            "pipeline": service,
            "job": f"{service}/branches",
            "number": number,
            "commit_sha": sha,
            "branch": "feature",
            "result": "success" if ok else "failure",
            "stage": "test",
            "started_at": _iso(dt.datetime.fromisoformat(when) + dt.timedelta(minutes=2)),
            "duration_s": round(rng.uniform(180, 900), 1),
            "lint": delivery.lint,
        }
        if delivery.tests_published:  # the same pipeline as on main: it publishes its tests
            event["tests"] = {"total": 400, "failed": 0 if ok else rng.randint(1, 5), "skipped": 2}
        yield event


def pull_requests_for(repo: RepoHistory, delivery: Delivery, seed: int) -> Iterator[dict[str, Any]]:
    """A merged pull request for every merged branch: opened after its first commit, reviewed
    for the team's share of them, merged by the merge commit."""
    rng = random.Random(f"{seed}:{repo.repository}:pull-requests")
    for number, (sha, merged, first) in enumerate(repo.merges, start=1):
        merged_at = dt.datetime.fromisoformat(merged)
        first_at = dt.datetime.fromisoformat(first)
        if merged_at < first_at:  # generated clocks; never expected
            continue
        created = first_at + (merged_at - first_at) * rng.uniform(0.05, 0.5)
        event: dict[str, Any] = {
            "kind": "pull_request",
            "id": f"{repo.repository}!{number}",
            "repository": repo.repository,
            "number": number,
            "state": "merged",
            "created_at": _iso(created),
            "first_commit_at": _iso(first_at),
            "merged_at": _iso(merged_at),
            "merge_commit_sha": sha,
            "base_branch": repo.default_branch,
        }
        if rng.random() < delivery.reviewed:
            review = created + (merged_at - created) * rng.uniform(0.2, 0.9)
            event |= {"first_review_at": _iso(review), "reviews": rng.randint(1, 3)}
            if rng.random() < 0.9:
                event |= {"approved_at": _iso(review), "approvals": 1}
        yield event


def write_events(repos: Sequence[RepoHistory], path: Path, seed: int) -> int:
    """Write every demo team's events to ``path`` as JSON lines; returns how many."""
    count = 0
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as out:
        for repo in repos:
            delivery = DELIVERY.get(repo.team)
            if delivery is None:
                continue
            for event in events_for(repo, delivery, seed):
                out.write(json.dumps(event, sort_keys=True) + "\n")
                count += 1
            for event in [
                *branch_builds_for(repo, delivery, seed),
                *pull_requests_for(repo, delivery, seed),
            ]:
                out.write(json.dumps(event, sort_keys=True) + "\n")
                count += 1
    tmp.replace(path)
    return count
