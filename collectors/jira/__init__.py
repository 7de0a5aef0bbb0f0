"""Jira: issues, incidents and status transitions of the projects teams own, via the jira library.

Every project a team lists (``jira = ["PAY"]``; globs like ``"PAY*"`` are expanded against the
project list) is one scope with one stream, ``issues``: a JQL search ordered by ``updated``,
with the changelog expanded so that transitions come in the same requests. One connection
(``serverInfo`` and the field list, once) serves every scope of a run.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable

from collectors.base import CollectContext, CollectorError, ScopeResult, Stream
from collectors.jira import records
from collectors.jira.api import JiraApi
from collectors.jira.stream import IssueStream
from collectors.runner import run_scope
from maturity.config import JiraSource

__all__ = ["collect"]

log = logging.getLogger("collectors.jira")


class _Connection:
    """Connects on first use and remembers a failure, so every scope reports the same reason."""

    def __init__(self, cfg: JiraSource, ctx: CollectContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self._api: JiraApi | None = None
        self._rules: records.Rules | None = None
        self._error: CollectorError | None = None

    def get(self) -> tuple[JiraApi, records.Rules]:
        if self._error is not None:
            raise self._error
        try:
            if self._api is None:
                self._api = JiraApi(self.cfg, progress=self.ctx.progress)
            if self._rules is None:
                api = self._api
                self._rules = records.Rules.of(
                    self.cfg,
                    service_field=api.field_id(self.cfg.service_field)
                    if self.cfg.service_field
                    else None,
                    deployment_field=api.field_id(self.cfg.deployment_field)
                    if self.cfg.deployment_field
                    else None,
                )
        except CollectorError as exc:
            self._error = exc
            raise
        return self._api, self._rules

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def _patterns(ctx: CollectContext) -> list[str]:
    teams = [ctx.config.team(ctx.team)] if ctx.team else ctx.config.teams
    return sorted({p.strip() for t in teams for p in t.jira if p.strip()})


def _scopes(patterns: list[str], conn: _Connection) -> list[str]:
    keys = [p for p in patterns if not any(c in p for c in "*?[")]
    globs = [p for p in patterns if p not in keys]
    if globs:
        try:
            api, _ = conn.get()
            visible = api.project_keys()
        except CollectorError:
            # The scopes are then the patterns themselves, each failing with the reason.
            return sorted({*keys, *globs})
        for glob in globs:
            keys += [k for k in visible if fnmatch.fnmatchcase(k.casefold(), glob.casefold())]
    return sorted(set(keys))


def collect(ctx: CollectContext) -> list[ScopeResult]:
    """Collect the issues of every Jira project the (selected) teams own, one scope a project."""
    cfg = ctx.config.sources.jira
    patterns = _patterns(ctx)
    if not patterns:
        return []
    if cfg is None:
        ctx.progress.note("jira: teams list Jira projects but [sources.jira] is not configured")
        return []
    conn = _Connection(cfg, ctx)
    results = []
    try:
        for scope in _scopes(patterns, conn):

            def streams(scope: str = scope) -> Iterable[Stream]:
                api, rules = conn.get()
                return [IssueStream(scope, api, rules)]

            result = run_scope(
                ctx.sessions,
                "jira",
                scope,
                streams,
                full_refresh=ctx.full_refresh,
                progress=ctx.progress,
            )
            results.append(result)
    finally:
        conn.close()
    return results
