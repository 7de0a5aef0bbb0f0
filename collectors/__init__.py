"""Collectors: pull data from git, GitHub, Jenkins and Jira into the store.

Each source is a module with ``collect(ctx: CollectContext) -> list[ScopeResult]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from collectors.base import CollectContext, ScopeResult

#: source name -> module that implements it; the order is the order ``maturity collect`` runs.
SOURCES: dict[str, str] = {
    "git": "collectors.git",
    "github": "collectors.github",
    "jenkins": "collectors.jenkins",
    "jira": "collectors.jira",
}

__all__ = ["SOURCES", "CollectContext", "ScopeResult", "collector"]


def collector(source: str) -> Callable[[CollectContext], list[ScopeResult]]:
    """The ``collect`` function of ``source``; KeyError for a source that does not exist."""
    module = importlib.import_module(SOURCES[source])
    fn: Callable[[CollectContext], list[ScopeResult]] = module.collect
    return fn
