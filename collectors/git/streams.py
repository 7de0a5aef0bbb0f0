"""The git history of one repository as one stream, and the collector whose scopes are the
repositories teams list.

Collect one repository: refs, the new commits since the cursor, tags and branches.

The cursor (source ``git``, scope the repository key, stream ``refs``) holds the ref tips of
the last successful run. A re-run asks git for ``<current tips> --not <previous tips>``, so it
reads only what is new, also after a force-push (the rewritten commits are new; the old ones
stay as history). Commits are written in batches, each in its own transaction; the last batch,
the tags, the branches and the new cursor share one, so a run killed halfway is resumed by the
next run from the old cursor, and upserts by (repository, sha) make the overlap harmless.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from collectors.base import (
    CollectContext,
    Collector,
    NoProgress,
    NoSettings,
    Progress,
    ScopeResult,
    Scopes,
    Stream,
    StreamResult,
)
from collectors.git import client as repo_mod
from collectors.git import log as log_mod
from maturity import teams
from maturity.config import RepositorySpec
from maturity.store import schema, write
from maturity.store.engine import session_scope

if TYPE_CHECKING:
    from maturity.store.engine import Writer, Writers

log = logging.getLogger("collectors.git")

SOURCE = "git"
STREAM = "refs"
#: commits a transaction; MATURITY_GIT_BATCH_SIZE overrides it (tests make batches small)
BATCH_SIZE = 5_000
_COMMIT_KEY = ["repository_id", "sha"]
_FILE_KEY = ["repository_id", "sha", "path"]
_IN_CHUNK = 500  # shas a ``WHERE sha IN (...)``


def batch_size() -> int:
    value = os.environ.get("MATURITY_GIT_BATCH_SIZE")
    return max(1, int(value)) if value else BATCH_SIZE


@dataclass(frozen=True)
class Target:
    """One configured repository: where it is and which store row it fills."""

    key: str
    location: str
    repository_id: int
    default_branch: str | None  # as configured; None: from HEAD


@dataclass(frozen=True)
class _Cursor:
    default: str | None
    refs: dict[str, str]

    def dump(self) -> str:
        return json.dumps({"default": self.default, "refs": self.refs}, sort_keys=True)

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(data.get("default"), dict(data["refs"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring an unreadable git cursor; reading the whole history")
            return None


@dataclass(frozen=True)
class _State:
    """The repository's refs as read at the start of a run."""

    path: Path
    refs: list[repo_mod.Ref]
    heads: dict[str, repo_mod.Ref]
    default: str | None
    cursor: _Cursor

    @property
    def default_ref(self) -> repo_mod.Ref | None:
        return self.heads.get(self.default) if self.default else None


@dataclass(frozen=True)
class _DefaultChange:
    """Commits that became reachable from the default branch, and those that fell off it."""

    now: set[str]
    left: list[str]
    reset: bool  # the default branch itself changed: recompute every flag


def collect_repository(
    sessions: Writers,
    target: Target,
    cache_dir: Path,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> ScopeResult:
    """Bring the store up to date with one repository; see the module's docstring."""
    progress = progress or NoProgress()
    path = repo_mod.open_repository(target.location, cache_dir)
    state = _read_state(path, target)
    with session_scope(sessions) as session:
        salt = teams.author_salt(session)
        previous = None
        if not full_refresh:
            previous = _Cursor.load(
                write.get_cursor(session, source=SOURCE, scope=target.key, stream=STREAM)
            )
    result = ScopeResult(source=SOURCE, scope=target.key)
    if previous == state.cursor:
        progress.start(f"git {Path(target.location).name}: nothing new", 0)
        return result

    old_tips = repo_mod.existing_commits(
        path, sorted(set(previous.refs.values())) if previous else []
    )
    new_tips = sorted(set(state.cursor.refs.values()) - set(old_tips))
    # git log starts first: it streams into its buffer while the default branch is walked.
    proc = log_mod.LogProcess(path, new_tips, old_tips) if new_tips else None
    try:
        change = _default_change(state, previous, old_tips)
        written, last = _stream_commits(sessions, target, state, proc, change, salt, progress)
        counts = _finish(sessions, target, state, previous, change, last, salt)
    finally:
        if proc is not None:
            proc.close()
    progress.advance(len(last))
    result.records = written + len(last)
    result.counts = {"commits": result.records, **counts}
    return result


def _read_state(path: Path, target: Target) -> _State:
    refs = repo_mod.list_refs(path)
    heads = {
        r.name.removeprefix("refs/heads/"): r for r in refs if r.name.startswith("refs/heads/")
    }
    default = repo_mod.default_branch(path, set(heads), target.default_branch)
    return _State(path, refs, heads, default, _Cursor(default, {r.name: r.sha for r in refs}))


def _default_change(state: _State, previous: _Cursor | None, old_tips: list[str]) -> _DefaultChange:
    default, default_ref = state.default, state.default_ref
    old_default = None
    if previous is not None and previous.default == default and default:
        sha = previous.refs.get(f"refs/heads/{default}")
        old_default = sha if sha in set(old_tips) else None
    now: set[str] = set()
    left: list[str] = []
    if default_ref is not None and default_ref.sha != old_default:
        exclude = [old_default] if old_default else []
        now = set(repo_mod.rev_list(state.path, [default_ref.sha], exclude))
        if old_default:
            left = repo_mod.rev_list(state.path, [old_default], [default_ref.sha])
    elif default_ref is None and old_default is not None:
        left = repo_mod.rev_list(state.path, [old_default], [])
    # Without a usable old tip (renamed default, or its commits gone after a rewrite and gc),
    # every stored flag is recomputed.
    reset = previous is not None and (previous.default != default or old_default is None)
    return _DefaultChange(now, left, reset)


def _stream_commits(
    sessions: Writers,
    target: Target,
    state: _State,
    proc: log_mod.LogProcess | None,
    change: _DefaultChange,
    salt: bytes,
    progress: Progress,
) -> tuple[int, list[dict[str, Any]]]:
    """Write every full batch of new commits; return how many, and the last (partial) batch."""
    has_default = state.default_ref is not None

    def on_default(sha: str) -> bool | None:
        return (sha in change.now) if has_default else None

    def hash_author(email: str) -> str:
        return teams.hash_identity(salt, email)

    size = batch_size()
    progress.start(f"git {Path(target.location).name}", None)
    batch: list[dict[str, Any]] = []
    written = 0
    if proc is None:
        return written, batch
    for row in log_mod.parse(proc.chunks(), author_hash=hash_author, on_default=on_default):
        row["repository_id"] = target.repository_id
        batch.append(row)
        if len(batch) >= size:
            with session_scope(sessions) as session:
                _write_commits(session, batch)
            written += len(batch)
            progress.advance(len(batch))
            batch = []
    proc.close()  # raises if git failed: the cursor must not move past a partial log
    return written, batch


def _finish(
    sessions: Writers,
    target: Target,
    state: _State,
    previous: _Cursor | None,
    change: _DefaultChange,
    last: list[dict[str, Any]],
    salt: bytes,
) -> dict[str, int]:
    """The last batch, the flags, tags, branches and the new cursor: one transaction."""
    branch_rows = [
        {
            "repository_id": target.repository_id,
            "name": name,
            "head_sha": ref.sha,
            "is_default": name == state.default,
            "last_commit_at": ref.committed_at,
        }
        for name, ref in sorted(state.heads.items())
    ]
    with session_scope(sessions) as session:
        _write_commits(session, last)
        # On a first or full run (or after an empty repository) every reachable commit was
        # just written with its flag; otherwise commits stored earlier may have changed sides.
        if previous is not None and previous.refs:
            _mark_default(session, target.repository_id, change.reset, change.now, change.left)
        tag_rows = _tag_rows(session, state, target.repository_id, salt)
        where = {"repository_id": target.repository_id}
        write.replace_rows(session, schema.tags, tag_rows, ["repository_id", "name"], where=where)
        write.replace_rows(
            session, schema.branches, branch_rows, ["repository_id", "name"], where=where
        )
        write.update_rows(
            session,
            schema.repositories,
            {"default_branch": state.default},
            where={"id": target.repository_id},
        )
        write.set_cursor(
            session, source=SOURCE, scope=target.key, stream=STREAM, value=state.cursor.dump()
        )
    return {"tags": len(tag_rows), "branches": len(branch_rows)}


def _write_commits(session: Writer, rows: list[dict[str, Any]]) -> None:
    """Upsert commits and the files they changed (rows as :func:`log_mod.parse` yields them)."""
    files: list[dict[str, Any]] = []
    for row in rows:
        lines: dict[str, list[int]] = {}
        for path, added, deleted in row.pop("files", ()):
            counts = lines.setdefault(path, [0, 0])
            counts[0] += added
            counts[1] += deleted
        files.extend(
            {
                "repository_id": row["repository_id"],
                "sha": row["sha"],
                "path": path,
                "additions": added,
                "deletions": deleted,
            }
            for path, (added, deleted) in lines.items()
        )
    write.upsert(session, schema.commits, rows, _COMMIT_KEY)
    write.upsert(session, schema.commit_files, files, _FILE_KEY)


def _mark_default(
    session: Writer,
    repository_id: int,
    reset: bool,
    now_default: set[str],
    left_default: Iterable[str],
) -> None:
    """Set ``on_default_branch`` of commits stored earlier whose reachability changed."""
    where = {"repository_id": repository_id}
    if reset:
        write.update_rows(session, schema.commits, {"on_default_branch": False}, where=where)
    for shas, value in ((sorted(left_default), False), (sorted(now_default), True)):
        if shas:
            write.update_rows(
                session,
                schema.commits,
                {"on_default_branch": value},
                where=where,
                where_in=("sha", shas),
            )


def _tag_rows(
    session: Writer, state: _State, repository_id: int, salt: bytes
) -> list[dict[str, Any]]:
    """Rows of ``tags``; call it once the commits and their flags are written.

    Every tagged commit is in the store (tags are among the tips walked), so whether the
    default branch reaches a tag is its commit's flag: no second walk of the history.
    """
    tags = [r for r in state.refs if r.name.startswith("refs/tags/")]
    has_default = state.default_ref is not None
    on_default: set[str] = set()
    shas = sorted({ref.sha for ref in tags}) if has_default else []
    commits = schema.commits.c
    for start in range(0, len(shas), _IN_CHUNK):
        on_default.update(
            session.scalars(
                select(commits.sha).where(
                    commits.repository_id == repository_id,
                    commits.sha.in_(shas[start : start + _IN_CHUNK]),
                    commits.on_default_branch.is_(True),
                )
            )
        )
    return [
        {
            "repository_id": repository_id,
            "name": ref.name.removeprefix("refs/tags/"),
            "sha": ref.sha,
            "tagged_at": ref.tagged_at if ref.object_type == "tag" else ref.committed_at,
            "is_annotated": ref.object_type == "tag",
            "tagger_hash": teams.hash_identity(salt, ref.tagger_email)
            if ref.tagger_email
            else None,
            "on_default_branch": (ref.sha in on_default) if has_default else None,
        }
        for ref in tags
    ]


# --- the stream and the collector: scopes are repositories ---------------------------------


class History(Stream):
    """A repository's whole history as one stream: one ``git log`` of what is new (see the
    module's docstring); its cursor is the ref tips, written with the last batch."""

    source = SOURCE
    name = "commits"

    def __init__(self, target: Target, cache_dir: Path) -> None:
        super().__init__(target.key)
        self.target = target
        self.cache_dir = cache_dir

    def run(self, sessions: Writers, *, full_refresh: bool, progress: Progress) -> StreamResult:
        result = collect_repository(
            sessions, self.target, self.cache_dir, full_refresh=full_refresh, progress=progress
        )
        counts = {k: v for k, v in result.counts.items() if k != self.name}
        return StreamResult(written=result.records, counts=counts)


class GitCollector(Collector[NoSettings]):
    """Every repository listed under ``teams[].repositories`` is one scope (its key)."""

    def __init__(self, ctx: CollectContext, settings: NoSettings) -> None:
        super().__init__(ctx, settings)
        self._targets: dict[str, Target] | None = None

    def targets(self, only: str | None = None) -> dict[str, Target]:
        """The repositories to collect: every team's, or only ``ctx.team``'s, each once;
        with ``only``, that one scope alone (a task per scope reads one repository's row, not
        every team's)."""
        if self._targets is not None:
            return self._targets
        config = self.ctx.config
        wanted = [config.team(self.ctx.team)] if self.ctx.team else config.teams
        found: dict[str, Target] = {}
        with session_scope(self.ctx.sessions) as session:
            for team in wanted:
                team_id: int | None = None
                for spec in team.repositories:
                    spec = (
                        spec if isinstance(spec, RepositorySpec) else RepositorySpec(location=spec)
                    )
                    location = config.resolve(spec.location)
                    key = teams.repository_key(location)
                    if key in found or (only is not None and key != only):
                        continue
                    if team_id is None:
                        team_id = session.scalar(
                            select(schema.teams.c.id).where(schema.teams.c.name == team.name)
                        )
                    R = schema.repositories
                    repo_id = session.scalar(select(R.c.id).where(R.c.key == key))
                    if repo_id is None:  # not synced yet (called outside ``maturity collect``)
                        repo_id = teams.upsert_repository(
                            session,
                            key=key,
                            kind="git",
                            name=spec.name or teams.repository_name(location),
                            location=location,
                            team_id=team_id,
                            default_branch=spec.default_branch,
                        )
                    found[key] = Target(key, location, repo_id, spec.default_branch)
        if only is None:
            self._targets = found
        return found

    def scopes(self) -> Scopes:
        return Scopes(names=list(self.targets()))

    def streams(self, scope: str) -> list[Stream]:
        target = (self._targets if self._targets is not None else self.targets(scope)).get(scope)
        if target is None:
            from collectors.base import CollectorError

            raise CollectorError(f"git {scope}: no team lists this repository")
        return [History(target, self.ctx.config.cache_dir())]
