"""Small factories that build a team's history: rows for the store and frames for metrics."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from maturity import metrics
from maturity.store import inputs, tables, write

UTC = dt.UTC
_seq = itertools.count(1)


def at(day: str, hour: int = 12, minute: int = 0, tz: dt.tzinfo = UTC) -> dt.datetime:
    """A timestamp on ``day`` (YYYY-MM-DD) at ``hour``:``minute`` in ``tz``."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz)


def sha(label: object) -> str:
    return hashlib.sha1(str(label).encode()).hexdigest()


def commit(team_id: int = 1, when: dt.datetime | None = None, **kw: Any) -> dict[str, Any]:
    n = next(_seq)
    when = when or at("2026-03-01")
    row = {
        "repository_id": 1,
        "team_id": team_id,
        "sha": sha(f"c{n}"),
        "authored_at": when,
        "committed_at": when,
        "is_merge": False,
        "on_default_branch": True,
        "test_files": 0,
        "ci_files": 0,
        "infra_files": 0,
        "docs_files": 0,
        "has_issue_key": False,
        "parents": "",
    }
    row.update(kw)
    return row


def build(team_id: int = 1, when: dt.datetime | None = None, **kw: Any) -> dict[str, Any]:
    row = {
        "team_id": team_id,
        "started_at": when or at("2026-03-01"),
        "result": "success",
        "tests_total": None,
        "has_lint": None,
        "commit_sha": None,
    }
    row.update(kw)
    return row


def deployment(team_id: int = 1, when: dt.datetime | None = None, **kw: Any) -> dict[str, Any]:
    n = next(_seq)
    when = when or at("2026-03-01")
    row = {
        "team_id": team_id,
        "repository_id": None,
        "external_id": f"d{n}",
        "service": "api",
        "environment": "production",
        "version": None,
        "commit_sha": None,
        "started_at": when,
        "finished_at": when,
        "status": "success",
        "trigger": None,
        "is_rollback": False,
        "is_hotfix": False,
    }
    row.update(kw)
    return row


def issue(team_id: int = 1, created: dt.datetime | None = None, **kw: Any) -> dict[str, Any]:
    row = {
        "team_id": team_id,
        "created_at": created or at("2026-03-01"),
        "updated_at": None,
        "resolved_at": None,
        "is_incident": True,
        "service": None,
        "deployment_ref": None,
    }
    row.update(kw)
    return row


def pull_request(team_id: int = 1, **kw: Any) -> dict[str, Any]:
    row = {
        "repository_id": 1,
        "team_id": team_id,
        "created_at": at("2026-03-01"),
        "first_commit_at": None,
        "merged_at": at("2026-03-02"),
        "reviewed": True,
        "merge_commit_sha": None,
        "commits_count": None,
    }
    row.update(kw)
    return row


def tag(team_id: int = 1, **kw: Any) -> dict[str, Any]:
    row = {
        "repository_id": 1,
        "team_id": team_id,
        "sha": sha("t"),
        "on_default_branch": True,
        "at": at("2026-03-01"),
    }
    row.update(kw)
    return row


def _frame(rows: list[dict[str, Any]], template: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(template))
    for col, value in template.items():
        if isinstance(value, dt.datetime) or col.endswith("_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    return frame


def frames(
    team_ids: list[int] | None = None,
    *,
    commits: list[dict[str, Any]] = (),  # type: ignore[assignment]
    builds: list[dict[str, Any]] = (),  # type: ignore[assignment]
    deployments: list[dict[str, Any]] = (),  # type: ignore[assignment]
    issues: list[dict[str, Any]] = (),  # type: ignore[assignment]
    pull_requests: list[dict[str, Any]] = (),  # type: ignore[assignment]
    tags: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> metrics.Frames:
    """Frames shaped like ``inputs.scoring_frames`` from row dictionaries (no store)."""
    c = _frame(list(commits), commit())
    c["sha_hash"] = inputs.sha_hash(c.pop("sha"))
    c["on_default_branch"] = c["on_default_branch"].astype("boolean")
    inputs.parent_columns(c)
    b = _frame(list(builds), build())
    b["sha_hash"] = inputs.sha_hash(b.pop("commit_sha"))
    b["tests_total"] = pd.to_numeric(b["tests_total"]).astype("Float64")
    b["has_lint"] = b["has_lint"].astype("boolean")
    d = _frame(list(deployments), deployment())
    d["sha_hash"] = inputs.sha_hash(d.pop("commit_sha"))
    d["repository_id"] = pd.to_numeric(d["repository_id"]).astype("Float64")
    i = _frame(list(issues), issue())
    p = _frame(list(pull_requests), pull_request())
    p["merge_sha_hash"] = inputs.sha_hash(p.pop("merge_commit_sha"))
    t = _frame(list(tags), tag())
    t["sha_hash"] = inputs.sha_hash(t.pop("sha"))
    t["on_default_branch"] = t["on_default_branch"].astype("boolean")
    return metrics.Frames(
        team_ids=team_ids or [1],
        commits=c,
        tags=t,
        pull_requests=p,
        builds=b,
        deployments=d,
        issues=i,
    )


# --- the store ----------------------------------------------------------------------------


class StoreHistory:
    """Writes a team's history into a real store through ``write.upsert``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def team(self, name: str) -> int:
        t = tables.Team(name=name, slug=name.lower())
        self.session.add(t)
        self.session.flush()
        return t.id

    def repository(self, team_id: int, name: str) -> int:
        r = tables.Repository(
            key=f"git:/{name}",
            kind="git",
            name=name,
            location=f"/{name}",
            default_branch="main",
            team_id=team_id,
        )
        self.session.add(r)
        self.session.flush()
        return r.id

    def commits(self, repo_id: int, rows: list[dict[str, Any]]) -> None:
        out = []
        for r in rows:
            row = {k: v for k, v in r.items() if k not in ("team_id", "has_issue_key")}
            row.setdefault("parents", "")
            row.update(
                repository_id=repo_id,
                author_hash="a" * 16,
                author_tz_offset=0,
                committer_tz_offset=0,
                issue_keys="PAY-1" if r.get("has_issue_key") else None,
            )
            out.append(row)
        write.upsert(self.session, tables.Commit, out, ["repository_id", "sha"])

    def builds(self, rows: list[dict[str, Any]]) -> None:
        out = [
            {
                **r,
                "source": "jenkins",
                "scope": "job",
                "external_id": f"b{next(_seq)}",
                "job": "job",
            }
            for r in rows
        ]
        write.upsert(self.session, tables.Build, out, ["source", "scope", "external_id"])

    def deployments(self, rows: list[dict[str, Any]]) -> None:
        out = [{**r, "source": "events", "scope": "api"} for r in rows]
        write.upsert(self.session, tables.Deployment, out, ["source", "scope", "external_id"])

    def issues(self, rows: list[dict[str, Any]]) -> None:
        out = []
        for r in rows:
            n = next(_seq)
            out.append(
                {**r, "source": "jira", "scope": "PAY", "external_id": str(n), "key": f"PAY-{n}"}
            )
        write.upsert(self.session, tables.Issue, out, ["source", "scope", "external_id"])

    def pull_requests(self, repo_id: int, rows: list[dict[str, Any]]) -> None:
        out = []
        for r in rows:
            n = next(_seq)
            row = {k: v for k, v in r.items() if k not in ("team_id", "reviewed")}
            row.update(
                repository_id=repo_id,
                number=n,
                external_id=str(n),
                state="merged",
                review_count=1 if r.get("reviewed") else 0,
            )
            out.append(row)
        write.upsert(self.session, tables.PullRequest, out, ["repository_id", "number"])

    def tags(self, repo_id: int, rows: list[dict[str, Any]]) -> None:
        out = []
        for r in rows:
            out.append(
                {
                    "repository_id": repo_id,
                    "name": f"v{next(_seq)}",
                    "sha": r["sha"],
                    "tagged_at": r["at"],
                    "is_annotated": True,
                    "on_default_branch": r["on_default_branch"],
                }
            )
        write.upsert(self.session, tables.Tag, out, ["repository_id", "name"])
