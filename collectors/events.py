"""Events from any CI: one documented schema of builds, deployments, incidents and pull requests,
and its writer.

Any system that can print JSON (GitLab, CircleCI, Argo CD, a shell script) feeds the product
through ``maturity ingest FILE`` or ``POST /api/v1/events``; both validate with the models here
and write with :func:`ingest`. Every event carries an ``id`` that is unique per sender; it
becomes the row's ``external_id``, so sending an event again updates it instead of adding one.
The schema is documented in ``docs/events.md``; ``maturity ingest --schema`` prints it as JSON
Schema.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import CollectorError
from collectors.event_source import DECLARATION as DECLARATION  # the declaration, as before
from collectors.event_source import SOURCE
from maturity import teams
from maturity.store import tables, write
from maturity.store.engine import session_scope

#: a line longer than this is refused before it is parsed (a runaway log, not an event)
MAX_LINE_CHARS = 100_000
#: how many events one ingestion (a file or a request) may carry
MAX_EVENTS = 1_000_000
_KEY = ("source", "scope", "external_id")
# PostgreSQL's INTEGER is 32 bits; a larger build number would fail at write time, not here.
_MAX_INT = 2**31 - 1
# Times outside this range are typos; they would also overflow when converted to UTC.
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _plain_text(value: str) -> str:
    # PostgreSQL refuses NUL in text and UTF-8 has no lone surrogates: refuse both here, so a
    # hostile line is a validation error with a line number, not a failed transaction.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _in_range(value: dt.datetime) -> dt.datetime:
    if not _EARLIEST <= value < _LATEST:
        raise ValueError("time must lie between 1970 and 2100")
    return value.astimezone(dt.UTC)


def _iso_text(value: Any) -> Any:
    # pydantic would also take a number as seconds since 1970; the schema promises ISO 8601.
    if not isinstance(value, str):
        raise ValueError("time must be an ISO 8601 string with an offset")
    return value


def _url(value: str) -> str:
    # Only web links: a javascript: or data: URL would become script once a page links to it.
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("url must start with https:// or http://")
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_plain_text)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(_plain_text)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_plain_text)]
Title = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_plain_text)
]
Time = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
Sha = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-fA-F]{7,64}$", to_lower=True),
]
Url = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_url)]
Count = Annotated[int, Field(ge=0, le=_MAX_INT)]

BuildResult = Literal["success", "failure", "unstable", "aborted", "running"]
DeploymentStatus = Literal["success", "failure", "running", "cancelled"]
Trigger = Literal["automated", "manual"]


def _in_order(event: BaseModel, earlier: str, *later: str) -> None:
    """Refuse an event whose ``later`` times come before its ``earlier`` one (unset: fine)."""
    start = getattr(event, earlier)
    for name in later:
        when = getattr(event, name)
        if start is not None and when is not None and when < start:
            raise ValueError(f"{name} is before {earlier}")


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    id: Id = Field(description="Unique per sender and service/pipeline; sending it again updates.")
    #: where the event was read (line number or index), to name it if the store refuses it
    _position: int | None = PrivateAttr(default=None)


class TestCounts(BaseModel):
    """Test results of a build."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __test__ = False  # not a pytest test class, despite its name

    total: Count
    failed: Count = 0
    skipped: Count = 0

    @model_validator(mode="after")
    def _parts_fit_the_total(self) -> TestCounts:
        if self.failed + self.skipped > self.total:
            raise ValueError("failed + skipped cannot exceed total")
        return self


class BuildEvent(_Event):
    """One CI run of a pipeline (or of one job of it)."""

    kind: Literal["build"]
    pipeline: Scope = Field(description="The pipeline; teams own pipelines by glob.")
    job: Scope | None = Field(None, description="The job within the pipeline; default: pipeline.")
    number: Count | None = None
    commit_sha: Sha | None = None
    branch: Scope | None = None
    result: BuildResult
    stage: Name | None = Field(None, description="build, test, package, deploy ...")
    started_at: Time
    duration_s: Annotated[float, Field(ge=0, le=366 * 86400, allow_inf_nan=False)] | None = None
    tests: TestCounts | None = None
    lint: bool | None = Field(None, description="Whether the run included a lint step.")
    url: Url | None = None


class DeploymentEvent(_Event):
    """One deployment of a service to an environment."""

    kind: Literal["deployment"]
    service: Scope = Field(description="The service; teams own services by glob.")
    repository: Scope | None = Field(
        None,
        description="The repository the deployed commit is in: a git repository's name, "
        "GitHub's owner/name or GitLab's path. Default: the repositories "
        "[rules] service_repositories maps the service to, else the team's.",
    )
    environment: Name
    version: Name | None = None
    commit_sha: Sha | None = Field(
        None,
        description="The deployed commit. An abbreviated sha must name exactly one commit of "
        "the team's repositories (collected before); it is stored in full.",
    )
    started_at: Time
    finished_at: Time | None = None
    status: DeploymentStatus
    trigger: Trigger | None = None
    rollback: bool = False
    hotfix: bool = False
    build: Name | None = Field(None, description="The build that produced what was deployed.")
    url: Url | None = None

    @model_validator(mode="after")
    def _finishes_after_it_starts(self) -> DeploymentEvent:
        _in_order(self, "started_at", "finished_at")
        return self


class IncidentEvent(_Event):
    """A failure in production that needed a fix: from its start to its resolution."""

    kind: Literal["incident"]
    service: Scope
    key: Id | None = Field(None, description="A human key (INC-42); default: the id.")
    title: Title
    started_at: Time
    resolved_at: Time | None = None
    priority: Name | None = None
    deployment: Name | None = Field(None, description="The id of the deployment that caused it.")
    url: Url | None = None

    @model_validator(mode="after")
    def _resolved_after_it_starts(self) -> IncidentEvent:
        _in_order(self, "started_at", "resolved_at")
        return self


PullRequestState = Literal["open", "merged", "closed"]


class PullRequestEvent(_Event):
    """A pull (merge) request of a code host without a collector here (GitLab, Bitbucket, Gitea):
    what review rate, pull-request lifetime and lead time from the first commit need."""

    kind: Literal["pull_request"]
    repository: Scope = Field(
        description="The repository. A repository the git collector reads, under the same name, "
        "gets the pull request; otherwise teams own repositories by glob, as services."
    )
    number: Annotated[int, Field(ge=1, le=_MAX_INT)]
    title: Title | None = None
    state: PullRequestState
    created_at: Time
    first_commit_at: Time | None = Field(None, description="The branch's first commit.")
    first_review_at: Time | None = None
    approved_at: Time | None = None
    merged_at: Time | None = None
    closed_at: Time | None = None
    reviews: Count = Field(0, description="Reviews submitted (comments, approvals, changes).")
    approvals: Count = 0
    base_branch: Scope | None = None
    head_branch: Scope | None = None
    merge_commit_sha: Sha | None = Field(
        None, description="The commit the merge put on the base branch (squash and rebase too)."
    )
    additions: Count | None = None
    deletions: Count | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PullRequestEvent:
        if (self.state == "merged") != (self.merged_at is not None):
            raise ValueError("merged_at is set exactly when state is 'merged'")
        _in_order(self, "created_at", "first_review_at", "approved_at", "merged_at", "closed_at")
        _in_order(self, "first_commit_at", "merged_at")
        return self


AnyEvent = BuildEvent | DeploymentEvent | IncidentEvent | PullRequestEvent
Event = Annotated[AnyEvent, Field(discriminator="kind")]
EVENT: TypeAdapter[AnyEvent] = TypeAdapter(Event)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one event (one line of a file, one element of a request)."""
    schema = EVENT.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "devops-maturity event"
    return schema


@dataclass(frozen=True)
class Invalid:
    """Why one event was refused; ``position`` is a line number (files) or an index (API)."""

    position: int
    reason: str


@dataclass
class Parsed:
    """Events that passed validation, in input order, and the ones that did not."""

    events: list[AnyEvent] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)


def describe(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message``, without echoing the input."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        # The discriminator's value (deployment, build) leads the path; it adds nothing.
        if loc and loc[0] in KINDS:
            loc = loc[1:]
        where = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def validate(obj: Any) -> AnyEvent:
    """Validate one decoded JSON value as an event; raises ValidationError."""
    return EVENT.validate_python(obj)


#: one decoded line or array element: a valid event, or why it was refused
Item = AnyEvent | Invalid


def _at(event: AnyEvent, position: int) -> AnyEvent:
    event._position = position
    return event


def iter_objects(objects: Iterable[Any], *, first: int = 0) -> Iterator[Item]:
    """Validate decoded JSON values (a request's array) one by one; positions are indexes."""
    for n, obj in enumerate(objects, first):
        try:
            yield _at(validate(obj), n)
        except ValidationError as exc:
            yield Invalid(n, describe(exc))


class NotJson(ValueError):
    """A request body that is not one JSON value or array (the message says where)."""


_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def iter_json(text: str) -> Iterator[Any]:
    """The values of a JSON array one at a time (or the one value that is not an array).

    Decoding element by element keeps each step short, so that a thread doing this never holds
    the interpreter for long (a 10 MB array decoded at once does, for a third of a second), and
    the elements are validated and written while the rest is still text.
    """
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        value, end = _decode(text, pos)
        if _skip(text, end) != len(text):
            raise NotJson(f"extra data at character {end}")
        yield value
        return
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        if _skip(text, pos + 1) != len(text):
            raise NotJson(f"extra data at character {pos + 1}")
        return
    while True:
        value, pos = _decode(text, pos)
        yield value
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
            continue
        if text.startswith("]", pos) and _skip(text, pos + 1) == len(text):
            return
        raise NotJson(f"expected ',' or ']' at character {pos}")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise NotJson("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise NotJson(str(exc)) from None


def parse_objects(objects: Sequence[Any], *, first: int = 0) -> Parsed:
    """Validate decoded JSON values (a request's array); positions are indexes from ``first``."""
    return _collect(iter_objects(objects, first=first))


def iter_lines(lines: Iterable[bytes | str]) -> Iterator[Item]:
    """Validate JSON lines one at a time (a file is never held whole); blank lines are
    skipped, positions are 1-based line numbers."""
    seen = 0
    for n, raw in enumerate(lines, 1):
        if len(raw) > MAX_LINE_CHARS * 4:
            yield Invalid(n, f"line longer than {MAX_LINE_CHARS} characters")
            continue
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Invalid(n, "not valid UTF-8")
                continue
        else:
            text = raw
        if n == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some Windows tools write
        if not text.strip():
            continue
        if len(text) > MAX_LINE_CHARS:
            yield Invalid(n, f"line longer than {MAX_LINE_CHARS} characters")
            continue
        if seen >= MAX_EVENTS:
            yield Invalid(n, f"more than {MAX_EVENTS} events in one ingestion")
            return
        seen += 1
        try:
            obj = json.loads(text)
        except RecursionError:
            yield Invalid(n, "not valid JSON: nested too deeply")
            continue
        except ValueError as exc:
            yield Invalid(n, f"not valid JSON: {exc}")
            continue
        try:
            yield _at(validate(obj), n)
        except ValidationError as exc:
            yield Invalid(n, describe(exc))


def parse_lines(lines: Iterable[bytes | str]) -> Parsed:
    """Validate JSON lines into one :class:`Parsed` (small inputs; :func:`ingest` streams)."""
    return _collect(iter_lines(lines))


def _collect(items: Iterable[Item]) -> Parsed:
    parsed = Parsed()
    for item in items:
        if isinstance(item, Invalid):
            parsed.invalid.append(item)
        else:
            parsed.events.append(item)
    return parsed


# --- references to what the store knows: repositories, abbreviated shas ---------------------

#: digits of a full sha: SHA-1 and SHA-256 object names
FULL_SHA = (40, 64)


class _Resolver:
    """Looks up repositories by name and abbreviated shas in the store, with caches."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.owners: dict[str, int | None] = {}
        self.team_repos: dict[int | None, list[int]] = {}
        self.named: dict[str, list[int]] = {}

    def owner(self, scope: str) -> int | None:
        if scope not in self.owners:
            self.owners[scope] = teams.owner_of(self.session, SOURCE, scope)
        return self.owners[scope]

    def repos_of(self, team_id: int | None) -> list[int]:
        if team_id not in self.team_repos:
            R = tables.Repository
            self.team_repos[team_id] = (
                list(self.session.scalars(select(R.id).where(R.team_id == team_id).order_by(R.id)))
                if team_id is not None
                else []
            )
        return self.team_repos[team_id]

    def repository(self, name: str) -> list[int]:
        """Repositories a collector knows under ``name`` (its name, owner/name or path)."""
        if name not in self.named:
            R = tables.Repository
            self.named[name] = list(
                self.session.scalars(
                    select(R.id)
                    .where(or_(R.name == name, R.slug == name), R.kind != "events")
                    .order_by(R.id)
                )
            )
        return self.named[name]

    def sha(self, sha: str, repos: list[int], where: str) -> str:
        """The full sha ``sha`` abbreviates among the commits of ``repos``; raises ValueError
        naming the field when it is unknown or ambiguous."""
        if len(sha) in FULL_SHA:
            return sha
        if not repos:
            raise ValueError(
                f"{where}: the abbreviated sha {sha} cannot be resolved: no repository of the "
                "team is known (configure and collect it first, or send the full sha)"
            )
        C = tables.Commit
        found = list(
            self.session.scalars(
                select(C.sha)
                .where(C.repository_id.in_(repos), C.sha.like(f"{sha}%"))
                .distinct()
                .limit(2)
            )
        )
        if not found:
            raise ValueError(
                f"{where}: unknown abbreviated sha {sha}: no collected commit of the team's "
                "repositories starts with it (collect them first, or send the full sha)"
            )
        if len(found) > 1:
            raise ValueError(
                f"{where}: ambiguous abbreviated sha {sha}: several commits of the team's "
                "repositories start with it (send more digits or the full sha)"
            )
        return str(found[0])

    def event(self, e: AnyEvent) -> AnyEvent:
        """``e`` with its abbreviated shas in full; raises ValueError for what cannot be."""
        if isinstance(e, BuildEvent) and e.commit_sha:
            full = self.sha(e.commit_sha, self.repos_of(self.owner(e.pipeline)), "commit_sha")
            return e.model_copy(update={"commit_sha": full})
        if isinstance(e, DeploymentEvent):
            if e.repository is not None:
                repos = self.repository(e.repository)
                if len(repos) != 1:
                    raise ValueError(
                        "repository: "
                        + (
                            "no repository of that name is known (configure and collect it)"
                            if not repos
                            else "several repositories have that name (use owner/name or path)"
                        )
                    )
            else:
                repos = self.repos_of(self.owner(e.service))
            if e.commit_sha:
                return e.model_copy(
                    update={"commit_sha": self.sha(e.commit_sha, repos, "commit_sha")}
                )
        if isinstance(e, PullRequestEvent) and e.merge_commit_sha:
            R = tables.Repository
            repos = list(
                self.session.scalars(select(R.id).where(R.name == e.repository, R.kind != "events"))
            )
            full = self.sha(
                e.merge_commit_sha, repos[:1] if len(repos) == 1 else [], "merge_commit_sha"
            )
            return e.model_copy(update={"merge_commit_sha": full})
        return e


# --- writing ------------------------------------------------------------------------------


def _build_row(e: BuildEvent) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "scope": e.pipeline,
        "external_id": e.id,
        "job": e.job or e.pipeline,
        "number": e.number,
        "commit_sha": e.commit_sha,
        "branch": e.branch,
        "event": None,
        "result": e.result,
        "stage": e.stage,
        "started_at": e.started_at,
        "duration_s": e.duration_s,
        "tests_total": e.tests.total if e.tests else None,
        "tests_failed": e.tests.failed if e.tests else None,
        "tests_skipped": e.tests.skipped if e.tests else None,
        "has_lint": e.lint,
        "url": e.url,
    }


def _deployment_row(e: DeploymentEvent) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "scope": e.service,
        "external_id": e.id,
        "service": e.service,
        "repository": e.repository,
        "environment": e.environment,
        "version": e.version,
        "commit_sha": e.commit_sha,
        "started_at": e.started_at,
        "finished_at": e.finished_at,
        "status": e.status,
        "trigger": e.trigger,
        "is_rollback": e.rollback,
        "is_hotfix": e.hotfix,
        "build_ref": e.build,
        "url": e.url,
    }


def _incident_row(e: IncidentEvent) -> dict[str, Any]:
    resolved = e.resolved_at is not None
    return {
        "source": SOURCE,
        "scope": e.service,
        "external_id": e.id,
        "key": e.key or e.id,
        "title": e.title,
        "issue_type": "incident",
        "priority": e.priority,
        "status": "resolved" if resolved else "open",
        "status_category": "done" if resolved else "indeterminate",
        "created_at": e.started_at,
        "updated_at": e.resolved_at or e.started_at,
        "resolved_at": e.resolved_at,
        "is_incident": True,
        "service": e.service,
        "deployment_ref": e.deployment,
        "url": e.url,
    }


def _pull_request_row(e: PullRequestEvent) -> dict[str, Any]:
    return {
        "scope": e.repository,
        "number": e.number,
        "external_id": e.id,
        "title": e.title or "",
        "state": e.state,
        "author_hash": None,  # team level only: no person is named or counted here
        "base_branch": e.base_branch,
        "head_branch": e.head_branch,
        "head_sha": None,
        "merge_commit_sha": e.merge_commit_sha,
        "created_at": e.created_at,
        "updated_at": e.merged_at or e.closed_at or e.created_at,
        "first_commit_at": e.first_commit_at,
        "first_review_at": e.first_review_at,
        "approved_at": e.approved_at,
        "merged_at": e.merged_at,
        "closed_at": e.closed_at or e.merged_at,
        "additions": e.additions,
        "deletions": e.deletions,
        "commits_count": None,
        "review_count": e.reviews,
        "approval_count": e.approvals,
    }


#: the table each kind of event goes to
_TABLES: dict[str, type[tables.Base]] = {
    "build": tables.Build,
    "deployment": tables.Deployment,
    "incident": tables.Issue,
    "pull_request": tables.PullRequest,
}
KINDS = tuple(_TABLES)
_ROWS: dict[type[Any], Any] = {
    BuildEvent: _build_row,
    DeploymentEvent: _deployment_row,
    IncidentEvent: _incident_row,
    PullRequestEvent: _pull_request_row,
}


def rows_by_kind(events: Iterable[AnyEvent]) -> dict[str, list[dict[str, Any]]]:
    """Table rows per kind; an event sent twice in one batch keeps its last version."""
    latest: dict[str, dict[tuple[Any, Any], dict[str, Any]]] = {k: {} for k in _TABLES}
    for e in events:
        row = _ROWS[type(e)](e)
        # One INSERT .. ON CONFLICT cannot touch the same row twice (PostgreSQL refuses).
        natural = (row["scope"], row["number"]) if e.kind == "pull_request" else row["external_id"]
        latest[e.kind][(row["scope"], natural)] = row
    return {kind: list(rows.values()) for kind, rows in latest.items()}


@dataclass
class _Owners:
    """Owners looked up once per ingestion, not once per batch."""

    teams: dict[str, int | None] = field(default_factory=dict)
    repositories: dict[str, int] = field(default_factory=dict)


def store(
    session: Session, events: Iterable[AnyEvent], *, owners: _Owners | None = None
) -> dict[str, int]:
    """Upsert events in the caller's transaction (by (source, scope, id); pull requests by
    repository and number); counts per kind."""
    known = owners or _Owners()
    resolver = _Resolver(session)
    counts: dict[str, int] = {}
    for kind, rows in rows_by_kind(events).items():
        if kind == "pull_request":
            for row in rows:
                name = row.pop("scope")
                if name not in known.repositories:
                    known.repositories[name] = teams.repository_for_events(session, name)
                row["repository_id"] = known.repositories[name]
            counts[kind] = write.upsert(
                session, tables.PullRequest, rows, key=["repository_id", "number"]
            )
            continue
        for row in rows:
            scope = row["scope"]
            if scope not in known.teams:
                known.teams[scope] = teams.owner_of(session, SOURCE, scope)
            row["team_id"] = known.teams[scope]
            if kind == "deployment":
                name = row.pop("repository")
                named = resolver.repository(name) if name is not None else []
                row["repository_id"] = named[0] if len(named) == 1 else None
        counts[kind] = write.upsert(session, _TABLES[kind], rows, key=_KEY)
    return counts


@dataclass
class IngestResult:
    """What one ingestion did: rows written per kind, events refused, the collector run.

    ``invalid`` keeps the first :data:`MAX_INVALID_KEPT` refusals; ``invalid_count`` counts
    them all.
    """

    counts: dict[str, int]
    invalid: list[Invalid]
    written: bool
    run_id: int
    invalid_count: int = 0

    @property
    def records(self) -> int:
        return sum(self.counts.values())


#: events written per statement; the whole ingestion is still one transaction
BATCH_SIZE = 2_000
#: refusals kept to be reported (all are counted): a file of junk must not fill the memory
MAX_INVALID_KEPT = 10_000


class _Refused(Exception):
    """Some event was invalid: roll the ingestion's transaction back."""


def ingest(
    sessions: sessionmaker[Session],
    items: Parsed | Iterable[Item],
    *,
    scope: str,
    skip_invalid: bool = False,
    batch_size: int = BATCH_SIZE,
) -> IngestResult:
    """Write events in one transaction, in batches as they are read, with a collector run
    (source ``events``).

    ``items`` may be a generator (:func:`iter_lines` over an open file): memory stays flat in
    the input's size. All or nothing: with any invalid event and ``skip_invalid`` false, the
    transaction is rolled back (even if the bad line is the last one), the rest of the input is
    still validated so that every invalid event is reported, and the run is recorded as failed;
    otherwise the valid events are written together, and the run is ``partial`` if some were
    skipped. A database error rolls the whole ingestion back.
    """
    from collectors import runner

    if isinstance(items, Parsed):
        items = [*items.invalid, *items.events]
    invalid: list[Invalid] = []
    invalid_count = 0
    counts: dict[str, int] = {}
    failure: Exception | None = None
    with runner.recorded_run(sessions, SOURCE, scope) as run:
        try:
            with session_scope(sessions) as session:
                owners = _Owners()
                resolver = _Resolver(session)
                batch: list[AnyEvent] = []
                for item in items:
                    if not isinstance(item, Invalid):
                        try:  # abbreviated shas in full, named repositories known
                            item = resolver.event(item)
                        except ValueError as exc:
                            item = Invalid(item._position or 0, str(exc))
                    if isinstance(item, Invalid):
                        invalid_count += 1
                        if len(invalid) < MAX_INVALID_KEPT:
                            invalid.append(item)
                        if not skip_invalid:
                            batch.clear()  # nothing more is written; the rest is only checked
                        continue
                    if invalid_count and not skip_invalid:
                        continue
                    batch.append(item)
                    if len(batch) >= batch_size:
                        _add(counts, store(session, batch, owners=owners))
                        batch.clear()
                if invalid_count and not skip_invalid:
                    raise _Refused
                _add(counts, store(session, batch, owners=owners))
        except _Refused:
            raise CollectorError(f"{invalid_count} invalid event(s); nothing written") from None
        except Exception as exc:
            failure = exc
            raise CollectorError(f"{type(exc).__name__}: nothing written") from None
        run.count(counts)
        if invalid_count:
            run.warnings.append(f"{invalid_count} invalid event(s) skipped")
    if failure is not None:
        raise failure
    written = not (invalid_count and not skip_invalid)
    return IngestResult(
        counts=counts if written else {},
        invalid=invalid,
        written=written,
        run_id=run.run_id,
        invalid_count=invalid_count,
    )


def _add(total: dict[str, int], more: Mapping[str, int]) -> None:
    for kind, n in more.items():
        total[kind] = total.get(kind, 0) + n


def summarize(
    invalid: Sequence[Invalid], *, label: str = "line", limit: int = 20, total: int | None = None
) -> list[str]:
    """Human lines for refused events: the first ``limit``, then how many more."""
    lines = [f"{label} {i.position}: {i.reason}" for i in invalid[:limit]]
    count = len(invalid) if total is None else max(total, len(invalid))
    if count > limit:
        lines.append(f"... and {count - limit} more invalid {label}(s)")
    return lines


def counts_text(counts: Mapping[str, int]) -> str:
    """``3 builds, 2 deployments, 0 incidents, 0 pull requests``."""
    return ", ".join(f"{counts.get(k, 0)} {k.replace('_', ' ')}s" for k in _TABLES)
