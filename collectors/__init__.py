"""Collectors: pull data from git, GitHub, GitLab, Jenkins and Jira into the store, and take events.

Each source declares itself once, in its own folder (``SOURCE = Source(...)``: its name, the
model of its ``[sources.NAME]`` section, its team key, its collector). Registering it is one
line in ``REGISTERED`` below; ``collectors.runner`` runs any of them the same way.

Importing this package imports no source: ``SOURCES`` imports the declarations on first use,
so that the command line can name the sources (``REGISTERED``) without paying for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.base import CollectContext, ScopeResult, Source

    #: source name -> declaration; the order is the order ``maturity collect`` runs them in
    SOURCES: dict[str, Source[Any]]

#: source name -> ``module:attribute`` of its declaration, in the order ``maturity collect`` runs
#: them: one registration line per source
REGISTERED: dict[str, str] = {
    "git": "collectors.git:SOURCE",
    "github": "collectors.github:SOURCE",
    "gitlab": "collectors.gitlab:SOURCE",
    "jenkins": "collectors.jenkins:SOURCE",
    "jira": "collectors.jira:SOURCE",
    "events": "collectors.event_source:DECLARATION",
}
#: the sources that are pushed, not pulled: declared (a team key, row attribution), but with
#: nothing for ``maturity collect`` to do ('maturity ingest' and the API take their events)
PUSHED: frozenset[str] = frozenset({"events"})

__all__ = [
    "PUSHED",
    "REGISTERED",
    "SOURCES",
    "CollectContext",
    "ScopeResult",
    "Source",
    "collect",
    "collector",
    "pulled",
]


def pulled() -> tuple[str, ...]:
    """The names of the sources ``maturity collect`` pulls from, without importing any."""
    return tuple(name for name in REGISTERED if name not in PUSHED)


def _declarations() -> dict[str, Source[Any]]:
    found: dict[str, Source[Any]] = {}
    for name, target in REGISTERED.items():
        module, _, attribute = target.partition(":")
        found[name] = getattr(importlib.import_module(module), attribute)
    return found


def _sources() -> dict[str, Source[Any]]:
    found: dict[str, Source[Any]] | None = globals().get("SOURCES")
    if found is None:
        # built once: later reads (and changes, as a test registering a source) find this dict
        found = globals()["SOURCES"] = _declarations()
    return found


def __getattr__(name: str) -> Any:
    if name == "SOURCES":
        return _sources()
    if name in ("CollectContext", "ScopeResult", "Source"):
        from collectors import base

        return getattr(base, name)
    raise AttributeError(f"module 'collectors' has no attribute {name!r}")


def collect(ctx: CollectContext, names: list[str] | None = None) -> list[ScopeResult]:
    """Collect the named sources (default: all of them, in order); see ``collectors.runner``."""
    from collectors import runner

    return runner.collect(ctx, names)


def collector(source: str) -> Callable[[CollectContext], list[ScopeResult]]:
    """The ``collect(ctx)`` of one source; KeyError for a source that does not exist."""
    from collectors import runner

    declaration = _sources()[source]
    return lambda ctx: runner.collect_source(ctx, declaration)
