"""Collectors: pull data from git, GitHub, GitLab, Jenkins and Jira into the store, and take events.

Each source declares itself once, in its own folder (``SOURCE = Source(...)``: its name, the
model of its ``[sources.NAME]`` section, its team key, its collector). Registering it is one
line below; ``collectors.runner`` runs any of them the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from collectors import events, git, github, gitlab, jenkins, jira
from collectors.base import CollectContext, ScopeResult, Source

#: source name -> declaration; the order is the order ``maturity collect`` runs them in
SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        git.SOURCE,
        github.SOURCE,
        gitlab.SOURCE,
        jenkins.SOURCE,
        jira.SOURCE,
        events.DECLARATION,
    )
}

__all__ = ["SOURCES", "CollectContext", "ScopeResult", "Source", "collect", "collector"]


def collect(ctx: CollectContext, names: list[str] | None = None) -> list[ScopeResult]:
    """Collect the named sources (default: all of them, in order); see ``collectors.runner``."""
    from collectors import runner

    return runner.collect(ctx, names)


def collector(source: str) -> Callable[[CollectContext], list[ScopeResult]]:
    """The ``collect(ctx)`` of one source; KeyError for a source that does not exist."""
    from collectors import runner

    declaration = SOURCES[source]
    return lambda ctx: runner.collect_source(ctx, declaration)
