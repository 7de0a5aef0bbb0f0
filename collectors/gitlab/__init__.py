"""GitLab: merge requests with approvals and first commits, default-branch commits, pipelines
with their jobs and test reports, deployments and issues of the projects teams list, through
python-gitlab, incrementally, on gitlab.com or a self-managed GitLab.

Every project is one scope (its full path, ``group/sub/project``); a glob in a team's ``gitlab``
list (``group/sub/*``) expands to the matching projects of that group and its subgroups. Each
kind of record is a stream (``streams``); a stream that fails is recorded with its reason and
the project's other streams are still collected.
"""

from __future__ import annotations

from collectors.base import CollectContext, ScopeResult, Source
from collectors.gitlab.config import GitLabConfig, TeamProjects

SOURCE = Source(
    name="gitlab",
    settings=GitLabConfig,
    team_key="gitlab",
    team_type=TeamProjects,
    collector="collectors.gitlab.streams:GitLabCollector",
    row_sources=("gitlab_ci",),
    lists_repositories=True,
)

__all__ = ["SOURCE", "collect"]


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect every GitLab project the configured teams own (or ``ctx.team`` owns)."""
    from collectors import runner

    return runner.collect_source(ctx, SOURCE)
