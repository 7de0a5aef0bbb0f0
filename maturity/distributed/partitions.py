"""Splitting the work: the (source, scope) pairs of a collection, teams into scoring partitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class Plan:
    """One collection: a task per entry of ``scopes``; ``failed`` were refused before any
    scope (an owner's repository list, Jenkins' job list), recorded as failed runs."""

    #: (source, scope), in the order the single-process collection runs them
    scopes: list[tuple[str, str]] = field(default_factory=list)
    #: results of entries that failed to list, as the single-process collection records them
    failed: list[Any] = field(default_factory=list)
    #: position of each failed result among all results (the single-process order)
    order: list[tuple[str, int]] = field(default_factory=list)


def plan(cc: Any, names: Sequence[str]) -> Plan:
    """List the scopes of the named sources (``collectors.runner.list_scopes``) and record the
    entries that failed to list, in the order ``collectors.runner.collect`` would."""
    import collectors
    from collectors import runner

    out = Plan()
    for name in names:
        source = collectors.SOURCES[name]
        if source.collector is None:
            continue
        if source.needs_settings and source.settings_of(cc.config) is None:
            runner._note_unconfigured(cc, source)  # as runner.collect_source says it
            continue
        scopes = runner.list_scopes(cc, source)
        for entry, error in scopes.failed.items():
            out.failed.append(runner.record_failure(cc.sessions, name, entry, error))
            out.order.append(("failed", len(out.failed) - 1))
        for scope in scopes.names:
            out.scopes.append((name, scope))
            out.order.append(("task", len(out.scopes) - 1))
    return out


def team_partitions(
    session: Session, size: int, team: str | Sequence[str] | None = None
) -> list[list[str]]:
    """Team names (all, or the named ones) in partitions of at most ``size``, by team id."""
    from maturity.store import scores

    teams = scores.team_names(session).sort_values("team_id")
    if team is not None:
        wanted = {n.casefold() for n in ([team] if isinstance(team, str) else team)}
        known = set(teams["name"].str.casefold())
        for name in wanted - known:
            raise LookupError(f"no team named {name!r} in the store (run 'maturity collect')")
        teams = teams[teams["name"].str.casefold().isin(wanted)]
    names = [str(n) for n in teams["name"]]
    return [names[i : i + size] for i in range(0, len(names), size)]
