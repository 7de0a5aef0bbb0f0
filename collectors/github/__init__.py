"""The GitHub collector: repositories, pull requests and reviews, commits, Actions runs,
deployments, tags and releases, and issues, through PyGithub, incrementally.

Every repository is one scope (``owner/name``); ``owner/*`` in a team's ``github`` list expands
to every repository of that organisation or user. A scope that fails (bad token, no access, no
such repository) is recorded as failed with a one-line reason and the next scope runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from collectors import runner
from collectors.base import CollectContext, CollectorError, ScopeResult, Stream
from collectors.github import streams
from collectors.github.client import GitHubClient, GitHubError
from maturity import config as config_mod
from maturity import teams
from maturity.store import tables, write
from maturity.store.engine import session_scope

SOURCE = "github"

__all__ = ["SOURCE", "collect"]


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str | None


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect every GitHub repository the configured teams own (or ``ctx.team`` owns)."""
    source = ctx.config.sources.github
    if source is None:
        return []
    entries: list[str] = []
    for team in ctx.config.teams:
        if ctx.team is not None and team.name.casefold() != ctx.team.casefold():
            continue
        entries += [e for e in team.github if e not in entries]
    if not entries:
        return []
    token = config_mod.secret(source.token_env)
    if token is None:
        ctx.progress.note(f"github: ${source.token_env} is not set; requests are anonymous")
    client = GitHubClient(source, token, progress=ctx.progress)
    results: list[ScopeResult] = []
    repos: dict[str, RepoInfo | None] = {}
    try:
        for entry in entries:
            if entry.endswith("/*"):
                try:
                    for listed in _list_owner(ctx, client, entry):
                        repos.setdefault(listed.full_name, listed)
                except CollectorError as exc:
                    results.append(_failed(ctx, entry, str(exc)))
            else:
                repos.setdefault(entry, None)
        for full_name, info in repos.items():
            results.append(
                runner.run_scope(
                    ctx.sessions,
                    SOURCE,
                    full_name,
                    _streams_of(ctx, client, full_name, info),
                    full_refresh=ctx.full_refresh,
                    progress=ctx.progress,
                )
            )
    finally:
        client.close()
    return results


def _failed(ctx: CollectContext, scope: str, error: str) -> ScopeResult:
    with session_scope(ctx.sessions) as session:
        run_id = write.start_run(session, source=SOURCE, scope=scope)
        write.finish_run(session, run_id, status="failed", records=0, error=error)
    return ScopeResult(source=SOURCE, scope=scope, status="failed", error=error)


def _cached(ctx: CollectContext, scope: str, stream: str) -> dict[str, Any]:
    if ctx.full_refresh:
        return {}
    with session_scope(ctx.sessions) as session:
        value = write.get_cursor(session, source=SOURCE, scope=scope, stream=stream)
    try:
        data = json.loads(value) if value else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _remember(ctx: CollectContext, scope: str, stream: str, data: dict[str, Any]) -> None:
    with session_scope(ctx.sessions) as session:
        write.set_cursor(session, source=SOURCE, scope=scope, stream=stream, value=json.dumps(data))


def _list_owner(ctx: CollectContext, client: GitHubClient, entry: str) -> list[RepoInfo]:
    """The repositories of an organisation (or, failing that, a user), cached by ETag."""
    owner = entry[:-2]
    cached = _cached(ctx, entry, "repositories")
    params = {"per_page": str(client.source.per_page)}
    kinds = ["orgs", "users"]
    if cached.get("kind") == "users":
        kinds.reverse()  # known to be a user: skip the organisation's 404
    found: list[dict[str, Any]] = []
    pages, etag, kind = 0, None, kinds[0]
    for kind in kinds:
        try:
            for items, resp in client.paginate(
                f"/{kind}/{owner}/repos",
                params,
                etag=cached.get("etag") if cached.get("kind") == kind else None,
                scope=entry,
                what="repositories",
            ):
                pages += 1
                etag = resp.etag if pages == 1 else etag
                found += [
                    {"full_name": r["full_name"], "default_branch": r.get("default_branch")}
                    for r in items
                    if isinstance(r, dict) and isinstance(r.get("full_name"), str)
                ]
            break
        except GitHubError as exc:
            if kind == kinds[0] and exc.status == 404:
                continue  # not an organisation (or no longer a user): try the other kind
            raise
    if pages == 0 and "repos" in cached:  # 304: the one-page list did not change
        found = cached["repos"]
    else:
        # A repository can appear on any page: trust the ETag only for a one-page list.
        remembered = {"kind": kind, "etag": etag if pages == 1 else None, "repos": found}
        _remember(ctx, entry, "repositories", remembered)
    ctx.progress.note(f"github {entry}: {len(found)} repositories")
    return [RepoInfo(r["full_name"], r.get("default_branch")) for r in found]


def _streams_of(
    ctx: CollectContext, client: GitHubClient, full_name: str, info: RepoInfo | None
) -> Callable[[], Iterable[Stream]]:
    def build() -> list[Stream]:
        source = ctx.config.sources.github
        assert source is not None
        if info is None:
            cached = _cached(ctx, full_name, "repository")
            resp = client.get(
                f"/repos/{full_name}", etag=cached.get("etag"), scope=full_name, what="repository"
            )
            if resp.not_modified:
                default_branch = cached.get("default_branch")
            else:
                default_branch = resp.data.get("default_branch")
                _remember(
                    ctx,
                    full_name,
                    "repository",
                    {"etag": resp.etag, "default_branch": default_branch},
                )
        else:
            default_branch = info.default_branch
        with session_scope(ctx.sessions) as session:
            team_id = teams.owner_of(session, SOURCE, full_name)
            repo_id = teams.upsert_repository(
                session,
                key=f"github:{full_name}",
                kind="github",
                name=full_name.split("/", 1)[1],
                location=f"{source.base_url.rstrip('/')}/repos/{full_name}",
                team_id=team_id,
                default_branch=default_branch,
                slug=full_name,
            )
            cloned = session.scalar(
                select(func.count())
                .select_from(tables.Repository)
                .where(
                    tables.Repository.kind == "git",
                    func.lower(tables.Repository.slug) == full_name.lower(),
                )
            )
        repo = streams.RepoScope(
            client=client,
            source=source,
            rules=ctx.config.rules,
            full_name=full_name,
            repository_id=repo_id,
            team_id=team_id,
            default_branch=default_branch,
        )
        chosen: list[Stream] = [streams.PullRequests(repo)]
        if not cloned:
            chosen.append(streams.Commits(repo))
        chosen += [
            streams.WorkflowRuns(repo),
            streams.Deployments(repo),
            streams.Tags(repo),
            streams.Releases(repo),
            streams.Issues(repo),
        ]
        return chosen

    return build
