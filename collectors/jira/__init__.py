"""Jira: issues, incidents and status transitions of the projects teams own, via the jira library.

Every project a team lists (``jira = ["PAY"]``; globs like ``"PAY*"`` are expanded against the
project list) is one scope with one stream, ``issues``: a JQL search ordered by ``updated``,
with the changelog expanded so that transitions come in the same requests (see ``streams``).
"""

from __future__ import annotations

from collectors.base import CollectContext, ScopeResult, Source
from collectors.jira.config import JiraConfig

SOURCE = Source(
    name="jira",
    settings=JiraConfig,
    team_key="jira",
    collector="collectors.jira.streams:JiraCollector",
)

__all__ = ["SOURCE", "collect"]


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect the issues of every Jira project the (selected) teams own, one scope a project."""
    from collectors import runner

    return runner.collect_source(ctx, SOURCE)
