"""GitHub: pull requests and reviews, commits, Actions runs, deployments, tags and releases,
and issues of the repositories teams list, through PyGithub, incrementally.

Every repository is one scope (``owner/name``); ``owner/*`` in a team's ``github`` list expands
to every repository of that organisation or user. Each kind of record is a stream
(``streams``); a stream that fails is recorded with its reason and the repository's other
streams are still collected.
"""

from __future__ import annotations

from collectors.base import CollectContext, ScopeResult, Source
from collectors.github.config import GitHubConfig, TeamRepositories

SOURCE = Source(
    name="github",
    settings=GitHubConfig,
    team_key="github",
    team_type=TeamRepositories,
    collector="collectors.github.streams:GitHubCollector",
    row_sources=("github_actions",),
    lists_repositories=True,
)

__all__ = ["SOURCE", "collect"]


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect every GitHub repository the configured teams own (or ``ctx.team`` owns)."""
    from collectors import runner

    return runner.collect_source(ctx, SOURCE)
