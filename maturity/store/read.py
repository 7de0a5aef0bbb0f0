"""The read API of the store: small summaries for commands, pandas frames for everything else."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, case, func, or_, select, true, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from maturity.store import tables

#: the tables ``maturity export`` offers, in dependency order
EXPORTABLE: dict[str, type[tables.Base]] = {
    "teams": tables.Team,
    "repositories": tables.Repository,
    "commits": tables.Commit,
    "tags": tables.Tag,
    "branches": tables.Branch,
    "pull_requests": tables.PullRequest,
    "reviews": tables.Review,
    "builds": tables.Build,
    "deployments": tables.Deployment,
    "issues": tables.Issue,
    "issue_transitions": tables.IssueTransition,
    "collector_runs": tables.CollectorRun,
    "snapshots": tables.Snapshot,
    "metric_values": tables.MetricValue,
}

#: columns that hold an offset (minutes east of UTC) for a timestamp column: exported in that zone
_OFFSETS = {"authored_at": "author_tz_offset", "committed_at": "committer_tz_offset"}


def _export_query(name: str) -> Select[Any]:
    model = EXPORTABLE[name]
    table = model.__table__
    cols: list[Any] = [c for c in table.c if c.name != "id" or name in ("teams", "repositories")]
    stmt = select(*cols)
    if "repository_id" in table.c:
        stmt = stmt.add_columns(tables.Repository.name.label("repository")).outerjoin(
            tables.Repository, tables.Repository.id == table.c.repository_id
        )
    if "team_id" in table.c:
        stmt = stmt.add_columns(tables.Team.name.label("team")).outerjoin(
            tables.Team, tables.Team.id == table.c.team_id
        )
    if name == "reviews":
        stmt = stmt.add_columns(tables.PullRequest.number.label("pull_request_number")).join(
            tables.PullRequest, tables.PullRequest.id == table.c.pull_request_id
        )
    if name == "issue_transitions":
        stmt = stmt.add_columns(tables.Issue.key.label("issue_key")).join(
            tables.Issue, tables.Issue.id == table.c.issue_id
        )
    return stmt.order_by(table.c.id)


def iter_export(
    session: Session, name: str, *, chunk: int = 20_000
) -> Iterator[list[dict[str, Any]]]:
    """Rows of table ``name`` as dictionaries, in chunks, timestamps as aware datetimes.

    Git timestamps are given in the offset they were recorded with, as git shows them.
    """
    if name not in EXPORTABLE:
        raise KeyError(name)
    result = session.execute(_export_query(name).execution_options(yield_per=chunk))
    for part in result.partitions(chunk):
        rows = []
        for row in part:
            data = dict(row._mapping)
            for col, off_col in _OFFSETS.items():
                if col in data and off_col in data and data[col] is not None:
                    tz = dt.timezone(dt.timedelta(minutes=data[off_col]))
                    data[col] = data[col].astimezone(tz)
            rows.append(data)
        yield rows


def repository_summary(session: Session) -> pd.DataFrame:
    """One row a repository: team, commits, tags, first and last commit."""
    commits = (
        select(
            tables.Commit.repository_id,
            func.count().label("commits"),
            func.min(tables.Commit.committed_at).label("first_commit"),
            func.max(tables.Commit.committed_at).label("last_commit"),
        )
        .group_by(tables.Commit.repository_id)
        .subquery()
    )
    tags = (
        select(tables.Tag.repository_id, func.count().label("tags"))
        .group_by(tables.Tag.repository_id)
        .subquery()
    )
    stmt = (
        select(
            tables.Team.name.label("team"),
            tables.Repository.name.label("repository"),
            tables.Repository.kind,
            func.coalesce(commits.c.commits, 0).label("commits"),
            func.coalesce(tags.c.tags, 0).label("tags"),
            commits.c.last_commit,
        )
        .select_from(tables.Repository)
        .outerjoin(tables.Team, tables.Team.id == tables.Repository.team_id)
        .outerjoin(commits, commits.c.repository_id == tables.Repository.id)
        .outerjoin(tags, tags.c.repository_id == tables.Repository.id)
        .order_by(tables.Team.name, tables.Repository.name)
    )
    return pd.DataFrame(
        session.execute(stmt).all(),
        columns=["team", "repository", "kind", "commits", "tags", "last_commit"],
    )


def last_runs(session: Session) -> pd.DataFrame:
    """Per source: the last run, the last successful run, and how many scopes failed last."""
    runs = session.execute(
        select(
            tables.CollectorRun.source,
            tables.CollectorRun.scope,
            tables.CollectorRun.status,
            tables.CollectorRun.started_at,
            tables.CollectorRun.finished_at,
            tables.CollectorRun.error,
        ).order_by(tables.CollectorRun.started_at)
    ).all()
    frame = pd.DataFrame(
        runs, columns=["source", "scope", "status", "started_at", "finished_at", "error"]
    )
    if frame.empty:
        return pd.DataFrame(
            columns=["source", "last_run", "last_success", "scopes", "failed_scopes"]
        )
    latest = frame.groupby(["source", "scope"]).tail(1)
    ok = frame[frame["status"] == "success"].groupby("source")["finished_at"].max()
    summary = latest.groupby("source").agg(
        last_run=("started_at", "max"),
        scopes=("scope", "nunique"),
        failed_scopes=("status", lambda s: int((s == "failed").sum())),
    )
    summary["last_success"] = ok
    return summary.reset_index()[["source", "last_run", "last_success", "scopes", "failed_scopes"]]


# --- scoring: frames of collected rows, snapshots and metric values -----------------------


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


def team_names(session: Session) -> pd.DataFrame:
    """Every team: id, name, slug."""
    rows = session.execute(
        select(tables.Team.id, tables.Team.name, tables.Team.slug).order_by(tables.Team.name)
    ).all()
    return pd.DataFrame(rows, columns=["team_id", "name", "slug"])


_SNAPSHOT_COLUMNS = [
    "team_id",
    "team",
    "dimension",
    "period_end",
    "level",
    "score",
    "coverage",
    "evidence",
    "model_version",
    "computed_at",
]


def _snapshot_select() -> Select[Any]:
    S = tables.Snapshot
    return select(
        S.team_id,
        tables.Team.name,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.evidence,
        S.model_version,
        S.computed_at,
    ).join(tables.Team, tables.Team.id == S.team_id)


def list_snapshots(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Snapshots (with their evidence) ordered by team, dimension and period end."""
    S = tables.Snapshot
    stmt = _filter_snapshots(
        _snapshot_select(), team_id=team_id, dimension=dimension, since=since, until=until
    )
    rows = session.execute(stmt.order_by(S.team_id, S.dimension, S.period_end)).all()
    return pd.DataFrame(rows, columns=_SNAPSHOT_COLUMNS)


def list_scores(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Stored levels and scores without their evidence (trends need no evidence), by team name."""
    S = tables.Snapshot
    stmt = select(
        S.team_id,
        tables.Team.name,
        tables.Team.slug,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.model_version,
    ).join(tables.Team, tables.Team.id == S.team_id)
    stmt = _filter_snapshots(stmt, team_id=team_id, dimension=dimension, since=since, until=until)
    rows = session.execute(stmt.order_by(tables.Team.name, S.dimension, S.period_end)).all()
    columns = ["team_id", "team", "slug", "dimension", "period_end", "level", "score"]
    return pd.DataFrame(rows, columns=[*columns, "coverage", "model_version"])


def _filter_snapshots(
    stmt: Any,
    *,
    team_id: int | None,
    dimension: str | None,
    since: dt.date | None,
    until: dt.date | None,
) -> Any:
    S = tables.Snapshot
    if team_id is not None:
        stmt = stmt.where(S.team_id == team_id)
    if dimension is not None:
        stmt = stmt.where(S.dimension == dimension)
    if since is not None:
        stmt = stmt.where(S.period_end >= since)
    if until is not None:
        stmt = stmt.where(S.period_end <= until)
    return stmt


def _newest_periods(*, team_id: int | None, dimension: str | None, until: dt.date | None) -> Any:
    """Subquery: each team's newest period end per dimension, at or before ``until``."""
    S = tables.Snapshot
    newest = _filter_snapshots(
        select(S.team_id, S.dimension, func.max(S.period_end).label("period_end")),
        team_id=team_id,
        dimension=dimension,
        since=None,
        until=until,
    )
    return newest.group_by(S.team_id, S.dimension).subquery()


def _join_newest(stmt: Any, newest: Any) -> Any:
    S = tables.Snapshot
    return stmt.join(
        newest,
        (newest.c.team_id == S.team_id)
        & (newest.c.dimension == S.dimension)
        & (newest.c.period_end == S.period_end),
    )


def latest_snapshots(session: Session, *, team_id: int | None = None) -> pd.DataFrame:
    """Each team's newest snapshot per dimension."""
    S = tables.Snapshot
    newest = _newest_periods(team_id=team_id, dimension=None, until=None)
    stmt = _join_newest(_snapshot_select(), newest)
    rows = session.execute(stmt.order_by(tables.Team.name, S.dimension)).all()
    return pd.DataFrame(rows, columns=_SNAPSHOT_COLUMNS)


def latest_levels(
    session: Session,
    *,
    team_id: int | None = None,
    dimension: str | None = None,
    until: dt.date | None = None,
    evidence: bool = False,
) -> list[Any]:
    """Rows of each team's newest snapshot per dimension at or before ``until``, ordered by team
    name and dimension: team_id, name, slug, dimension, period_end, level, score, coverage,
    model_version (and evidence, which only a team's or a dimension's page needs)."""
    S = tables.Snapshot
    cols = [
        S.team_id,
        tables.Team.name,
        tables.Team.slug,
        S.dimension,
        S.period_end,
        S.level,
        S.score,
        S.coverage,
        S.model_version,
    ]
    if evidence:
        cols.append(S.evidence)
    stmt = _join_newest(
        select(*cols).join(tables.Team, tables.Team.id == S.team_id),
        _newest_periods(team_id=team_id, dimension=dimension, until=until),
    )
    return list(session.execute(stmt.order_by(tables.Team.name, S.dimension)).all())


def latest_metric_values(
    session: Session,
    metrics: Sequence[str],
    *,
    team_id: int | None = None,
    until: dt.date | None = None,
) -> list[Any]:
    """Rows of ``metrics`` at each team's newest period end that has any of them (at or before
    ``until``): team_id, metric, period_end, value, sample_size."""
    M = tables.MetricValue
    newest = select(M.team_id, func.max(M.period_end).label("period_end")).where(
        M.metric.in_(list(metrics))
    )
    if until is not None:
        newest = newest.where(M.period_end <= until)
    if team_id is not None:
        newest = newest.where(M.team_id == team_id)
    sub = newest.group_by(M.team_id).subquery()
    stmt = (
        select(M.team_id, M.metric, M.period_end, M.value, M.sample_size)
        .join(sub, (sub.c.team_id == M.team_id) & (sub.c.period_end == M.period_end))
        .where(M.metric.in_(list(metrics)))
    )
    return list(session.execute(stmt).all())


def score_trend(
    session: Session,
    *,
    team_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Mean stored score of the teams per dimension and period end, with how many teams: reads
    the covering index ``ix_snapshots_trend`` only, never the evidence."""
    S = tables.Snapshot
    stmt = select(
        S.period_end,
        S.dimension,
        func.avg(S.score).label("score"),
        func.count().label("teams"),
    )
    stmt = _filter_snapshots(stmt, team_id=team_id, dimension=None, since=since, until=until)
    rows = session.execute(
        stmt.group_by(S.period_end, S.dimension).order_by(S.dimension, S.period_end)
    ).all()
    frame = pd.DataFrame(rows, columns=["period_end", "dimension", "score", "teams"])
    frame["score"] = frame["score"].astype(float)
    return frame


def metric_series(
    session: Session,
    *,
    metrics: Sequence[str] | None = None,
    team_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Stored metric values: team_id, team, metric, period_end, window_days, value, sample_size."""
    M = tables.MetricValue
    stmt = select(
        M.team_id,
        tables.Team.name,
        M.metric,
        M.period_end,
        M.window_days,
        M.value,
        M.sample_size,
    ).join(tables.Team, tables.Team.id == M.team_id)
    if metrics is not None:
        stmt = stmt.where(M.metric.in_(list(metrics)))
    if team_id is not None:
        stmt = stmt.where(M.team_id == team_id)
    if since is not None:
        stmt = stmt.where(M.period_end >= since)
    if until is not None:
        stmt = stmt.where(M.period_end <= until)
    rows = session.execute(stmt.order_by(M.team_id, M.metric, M.period_end)).all()
    return pd.DataFrame(
        rows,
        columns=["team_id", "team", "metric", "period_end", "window_days", "value", "sample_size"],
    )


def last_report_end(session: Session, *, team_id: int) -> dt.date | None:
    """The period end of the team's newest generated report, or None before the first."""
    return session.scalar(
        select(func.max(tables.ReportRun.period_end)).where(tables.ReportRun.team_id == team_id)
    )


def list_survey_rounds(
    session: Session, *, team_id: int, until: dt.date | None = None
) -> list[tuple[str, dt.date]]:
    """The team's survey rounds (public id, opened on), oldest first; results stay k-gated."""
    R = tables.SurveyRound
    stmt = select(R.public_id, R.opened_on).where(R.team_id == team_id)
    if until is not None:
        stmt = stmt.where(R.opened_on <= until)
    return [(str(p), o) for p, o in session.execute(stmt.order_by(R.opened_on, R.id)).all()]


# --- store version ------------------------------------------------------------------------


@functools.cache
def _store_version_statement() -> Any:
    S, M, T, R = tables.Snapshot, tables.MetricValue, tables.Team, tables.CollectorRun
    return select(
        select(func.max(S.id)).scalar_subquery(),
        select(func.max(M.id)).scalar_subquery(),
        select(func.count()).select_from(T).scalar_subquery(),
        select(func.max(T.id)).scalar_subquery(),
        select(func.max(R.id)).scalar_subquery(),
        select(func.max(R.finished_at)).scalar_subquery(),
    )


class StoreVersion(NamedTuple):
    """Newest ids and counts that change whenever scoring, a team sync or a collection writes."""

    snapshots: int | None
    metric_values: int | None
    teams: int
    newest_team: int | None
    runs: int | None
    newest_finish: dt.datetime | None

    @property
    def scores(self) -> tuple[Any, ...]:
        """The part that scoring and team syncs change (collections do not)."""
        return (self.snapshots, self.metric_values, self.teams, self.newest_team)


def store_version(conn: Session | Connection) -> StoreVersion:
    """What changes whenever scoring, a team sync or a collection writes, in one statement.

    Scoring replaces snapshots and metric values by deleting and inserting them, so a new score
    always raises their newest id; teams are added or removed (count and newest id); a
    collection inserts a run row and sets its ``finished_at`` when it ends. Every part is a
    primary-key or index lookup, so the check costs the same on any store size (tens of
    microseconds: the statement is built once). Pages and API answers built only from these
    tables are valid for as long as this tuple is unchanged.
    """
    return StoreVersion(*conn.execute(_store_version_statement()).one())


def get_login_session(
    session: Session | Connection, *, id_hash: str, now: dt.datetime
) -> tuple[str, str] | None:
    """(role, binding) of an unexpired browser login by the digest of its id, or None."""
    S = tables.LoginSession
    row = session.execute(
        select(S.role, S.binding).where(S.id_hash == id_hash, S.expires_at > now)
    ).first()
    return (str(row[0]), str(row[1])) if row is not None else None
