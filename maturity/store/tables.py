"""The relational schema: every table the product stores, the same on SQLite and PostgreSQL.

Rows collected from outside carry a natural key (``source``, ``scope``, ``external_id``, or the
repository and sha for git) with a unique constraint, so that collecting twice changes nothing.
``team_id`` on collected rows is derived from ``scope`` and the ownership rules of the
configuration; it is recomputed whenever the configuration changes (see ``maturity.teams``).
"""

# No ``from __future__ import annotations`` here: SQLAlchemy reads the ``Mapped[...]``
# annotations of every column when the module is imported, and objects are read faster than
# strings it must parse and evaluate (a sixth of this module's import, paid by every command).

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from maturity.store.types import JSONText, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONText(),
    }


# --- organisation -------------------------------------------------------------------------


class Meta(Base):
    """Key/value facts about the store itself (the author-hash salt, the model version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)


class Ownership(Base):
    """What a team owns in one source: a glob over that source's scopes (``payments/*``)."""

    __tablename__ = "ownership"
    __table_args__ = (UniqueConstraint("team_id", "source", "pattern"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    pattern: Mapped[str] = mapped_column(String(500))


class Repository(Base):
    """A git repository, cloned locally (``kind='git'``) or known through an API (``github``)."""

    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    location: Mapped[str] = mapped_column(Text)
    slug: Mapped[str | None] = mapped_column(String(300), index=True)
    default_branch: Mapped[str | None] = mapped_column(String(300))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )


# --- git ----------------------------------------------------------------------------------


class Commit(Base):
    __tablename__ = "commits"
    __table_args__ = (
        UniqueConstraint("repository_id", "sha"),
        Index("ix_commits_repository_committed", "repository_id", "committed_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(64))
    parents: Mapped[str] = mapped_column(Text, default="")
    author_hash: Mapped[str] = mapped_column(String(32))
    authored_at: Mapped[dt.datetime]
    author_tz_offset: Mapped[int] = mapped_column(Integer)
    committed_at: Mapped[dt.datetime]
    committer_tz_offset: Mapped[int] = mapped_column(Integer)
    is_merge: Mapped[bool] = mapped_column(Boolean)
    additions: Mapped[int] = mapped_column(Integer, default=0)
    deletions: Mapped[int] = mapped_column(Integer, default=0)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    binary_files: Mapped[int] = mapped_column(Integer, default=0)
    test_files: Mapped[int] = mapped_column(Integer, default=0)
    ci_files: Mapped[int] = mapped_column(Integer, default=0)
    infra_files: Mapped[int] = mapped_column(Integer, default=0)
    docs_files: Mapped[int] = mapped_column(Integer, default=0)
    issue_keys: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    on_default_branch: Mapped[bool | None] = mapped_column(Boolean)


class CommitFile(Base):
    """A file a commit changed, with its lines (0 for a binary file): what attributes the commit
    to the teams whose paths it touches in a shared repository. A merge's files are what it
    brought in (its difference from its first parent); a rename lists both paths, the old one
    with no lines."""

    __tablename__ = "commit_files"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    additions: Mapped[int] = mapped_column(Integer, default=0)
    deletions: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    sha: Mapped[str] = mapped_column(String(64))
    tagged_at: Mapped[dt.datetime | None]
    is_annotated: Mapped[bool] = mapped_column(Boolean)
    tagger_hash: Mapped[str | None] = mapped_column(String(32))
    on_default_branch: Mapped[bool | None] = mapped_column(Boolean)


class Branch(Base):
    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    head_sha: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    last_commit_at: Mapped[dt.datetime | None]


# --- code review --------------------------------------------------------------------------


class PullRequest(Base):
    __tablename__ = "pull_requests"
    __table_args__ = (UniqueConstraint("repository_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    author_hash: Mapped[str | None] = mapped_column(String(32))
    base_branch: Mapped[str | None] = mapped_column(String(500))
    head_branch: Mapped[str | None] = mapped_column(String(500))
    head_sha: Mapped[str | None] = mapped_column(String(64))
    merge_commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    first_commit_at: Mapped[dt.datetime | None]
    first_review_at: Mapped[dt.datetime | None]
    approved_at: Mapped[dt.datetime | None]
    merged_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    additions: Mapped[int | None] = mapped_column(Integer)
    deletions: Mapped[int | None] = mapped_column(Integer)
    commits_count: Mapped[int | None] = mapped_column(Integer)
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    approval_count: Mapped[int] = mapped_column(Integer, default=0)
    #: label names as a JSON list (code hosts that have labels)
    labels: Mapped[str | None] = mapped_column(Text)
    #: labelled as a hotfix (``hotfix_labels``): deployments of its commits are hotfixes
    is_hotfix: Mapped[bool | None] = mapped_column(Boolean)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("pull_request_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pull_request_id: Mapped[int] = mapped_column(ForeignKey("pull_requests.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[dt.datetime | None]
    reviewer_hash: Mapped[str | None] = mapped_column(String(32))
    commit_sha: Mapped[str | None] = mapped_column(String(64))


# --- CI and delivery ----------------------------------------------------------------------


class Build(Base):
    """One CI run: a Jenkins build, a GitHub Actions workflow run, or a pushed event."""

    __tablename__ = "builds"
    __table_args__ = (
        UniqueConstraint("source", "scope", "external_id"),
        Index("ix_builds_team_started", "team_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    external_id: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL")
    )
    job: Mapped[str] = mapped_column(String(500))
    number: Mapped[int | None] = mapped_column(Integer)
    commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    branch: Mapped[str | None] = mapped_column(String(500))
    event: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime]
    duration_s: Mapped[float | None] = mapped_column(Float)
    tests_total: Mapped[int | None] = mapped_column(Integer)
    tests_failed: Mapped[int | None] = mapped_column(Integer)
    tests_skipped: Mapped[int | None] = mapped_column(Integer)
    has_lint: Mapped[bool | None] = mapped_column(Boolean)
    parameters: Mapped[dict[str, Any] | None]
    url: Mapped[str | None] = mapped_column(Text)
    #: every git revision the build checked out (remote, sha, branch) when it checked out more
    #: than one, e.g. a shared library and the project; ``commit_sha`` is the project's
    revisions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONText())


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("source", "scope", "external_id"),
        Index("ix_deployments_team_started", "team_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    external_id: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL")
    )
    service: Mapped[str] = mapped_column(String(300))
    environment: Mapped[str] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(300))
    commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str | None] = mapped_column(String(32))
    is_rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hotfix: Mapped[bool] = mapped_column(Boolean, default=False)
    build_ref: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)


# --- issue trackers -----------------------------------------------------------------------


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("source", "scope", "external_id"),
        Index("ix_issues_team_created", "team_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    external_id: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(Text, default="")
    issue_type: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(100))
    status_category: Mapped[str | None] = mapped_column(String(32))
    labels: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    is_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    service: Mapped[str | None] = mapped_column(String(300))
    deployment_ref: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)


class IssueTransition(Base):
    __tablename__ = "issue_transitions"
    __table_args__ = (UniqueConstraint("issue_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    from_status: Mapped[str | None] = mapped_column(String(100))
    to_status: Mapped[str | None] = mapped_column(String(100))
    changed_at: Mapped[dt.datetime]


# --- collection bookkeeping ---------------------------------------------------------------


class CollectorRun(Base):
    __tablename__ = "collector_runs"
    __table_args__ = (
        Index("ix_collector_runs_source_started", "source", "started_at"),
        # the newest finish is part of the store version (web.cache): an index lookup, not a scan
        Index("ix_collector_runs_finished", "finished_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    records: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class Cursor(Base):
    __tablename__ = "cursors"
    __table_args__ = (UniqueConstraint("source", "scope", "stream"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    stream: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime]


class ScopeLease(Base):
    """Who collects a (source, scope) now, when workers collect in parallel (distributed mode).

    One holder at a time until ``expires_at`` (renewed while it works, so a killed worker's
    lease runs out); ``done_key`` and ``result`` are the last finished task's run key and
    outcome, so that a task delivered again after it finished returns them instead of
    collecting a second time.
    """

    __tablename__ = "scope_leases"
    __table_args__ = (UniqueConstraint("source", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(500))
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None]
    done_key: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None]


# --- scoring ------------------------------------------------------------------------------


class Snapshot(Base):
    """A team's level in one dimension for the week ending ``period_end``."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("team_id", "dimension", "period_end"),
        # the organisation trend (mean score per week and dimension) reads this index alone,
        # never the rows and their evidence: 8.6x faster on two years of 200 teams
        Index("ix_snapshots_trend", "period_end", "dimension", "score"),
        # re-scoring deletes and inserts: ids must never be handed out again (store version)
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(64))
    period_end: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]]
    model_version: Mapped[str] = mapped_column(String(100))
    computed_at: Mapped[dt.datetime]


class MetricValue(Base):
    """A metric's value for a team over the trailing window ending ``period_end``."""

    __tablename__ = "metric_values"
    __table_args__ = (
        UniqueConstraint("team_id", "metric", "period_end"),
        {"sqlite_autoincrement": True},  # as snapshots: ids never reused
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(100))
    period_end: Mapped[dt.date] = mapped_column(Date)
    window_days: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    sample_size: Mapped[int] = mapped_column(Integer, default=0)


# --- surveys ------------------------------------------------------------------------------


class SurveyRound(Base):
    __tablename__ = "survey_rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date | None] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    k: Mapped[int] = mapped_column(Integer)
    questions: Mapped[dict[str, Any]]
    model_version: Mapped[str] = mapped_column(String(100))


class SurveyToken(Base):
    """A one-time link's token, kept only as a hash; spending it flips ``spent``, nothing else."""

    __tablename__ = "survey_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    spent: Mapped[bool] = mapped_column(Boolean, default=False)


class SurveyResponse(Base):
    """One anonymous answer sheet: the round, the answers, and nothing that tells who or when."""

    __tablename__ = "survey_responses"
    # WITHOUT ROWID: SQLite then orders rows by the random id, never by insertion.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id", ondelete="CASCADE"))
    answers: Mapped[dict[str, Any]]
    comment: Mapped[str | None] = mapped_column(Text)


# --- reports ------------------------------------------------------------------------------


class ReportRun(Base):
    """A report that was generated, so the next one can default to the period since."""

    __tablename__ = "report_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    generated_at: Mapped[dt.datetime]
    format: Mapped[str] = mapped_column(String(8))


# --- web sessions -------------------------------------------------------------------------


class LoginSession(Base):
    """A browser's login: the cookie holds a random id, the store only its SHA-256 digest.

    ``binding`` ties the session to the token it was opened with (a keyed digest, never the
    token): a changed token ends every session opened with the old one. Logging out deletes the
    row, so a copied cookie stops working at once.
    """

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    binding: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
