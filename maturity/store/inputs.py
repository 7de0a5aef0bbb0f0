"""The scoring inputs: the collected rows metrics need, as compact pandas frames.

:func:`scoring_frames` reads commits, tags, pull requests, builds, deployments and issues of a
range, a chunk at a time, converting each chunk to compact columns (UTC timestamps, 64-bit sha
hashes, flags as booleans) before the next is read; :func:`source_bounds` gives the first and
the newest record before the range per team and kind of source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, or_, select, true, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from maturity.store import tables

#: rows converted at a time when reading frames for scoring
READ_CHUNK = 250_000


def _raw(col: Any) -> Any:
    """A column read as the driver returns it: frames convert whole columns at once."""
    return type_coerce(col, NullType()).label(col.key)


def _frame(
    session: Session,
    stmt: Any,
    columns: list[str],
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Rows of ``stmt`` as a frame, read and converted ``chunk`` rows at a time.

    The selected columns have no result processing (see :func:`_raw`), so the driver's own
    tuples are the values: fetching them from its cursor skips building a Row for every record.
    ``prepare`` turns each chunk into compact columns (timestamps, hashes) before the next is
    read, so that two million commits never sit in memory as Python strings all at once.
    """
    chunk = READ_CHUNK
    parts = []
    # The driver's own tuples, fetched from its cursor, skip building a Row for every record.
    # (PostgreSQL's client library then holds the whole result; a server-side cursor would
    # keep memory lower but made the two-year backfill 11 s slower: see docs/benchmarks.md.)
    result = session.connection().execute(stmt)
    cursor = result.cursor
    while cursor is not None:
        fetched = cursor.fetchmany(chunk)
        if not fetched:
            break
        part = pd.DataFrame.from_records(fetched, columns=columns)
        del fetched
        parts.append(prepare(part) if prepare else part)
    result.close()
    if not parts:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        return prepare(empty) if prepare else empty
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _utc(frame: pd.DataFrame, *cols: str) -> None:
    for col in cols:
        values = frame[col]
        if (
            values.dtype == object
            and len(values)
            and isinstance(values.dropna().iloc[0] if values.notna().any() else None, str)
        ):
            frame[col] = pd.to_datetime(values, format="ISO8601", utc=True)
        else:
            frame[col] = pd.to_datetime(values, utc=True)
        frame[col] = frame[col].astype("datetime64[us, UTC]")


def _bool(frame: pd.DataFrame, *cols: str) -> None:
    for col in cols:
        frame[col] = frame[col].astype("boolean").fillna(False).astype(bool)


def sha_hash(values: pd.Series) -> np.ndarray:
    """64-bit hashes of commit shas (0 for none): joins on integers, not 40-byte strings."""
    arr = values.to_numpy(dtype=object)
    missing = pd.isna(arr)
    arr = np.where(missing, "", arr).astype(object)
    out = pd.util.hash_array(arr, categorize=False).astype(np.uint64)
    out[missing] = 0
    return out


def parent_columns(frame: pd.DataFrame) -> None:
    """``parents`` (space-separated shas) as ``parent_hash`` (the first parent's, 0 for none)
    and ``more_parents`` (the other parents of a merge, as text; None otherwise)."""
    parents = frame.pop("parents").astype(object)
    if parents.empty:
        frame["parent_hash"] = np.zeros(0, dtype=np.uint64)
        frame["more_parents"] = pd.Series([], dtype=object)
        return
    split = parents.where(parents.notna(), "").astype(str).str.partition(" ")
    frame["parent_hash"] = sha_hash(split[0].where(split[0] != "", None))
    frame["more_parents"] = split[2].where(split[2] != "", None).astype(object)


def _prepare_builds(frame: pd.DataFrame) -> pd.DataFrame:
    _utc(frame, "started_at")
    frame["result"] = frame["result"].astype(object)
    frame["has_lint"] = frame["has_lint"].astype("boolean")
    frame["tests_total"] = pd.to_numeric(frame["tests_total"]).astype("Float64")
    frame["sha_hash"] = sha_hash(frame.pop("commit_sha"))
    frame["team_id"] = pd.to_numeric(frame["team_id"]).astype(np.int64)
    return frame


#: the team id of commits of shared repositories before they are attributed
SHARED = -1


def _teams_filter(col: Any, team_ids: Sequence[int] | None) -> Any:
    return col.in_(list(team_ids)) if team_ids is not None else col.is_not(None)


def _unowned(col: Any, shared: Sequence[int]) -> Any:
    """The team column, SHARED for rows without a team (only read with ``shared``)."""
    if not shared:
        return _raw(col)
    return type_coerce(func.coalesce(col, SHARED), NullType()).label(col.key)


def _team_or_shared(repo: Any, team_ids: Sequence[int] | None, shared: Sequence[int]) -> Any:
    """Repositories of the teams, and the shared ones whatever their team."""
    if not shared:
        return _teams_filter(repo.team_id, team_ids)
    return or_(_teams_filter(repo.team_id, team_ids), repo.id.in_(list(shared)))


def _or_unowned(
    model: Any, team_ids: Sequence[int] | None, shared: Sequence[int], shas: Any
) -> Any:
    if not shared:
        return _teams_filter(model.team_id, team_ids)
    unowned = and_(model.team_id.is_(None), model.commit_sha.in_(shas))
    return or_(_teams_filter(model.team_id, team_ids), unowned)


#: a table's read range ``[since, until)``; ``until`` None: every later record
Range = tuple[dt.datetime, dt.datetime | None]


def scoring_frames(
    session: Session,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    ranges: Mapping[str, Range] | None = None,
    team_ids: Sequence[int] | None = None,
    shared: Sequence[int] = (),
) -> dict[str, pd.DataFrame]:
    """The columns metrics need, for records of the given teams in each table's range.

    Args:
        ranges: per table (``maturity.metrics.READ_TABLES``) its ``[since, until)``, as the
            metric rules need them (``maturity.snapshots.read_ranges``); tables it does not name
            are read over ``[since, until)``.

    The commits, tags and pull requests of the ``shared`` repositories (split between teams by
    path rules) are read whatever their team, with team id :data:`SHARED` on commits, for
    ``maturity.attribution`` to give them to the teams they belong to.

    Returns:
        name to frame: commits, tags, pull_requests, builds, deployments, issues, and bounds
        (per team and kind: the first record ever and the newest before the kind's range).
    """
    if since is None and not ranges:
        raise ValueError("scoring_frames needs since and until, or ranges")

    def span(table: str) -> tuple[dt.datetime, dt.datetime | None]:
        found = (ranges or {}).get(table)
        if found is not None:
            return found
        assert since is not None
        return since, until

    def within(col: Any, table: str) -> Any:
        lo, hi = span(table)
        return and_(col >= lo, col < hi) if hi is not None else col >= lo

    R, C = tables.Repository, tables.Commit
    # Seven yes/no facts of a commit travel as one small integer: reading two million commits
    # is dominated by the number of values the driver hands to Python.
    flags = (
        case((C.is_merge.is_(True), 1), else_=0)
        + case((C.on_default_branch.is_(True), 2), else_=0)
        + case((C.on_default_branch.is_(None), 4), else_=0)
        + case((C.test_files > 0, 8), else_=0)
        + case((C.ci_files > 0, 16), else_=0)
        + case((C.infra_files > 0, 32), else_=0)
        + case((C.docs_files > 0, 64), else_=0)
        + case((func.coalesce(C.issue_keys, "") != "", 128), else_=0)
    )
    repo_team = dict(
        session.execute(select(R.id, R.team_id).where(_teams_filter(R.team_id, team_ids))).all()
    )
    repo_team.update({int(r): SHARED for r in shared})

    def prepare_commits(frame: pd.DataFrame) -> pd.DataFrame:
        frame["repository_id"] = pd.to_numeric(frame["repository_id"]).astype(np.int64)
        frame["team_id"] = frame["repository_id"].map(repo_team).astype("float64")
        frame = frame[frame["team_id"].notna()].reset_index(drop=True)
        frame["team_id"] = frame["team_id"].astype(np.int64)
        _utc(frame, "authored_at", "committed_at")
        bits = pd.to_numeric(frame.pop("flags")).fillna(0).astype(np.int64).to_numpy()
        frame["is_merge"] = (bits & 1) > 0
        frame["on_default_branch"] = pd.array((bits & 2) > 0, dtype="boolean")
        frame.loc[(bits & 4) > 0, "on_default_branch"] = pd.NA
        for bit, col in (
            (8, "test_files"),
            (16, "ci_files"),
            (32, "infra_files"),
            (64, "docs_files"),
        ):
            frame[col] = ((bits & bit) > 0).astype(np.int8)
        frame["has_issue_key"] = (bits & 128) > 0
        frame["sha_hash"] = sha_hash(frame.pop("sha"))
        parent_columns(frame)
        return frame

    commits = _frame(
        session,
        select(
            _raw(C.repository_id),
            _raw(C.sha),
            _raw(C.authored_at),
            _raw(C.committed_at),
            type_coerce(flags, NullType()).label("flags"),
            _raw(C.parents),
        ).where(
            C.repository_id.in_(list(repo_team)) if team_ids is not None else true(),
            within(C.committed_at, "commits"),
        ),
        ["repository_id", "sha", "authored_at", "committed_at", "flags", "parents"],
        prepare_commits,
    )

    T = tables.Tag
    tagged_commit = C.__table__.alias("tagged")
    tags = _frame(
        session,
        select(
            _raw(T.repository_id),
            _raw(R.team_id),
            _raw(T.sha),
            _raw(T.on_default_branch),
            type_coerce(func.coalesce(T.tagged_at, tagged_commit.c.committed_at), NullType()).label(
                "at"
            ),
        )
        .join(R, R.id == T.repository_id)
        .outerjoin(
            tagged_commit,
            (tagged_commit.c.repository_id == T.repository_id) & (tagged_commit.c.sha == T.sha),
        )
        .where(_team_or_shared(R, team_ids, shared)),
        ["repository_id", "team_id", "sha", "on_default_branch", "at"],
    )
    _utc(tags, "at")
    tag_since, tag_until = span("tags")
    keep = tags["at"] >= pd.Timestamp(tag_since)
    if tag_until is not None:
        keep &= tags["at"] < pd.Timestamp(tag_until)
    tags = tags[keep]
    tags = tags.reset_index(drop=True)
    tags["on_default_branch"] = tags["on_default_branch"].astype("boolean")
    tags["sha_hash"] = sha_hash(tags.pop("sha"))

    P = tables.PullRequest
    prs = _frame(
        session,
        select(
            _raw(P.repository_id),
            _raw(R.team_id),
            _raw(P.created_at),
            _raw(P.first_commit_at),
            _raw(P.merged_at),
            _raw(P.review_count),
            _raw(P.approval_count),
            _raw(P.first_review_at),
            _raw(P.merge_commit_sha),
            _raw(P.commits_count),
        )
        .join(R, R.id == P.repository_id)
        .where(_team_or_shared(R, team_ids, shared), within(P.merged_at, "pull_requests")),
        [
            "repository_id",
            "team_id",
            "created_at",
            "first_commit_at",
            "merged_at",
            "review_count",
            "approval_count",
            "first_review_at",
            "merge_commit_sha",
            "commits_count",
        ],
    )
    _utc(prs, "created_at", "first_commit_at", "merged_at", "first_review_at")
    prs["reviewed"] = (
        (pd.to_numeric(prs["review_count"]).fillna(0) > 0)
        | (pd.to_numeric(prs["approval_count"]).fillna(0) > 0)
        | prs["first_review_at"].notna()
    ).astype(bool)
    prs["merge_sha_hash"] = sha_hash(prs.pop("merge_commit_sha"))

    B = tables.Build
    # builds and deployments no team owns by their job or service, of a commit of a shared
    # repository: read with team SHARED, for attribution by that commit's paths
    shared_shas = select(C.sha).where(C.repository_id.in_(list(shared))).scalar_subquery()
    builds = _frame(
        session,
        select(
            _unowned(B.team_id, shared),
            _raw(B.started_at),
            _raw(B.result),
            _raw(B.tests_total),
            _raw(B.has_lint),
            _raw(B.commit_sha),
        ).where(_or_unowned(B, team_ids, shared, shared_shas), within(B.started_at, "builds")),
        ["team_id", "started_at", "result", "tests_total", "has_lint", "commit_sha"],
        _prepare_builds,
    )
    builds["result"] = builds["result"].astype("category")

    D = tables.Deployment
    deps = _frame(
        session,
        select(
            _unowned(D.team_id, shared),
            _raw(D.repository_id),
            _raw(D.external_id),
            _raw(D.service),
            _raw(D.environment),
            _raw(D.version),
            _raw(D.commit_sha),
            _raw(D.started_at),
            _raw(D.finished_at),
            _raw(D.status),
            _raw(D.trigger),
            _raw(D.is_rollback),
            _raw(D.is_hotfix),
        )
        .where(_or_unowned(D, team_ids, shared, shared_shas), within(D.started_at, "deployments"))
        # one order whatever the range: rules that take "the next deployment" break ties alike
        .order_by(D.started_at, D.id),
        [
            "team_id",
            "repository_id",
            "external_id",
            "service",
            "environment",
            "version",
            "commit_sha",
            "started_at",
            "finished_at",
            "status",
            "trigger",
            "is_rollback",
            "is_hotfix",
        ],
    )
    _utc(deps, "started_at", "finished_at")
    _bool(deps, "is_rollback", "is_hotfix")
    deps["sha_hash"] = sha_hash(deps.pop("commit_sha"))
    deps["repository_id"] = pd.to_numeric(deps["repository_id"]).astype("Float64")
    deps["team_id"] = pd.to_numeric(deps["team_id"]).astype(np.int64)

    Iss = tables.Issue
    issue_since, issue_until = span("issues")
    issues = _frame(
        session,
        select(
            _raw(Iss.team_id),
            _raw(Iss.created_at),
            _raw(Iss.updated_at),
            _raw(Iss.resolved_at),
            _raw(Iss.is_incident),
            _raw(Iss.service),
            _raw(Iss.deployment_ref),
        ).where(
            _teams_filter(Iss.team_id, team_ids),
            or_(
                within(Iss.created_at, "issues"),
                and_(Iss.created_at < issue_since, within(Iss.resolved_at, "issues")),
                and_(Iss.created_at < issue_since, within(Iss.updated_at, "issues")),
                # an incident open at the start is open in the windows after it
                and_(
                    Iss.is_incident.is_(True),
                    Iss.created_at < issue_since,
                    or_(Iss.resolved_at.is_(None), Iss.resolved_at >= issue_since),
                ),
                and_(
                    Iss.deployment_ref.is_not(None),
                    Iss.is_incident.is_(True),
                    within(Iss.created_at, "incident_references"),
                ),
            ),
        ),
        [
            "team_id",
            "created_at",
            "updated_at",
            "resolved_at",
            "is_incident",
            "service",
            "deployment_ref",
        ],
    )
    _utc(issues, "created_at", "updated_at", "resolved_at")
    if issue_until is not None:
        # a resolution or update after the range is not yet known at its end
        issues.loc[issues["resolved_at"] >= pd.Timestamp(issue_until), "resolved_at"] = pd.NaT
        issues.loc[issues["updated_at"] >= pd.Timestamp(issue_until), "updated_at"] = pd.NaT
    _bool(issues, "is_incident")
    issues["team_id"] = pd.to_numeric(issues["team_id"]).astype(np.int64)

    repositories = _frame(
        session,
        select(_raw(R.id), _raw(R.team_id), _raw(R.name), _raw(R.slug)).where(
            _teams_filter(R.team_id, team_ids)
        ),
        ["id", "team_id", "name", "slug"],
    )
    return {
        "repositories": repositories,
        "commits": commits,
        "tags": tags,
        "pull_requests": prs,
        "builds": builds,
        "deployments": deps,
        "issues": issues,
        "bounds": source_bounds(
            session,
            spans={
                kind: span(table)
                for kind, table in (
                    ("git", "commits"),
                    ("ci", "builds"),
                    ("deploy", "deployments"),
                    ("tracker", "issues"),
                )
            },
            team_ids=team_ids,
            shared=shared,
        ),
    }


def source_bounds(
    session: Session,
    *,
    spans: Mapping[str, Range],
    team_ids: Sequence[int] | None = None,
    shared: Sequence[int] = (),
) -> pd.DataFrame:
    """Per team and kind of source: the first record ever and the newest before the kind's
    range (``spans``: kind to ``[since, until)`` of its frame); an issue's newest record is the
    later of its creation and its last change (git: of the repositories not ``shared`` by path
    rules)."""
    R, C = tables.Repository, tables.Commit
    I = tables.Issue  # noqa: E741
    specs: list[tuple[str, Any, Any, Any]] = [
        ("ci", tables.Build.team_id, tables.Build.started_at, None),
        ("deploy", tables.Deployment.team_id, tables.Deployment.started_at, None),
        ("tracker", I.team_id, I.created_at, I.updated_at),
    ]

    def before_until(col: Any, kind: str) -> Any:
        until = spans[kind][1]
        return col < until if until is not None else true()

    frames = []
    git_since = spans["git"][0]
    per_repo = (
        select(
            C.repository_id,
            func.min(C.committed_at).label("first_at"),
            func.max(case((C.committed_at < git_since, C.committed_at))).label("last_before"),
        )
        .where(before_until(C.committed_at, "git"))
        .group_by(C.repository_id)
        .subquery()
    )
    git = (
        select(
            R.team_id,
            type_coerce(func.min(per_repo.c.first_at), NullType()),
            type_coerce(func.max(per_repo.c.last_before), NullType()),
        )
        .join(per_repo, per_repo.c.repository_id == R.id)
        .where(_teams_filter(R.team_id, team_ids), *([R.id.not_in(list(shared))] if shared else []))
    )
    frames.append(
        (
            "git",
            _frame(session, git.group_by(R.team_id), ["team_id", "first_at", "last_before"]),
            None,
        )
    )
    for kind, team_col, time_col, changed_col in specs:
        since = spans[kind][0]
        cols = [
            team_col,
            type_coerce(func.min(time_col), NullType()),
            type_coerce(func.max(case((time_col < since, time_col))), NullType()),
        ]
        names = ["team_id", "first_at", "last_before"]
        if changed_col is not None:
            # (a change counts after the creation only, as in the frames)
            later = and_(changed_col < since, changed_col > time_col)
            cols.append(type_coerce(func.max(case((later, changed_col))), NullType()))
            names.append("changed_before")
        stmt = (
            select(*cols)
            .where(_teams_filter(team_col, team_ids), before_until(time_col, kind))
            .group_by(team_col)
        )
        frames.append((kind, _frame(session, stmt, names), changed_col))
    parts = []
    for kind, frame, has_changes in frames:
        _utc(frame, "first_at", "last_before")
        if has_changes is not None:
            _utc(frame, "changed_before")
            frame["last_before"] = frame[["last_before", "changed_before"]].max(axis=1)
            frame = frame.drop(columns="changed_before")
        parts.append(frame.assign(kind=kind))
    out = pd.concat(parts, ignore_index=True)
    out["team_id"] = pd.to_numeric(out["team_id"]).astype(np.int64)
    return out
