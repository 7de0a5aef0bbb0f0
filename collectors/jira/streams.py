"""The issues stream of one Jira project: incremental JQL search, changelogs, upserts; and the
collector whose scopes are the projects teams own.

A full read (the first run, or ``--full-refresh``) sees every issue of the project that the
filter keeps; issues stored before and not seen were deleted (or moved, or filtered out) in
Jira, and are deleted here too, with their transitions, and counted (``issues_deleted``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from collectors.base import CollectContext, Collector, CollectorError, Page, Scopes, Stream
from collectors.jira import records
from collectors.jira.client import BASE_FIELDS, JiraApi
from collectors.jira.config import JiraConfig
from maturity import teams
from maturity.store import tables, write

if TYPE_CHECKING:
    from maturity.store.engine import Writer

log = logging.getLogger("collectors.jira")
SOURCE = "jira"


def quote(value: str) -> str:
    """A JQL string literal: the value in double quotes with quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def since_clause(cursor: str | None, lookback_minutes: int) -> str | None:
    """The ``updated >=`` bound for a stored cursor, ``lookback_minutes`` earlier.

    JQL compares dates to the minute, in the time zone the server renders for this user; the
    cursor is the raw ``updated`` value of the last issue written, so its own offset is that
    zone. The look-back covers the lost seconds and issues updated while a page was read; the
    overlap is harmless because every write is an upsert.
    """
    if not cursor:
        return None
    try:
        last = dt.datetime.fromisoformat(cursor)
    except ValueError:
        return None
    if last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    start = last - dt.timedelta(minutes=lookback_minutes)
    return f"updated >= {quote(start.strftime('%Y-%m-%d %H:%M'))}"


def build_jql(project: str, *, extra: str | None, since: str | None) -> str:
    """``project = X [AND (extra)] [AND updated >= ...] ORDER BY updated ASC, key ASC``."""
    parts = [f"project = {quote(project)}"]
    if extra and extra.strip():
        parts.append(f"({extra.strip()})")
    if since:
        parts.append(since)
    return " AND ".join(parts) + " ORDER BY updated ASC, key ASC"


class IssueStream(Stream):
    """Issues of one project with their status transitions, oldest update first."""

    source = SOURCE
    name = "issues"
    table = tables.Issue
    key = ("source", "scope", "external_id")

    def __init__(self, scope: str, api: JiraApi, rules: records.Rules) -> None:
        super().__init__(scope)
        self.api = api
        self.rules = rules
        self.fields = list(records_fields(rules))
        self._team_id: tuple[int | None] | None = None
        #: ids of every issue read (what a full read compares the store with)
        self.seen: set[str] = set()

    def pages(self, since: str | None) -> Iterator[Page]:
        cfg = self.api.cfg
        jql = build_jql(self.scope, extra=cfg.jql, since=since_clause(since, cfg.lookback_minutes))
        start, token = 0, None
        high = since
        while True:
            page = self.api.search(self.scope, jql, fields=self.fields, start=start, token=token)
            for raw in page.issues:
                self._complete_changelog(raw)
                if isinstance(raw, dict) and isinstance(raw.get("id"), str | int):
                    self.seen.add(str(raw["id"]))
            # The look-back re-reads issues older than the cursor; it never moves backwards.
            high = _later(high, _last_updated(page.issues))
            yield Page(page.issues, cursor=high)
            if page.next_start is None and page.next_token is None:
                return
            start, token = page.next_start or 0, page.next_token

    def _complete_changelog(self, raw: Any) -> None:
        """Fetch the histories a search left out (Jira returns at most about 100 per issue)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("changelog"), dict):
            return
        changelog = raw["changelog"]
        histories = changelog.get("histories")
        total = changelog.get("total")
        if not isinstance(histories, list) or not isinstance(total, int):
            return
        if len(histories) >= total or not isinstance(raw.get("id"), str | int):
            return
        start = int(changelog.get("startAt") or 0) + len(histories)
        seen = {h.get("id") for h in histories if isinstance(h, dict)}
        more = True
        while more:
            values, more = self.api.changelog(self.scope, str(raw["id"]), start)
            start += len(values)
            histories.extend(
                v for v in values if not isinstance(v, dict) or v.get("id") not in seen
            )
        changelog["maxResults"] = len(histories)

    def normalize(self, raw: Any) -> records.IssueRecord:
        return records.normalize(raw, self.scope, self.rules)

    def store(self, session: Writer, items: list[records.IssueRecord]) -> int:
        if not items:
            return 0
        if self._team_id is None:
            self._team_id = (teams.owner_of(session, SOURCE, self.scope),)
        # One row per issue even if a page repeats one (it moved while we paged).
        by_id = {item.row["external_id"]: item for item in items}
        rows = [{**item.row, "team_id": self._team_id[0]} for item in by_id.values()]
        write.upsert(session, tables.Issue, rows, key=list(self.key))
        ids = write.ids_by_key(
            session, tables.Issue, "external_id", list(by_id), source=SOURCE, scope=self.scope
        )
        transitions = {
            (ids[ext], t["external_id"]): {**t, "issue_id": ids[ext]}
            for ext, item in by_id.items()
            for t in item.transitions
        }
        write.upsert(
            session,
            tables.IssueTransition,
            list(transitions.values()),
            key=["issue_id", "external_id"],
        )
        return len(rows)

    def finish(self, session: Writer, *, complete: bool) -> dict[str, int]:
        if not complete:
            return {}
        deleted = write.delete_absent(
            session,
            tables.Issue,
            "external_id",
            self.seen,
            where={"source": SOURCE, "scope": self.scope},
            children=[(tables.IssueTransition, "issue_id")],
        )
        if deleted:
            log.warning("jira %s: %d issue(s) no longer in Jira were deleted", self.scope, deleted)
        return {"issues_deleted": deleted}


def records_fields(rules: records.Rules) -> list[str]:
    """The issue fields a search asks for: what :func:`records.normalize` reads."""
    extra = [f for f in (rules.service_field, rules.deployment_field) if f]
    return [*dict.fromkeys([*BASE_FIELDS, *extra])]


def _last_updated(issues: list[Any]) -> str | None:
    """The ``updated`` value of the newest issue on a page (pages are sorted by it)."""
    best: tuple[dt.datetime, str] | None = None
    for raw in issues:
        fields = raw.get("fields") if isinstance(raw, dict) else None
        value = fields.get("updated") if isinstance(fields, dict) else None
        if not isinstance(value, str):
            continue
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            continue
        if best is None or parsed >= best[0]:
            best = (parsed, value)
    return best[1] if best else None


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two Jira timestamps; an unreadable or missing one loses."""

    def parse(value: str | None) -> dt.datetime | None:
        try:
            parsed = dt.datetime.fromisoformat(value) if value else None
        except ValueError:
            return None
        return parsed if parsed is not None and parsed.tzinfo is not None else None

    pa, pb = parse(a), parse(b)
    if pa is None or pb is None:
        return b if pa is None else a
    return a if pa >= pb else b


# --- the collector: scopes are projects ---------------------------------------------------


class JiraCollector(Collector[JiraConfig]):
    """Every project a team lists (``jira = ["PAY"]``; globs like ``"PAY*"`` are expanded
    against the project list) is one scope with one stream, ``issues``. One connection
    (``serverInfo`` and the field list, once) serves every scope of a run; a failure to connect
    is remembered, so that every scope reports the same reason."""

    def __init__(self, ctx: CollectContext, settings: JiraConfig) -> None:
        super().__init__(ctx, settings)
        self._api: JiraApi | None = None
        self._rules: records.Rules | None = None
        self._error: CollectorError | None = None

    def connect(self) -> tuple[JiraApi, records.Rules]:
        if self._error is not None:
            raise self._error
        cfg = self.settings
        try:
            if self._api is None:
                self._api = JiraApi(cfg, progress=self.ctx.progress, clock=self.ctx.clock)
            if self._rules is None:
                api = self._api
                self._rules = records.Rules.of(
                    cfg,
                    service_field=api.field_id(cfg.service_field) if cfg.service_field else None,
                    deployment_field=api.field_id(cfg.deployment_field)
                    if cfg.deployment_field
                    else None,
                )
        except CollectorError as exc:
            self._error = exc
            raise
        return self._api, self._rules

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def scopes(self) -> Scopes:
        teams_ = [self.ctx.config.team(self.ctx.team)] if self.ctx.team else self.ctx.config.teams
        patterns = sorted({p.strip() for t in teams_ for p in t.owns(SOURCE) if p.strip()})
        keys = [p for p in patterns if not any(c in p for c in "*?[")]
        globs = [p for p in patterns if p not in keys]
        if globs:
            try:
                api, _ = self.connect()
                visible = api.project_keys()
            except CollectorError:
                # The scopes are then the patterns themselves, each failing with the reason.
                return Scopes(names=sorted({*keys, *globs}))
            for glob in globs:
                keys += [k for k in visible if fnmatch.fnmatchcase(k.casefold(), glob.casefold())]
        return Scopes(names=sorted(set(keys)))

    def streams(self, scope: str) -> list[Stream]:
        api, rules = self.connect()
        return [IssueStream(scope, api, rules)]
