"""The git collector: commits, tags and branches of every configured repository.

One streaming ``git log`` per repository, parsed as it arrives and upserted in batches; a
cursor of ref tips makes a re-run read only what is new. Authors are stored only as salted
hashes: no name or e-mail address ever reaches the store.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from collectors.base import CollectContext, CollectorError, ScopeResult
from collectors.git.flow import SOURCE, Target, collect_repository
from maturity import teams
from maturity.config import RepositorySpec
from maturity.store import tables, write
from maturity.store.engine import session_scope

__all__ = ["collect", "collect_repository", "targets"]

logger = logging.getLogger("collectors.git")


def targets(ctx: CollectContext) -> list[Target]:
    """The repositories to collect: every team's, or only ``ctx.team``'s, each once."""
    config = ctx.config
    wanted = [config.team(ctx.team)] if ctx.team else config.teams
    found: dict[str, Target] = {}
    with session_scope(ctx.sessions) as session:
        for team in wanted:
            team_id = session.scalar(select(tables.Team.id).where(tables.Team.name == team.name))
            for spec in team.repositories:
                spec = spec if isinstance(spec, RepositorySpec) else RepositorySpec(location=spec)
                location = config.resolve(spec.location)
                key = teams.repository_key(location)
                if key in found:
                    continue
                repo_id = session.scalar(
                    select(tables.Repository.id).where(tables.Repository.key == key)
                )
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
    return list(found.values())


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect every configured repository; a failing one never stops the others."""
    results = []
    for target in targets(ctx):
        with session_scope(ctx.sessions) as session:
            run_id = write.start_run(session, source=SOURCE, scope=target.key)
        try:
            result = collect_repository(
                ctx.sessions,
                target,
                ctx.config.cache_dir(),
                full_refresh=ctx.full_refresh,
                progress=ctx.progress,
            )
        except CollectorError as exc:
            result = ScopeResult(SOURCE, target.key, status="failed", error=str(exc))
        except Exception as exc:
            logger.debug("collection of %s failed", target.key, exc_info=True)
            first = (str(exc).strip().splitlines() or [""])[0]
            result = ScopeResult(
                SOURCE, target.key, status="failed", error=f"{type(exc).__name__}: {first}"
            )
        with session_scope(ctx.sessions) as session:
            write.finish_run(
                session,
                run_id,
                status=result.status,
                records=result.records,
                counts=result.counts,
                error=result.error,
            )
        results.append(result)
    return results
