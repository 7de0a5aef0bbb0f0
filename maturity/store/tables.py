"""The mapped classes of the store's tables (``maturity.store.schema``), for code that reads and
writes objects through a ``Session``.

Each class is mapped onto its Core table (``__table__``): the schema, its columns, constraints
and indexes are declared once, in ``schema``, which imports no ORM; the annotations here only
type the attributes.
"""

# No ``from __future__ import annotations`` here: SQLAlchemy reads the ``Mapped[...]``
# annotations of every class when the module is imported, and objects are read faster than
# strings it must parse and evaluate.

import datetime as dt
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from maturity.store import schema


class Base(DeclarativeBase):
    metadata = schema.metadata


# --- organisation -------------------------------------------------------------------------


class Meta(Base):
    """Key/value facts about the store itself (the author-hash salt, the model version)."""

    __table__ = schema.meta
    key: Mapped[str]
    value: Mapped[str]


class Team(Base):
    __table__ = schema.teams
    id: Mapped[int]
    name: Mapped[str]
    slug: Mapped[str]


class Ownership(Base):
    """What a team owns in one source: a glob over that source's scopes (``payments/*``)."""

    __table__ = schema.ownership
    id: Mapped[int]
    team_id: Mapped[int]
    source: Mapped[str]
    pattern: Mapped[str]


class Repository(Base):
    """A git repository, cloned locally (``kind='git'``) or known through an API (``github``)."""

    __table__ = schema.repositories
    id: Mapped[int]
    key: Mapped[str]
    kind: Mapped[str]
    name: Mapped[str]
    location: Mapped[str]
    slug: Mapped[str | None]
    default_branch: Mapped[str | None]
    team_id: Mapped[int | None]


# --- git ----------------------------------------------------------------------------------


class Commit(Base):
    __table__ = schema.commits
    id: Mapped[int]
    repository_id: Mapped[int]
    sha: Mapped[str]
    parents: Mapped[str]
    author_hash: Mapped[str]
    authored_at: Mapped[dt.datetime]
    author_tz_offset: Mapped[int]
    committed_at: Mapped[dt.datetime]
    committer_tz_offset: Mapped[int]
    is_merge: Mapped[bool]
    additions: Mapped[int]
    deletions: Mapped[int]
    files_changed: Mapped[int]
    binary_files: Mapped[int]
    test_files: Mapped[int]
    ci_files: Mapped[int]
    infra_files: Mapped[int]
    docs_files: Mapped[int]
    issue_keys: Mapped[str | None]
    subject: Mapped[str]
    on_default_branch: Mapped[bool | None]


class CommitFile(Base):
    """A file a commit changed, with its lines (0 for a binary file): what attributes the commit
    to the teams whose paths it touches in a shared repository. A merge's files are what it
    brought in (its difference from its first parent); a rename lists both paths, the old one
    with no lines."""

    __table__ = schema.commit_files
    repository_id: Mapped[int]
    sha: Mapped[str]
    path: Mapped[str]
    additions: Mapped[int]
    deletions: Mapped[int]


class Tag(Base):
    __table__ = schema.tags
    id: Mapped[int]
    repository_id: Mapped[int]
    name: Mapped[str]
    sha: Mapped[str]
    tagged_at: Mapped[dt.datetime | None]
    is_annotated: Mapped[bool]
    tagger_hash: Mapped[str | None]
    on_default_branch: Mapped[bool | None]


class Branch(Base):
    __table__ = schema.branches
    id: Mapped[int]
    repository_id: Mapped[int]
    name: Mapped[str]
    head_sha: Mapped[str]
    is_default: Mapped[bool]
    last_commit_at: Mapped[dt.datetime | None]


# --- code review --------------------------------------------------------------------------


class PullRequest(Base):
    __table__ = schema.pull_requests
    id: Mapped[int]
    repository_id: Mapped[int]
    number: Mapped[int]
    external_id: Mapped[str]
    title: Mapped[str]
    state: Mapped[str]
    author_hash: Mapped[str | None]
    base_branch: Mapped[str | None]
    head_branch: Mapped[str | None]
    head_sha: Mapped[str | None]
    merge_commit_sha: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    first_commit_at: Mapped[dt.datetime | None]
    first_review_at: Mapped[dt.datetime | None]
    approved_at: Mapped[dt.datetime | None]
    merged_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    additions: Mapped[int | None]
    deletions: Mapped[int | None]
    commits_count: Mapped[int | None]
    review_count: Mapped[int]
    approval_count: Mapped[int]
    #: label names as a JSON list (code hosts that have labels)
    labels: Mapped[str | None]
    #: labelled as a hotfix (``hotfix_labels``): deployments of its commits are hotfixes
    is_hotfix: Mapped[bool | None]


class Review(Base):
    __table__ = schema.reviews
    id: Mapped[int]
    pull_request_id: Mapped[int]
    external_id: Mapped[str]
    state: Mapped[str]
    submitted_at: Mapped[dt.datetime | None]
    reviewer_hash: Mapped[str | None]
    commit_sha: Mapped[str | None]


# --- CI and delivery ----------------------------------------------------------------------


class Build(Base):
    """One CI run: a Jenkins build, a GitHub Actions workflow run, or a pushed event."""

    __table__ = schema.builds
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    external_id: Mapped[str]
    team_id: Mapped[int | None]
    repository_id: Mapped[int | None]
    job: Mapped[str]
    number: Mapped[int | None]
    commit_sha: Mapped[str | None]
    branch: Mapped[str | None]
    event: Mapped[str | None]
    result: Mapped[str | None]
    stage: Mapped[str | None]
    started_at: Mapped[dt.datetime]
    duration_s: Mapped[float | None]
    tests_total: Mapped[int | None]
    tests_failed: Mapped[int | None]
    tests_skipped: Mapped[int | None]
    has_lint: Mapped[bool | None]
    parameters: Mapped[dict[str, Any] | None]
    url: Mapped[str | None]
    #: every git revision the build checked out (remote, sha, branch) when it checked out more
    #: than one, e.g. a shared library and the project; ``commit_sha`` is the project's
    revisions: Mapped[list[dict[str, Any]] | None]


class Deployment(Base):
    __table__ = schema.deployments
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    external_id: Mapped[str]
    team_id: Mapped[int | None]
    repository_id: Mapped[int | None]
    service: Mapped[str]
    environment: Mapped[str]
    version: Mapped[str | None]
    commit_sha: Mapped[str | None]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str]
    trigger: Mapped[str | None]
    is_rollback: Mapped[bool]
    is_hotfix: Mapped[bool]
    build_ref: Mapped[str | None]
    url: Mapped[str | None]


# --- issue trackers -----------------------------------------------------------------------


class Issue(Base):
    __table__ = schema.issues
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    external_id: Mapped[str]
    key: Mapped[str]
    team_id: Mapped[int | None]
    title: Mapped[str]
    issue_type: Mapped[str | None]
    priority: Mapped[str | None]
    status: Mapped[str | None]
    status_category: Mapped[str | None]
    labels: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    is_incident: Mapped[bool]
    service: Mapped[str | None]
    deployment_ref: Mapped[str | None]
    url: Mapped[str | None]


class IssueTransition(Base):
    __table__ = schema.issue_transitions
    id: Mapped[int]
    issue_id: Mapped[int]
    external_id: Mapped[str]
    from_status: Mapped[str | None]
    to_status: Mapped[str | None]
    changed_at: Mapped[dt.datetime]


# --- collection bookkeeping ---------------------------------------------------------------


class CollectorRun(Base):
    __table__ = schema.collector_runs
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str]
    records: Mapped[int]
    counts: Mapped[dict[str, Any] | None]
    error: Mapped[str | None]


class Cursor(Base):
    __table__ = schema.cursors
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    stream: Mapped[str]
    value: Mapped[str]
    updated_at: Mapped[dt.datetime]


class ScopeLease(Base):
    """Who collects a (source, scope) now, when workers collect in parallel (distributed mode).

    One holder at a time until ``expires_at`` (renewed while it works, so a killed worker's
    lease runs out); ``done_key`` and ``result`` are the last finished task's run key and
    outcome, so that a task delivered again after it finished returns them instead of
    collecting a second time.
    """

    __table__ = schema.scope_leases
    id: Mapped[int]
    source: Mapped[str]
    scope: Mapped[str]
    holder: Mapped[str | None]
    expires_at: Mapped[dt.datetime | None]
    done_key: Mapped[str | None]
    result: Mapped[dict[str, Any] | None]


# --- scoring ------------------------------------------------------------------------------


class Snapshot(Base):
    """A team's level in one dimension for the week ending ``period_end``."""

    __table__ = schema.snapshots
    id: Mapped[int]
    team_id: Mapped[int]
    dimension: Mapped[str]
    period_end: Mapped[dt.date]
    level: Mapped[int]
    score: Mapped[float]
    coverage: Mapped[float]
    evidence: Mapped[dict[str, Any]]
    model_version: Mapped[str]
    computed_at: Mapped[dt.datetime]


class MetricValue(Base):
    """A metric's value for a team over the trailing window ending ``period_end``."""

    __table__ = schema.metric_values
    id: Mapped[int]
    team_id: Mapped[int]
    metric: Mapped[str]
    period_end: Mapped[dt.date]
    window_days: Mapped[int]
    value: Mapped[float | None]
    sample_size: Mapped[int]


# --- surveys ------------------------------------------------------------------------------


class SurveyRound(Base):
    __table__ = schema.survey_rounds
    id: Mapped[int]
    public_id: Mapped[str]
    team_id: Mapped[int]
    opened_on: Mapped[dt.date]
    closes_on: Mapped[dt.date | None]
    closed: Mapped[bool]
    k: Mapped[int]
    questions: Mapped[dict[str, Any]]
    model_version: Mapped[str]


class SurveyToken(Base):
    """A one-time link's token, kept only as a hash; spending it flips ``spent``, nothing else."""

    __table__ = schema.survey_tokens
    id: Mapped[int]
    round_id: Mapped[int]
    token_hash: Mapped[str]
    spent: Mapped[bool]


class SurveyResponse(Base):
    """One anonymous answer sheet: the round, the answers, and nothing that tells who or when."""

    __table__ = schema.survey_responses
    # WITHOUT ROWID: SQLite then orders rows by the random id, never by insertion.
    id: Mapped[str]
    round_id: Mapped[int]
    answers: Mapped[dict[str, Any]]
    comment: Mapped[str | None]


# --- reports ------------------------------------------------------------------------------


class ReportRun(Base):
    """A report that was generated, so the next one can default to the period since."""

    __table__ = schema.report_runs
    id: Mapped[int]
    team_id: Mapped[int]
    period_start: Mapped[dt.date]
    period_end: Mapped[dt.date]
    generated_at: Mapped[dt.datetime]
    format: Mapped[str]


# --- web sessions -------------------------------------------------------------------------


class LoginSession(Base):
    """A browser's login: the cookie holds a random id, the store only its SHA-256 digest.

    ``binding`` ties the session to the token it was opened with (a keyed digest, never the
    token): a changed token ends every session opened with the old one. Logging out deletes the
    row, so a copied cookie stops working at once.
    """

    __table__ = schema.login_sessions
    id: Mapped[int]
    id_hash: Mapped[str]
    role: Mapped[str]
    binding: Mapped[str]
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
