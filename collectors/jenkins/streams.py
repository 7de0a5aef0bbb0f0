"""The builds of one Jenkins job as a stream: ranged pages, newest first, resumable cursor.

Jenkins lists a job's builds newest first and pages them by index (``allBuilds[...]{from,to}``),
not by build number. The cursor therefore records build numbers, never indexes:

- ``done``: every build up to this number is stored (those then running are in ``running``);
- ``running``: builds stored while running, read again until they finish;
- ``seg``: during a walk interrupted halfway, the numbers ``[low, high]`` already stored; the
  next run fills the hole ``(done, low)`` first, so that a killed run resumes with no gap and
  without reading again what it stored.

A run asks for the newest page first: when its newest build is ``done`` and nothing is running,
that one request is the whole run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    Page,
    Progress,
    Scopes,
    Stream,
)
from collectors.jenkins import records
from collectors.jenkins.client import JenkinsClient
from collectors.jenkins.config import JenkinsConfig
from maturity import teams
from maturity.config import Config, RulesConfig
from maturity.store import tables, write

if TYPE_CHECKING:
    from maturity.store.engine import Writer

log = logging.getLogger("collectors.jenkins")


@dataclass
class Cursor:
    done: int = 0
    running: set[int] = field(default_factory=set)
    seg: tuple[int, int] | None = None

    def dump(self) -> str:
        data: dict[str, Any] = {"done": self.done}
        if self.running:
            data["running"] = sorted(self.running)
        if self.seg is not None:
            data["seg"] = list(self.seg)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            seg = data.get("seg")
            return cls(
                done=int(data.get("done", 0)),
                running={int(n) for n in data.get("running", [])},
                seg=(int(seg[0]), int(seg[1])) if seg else None,
            )
        except (ValueError, TypeError, AttributeError, IndexError):
            log.warning("unreadable jenkins cursor %r; reading the job again", text[:80])
            return cls()


class BuildStream(Stream):
    """Builds of one job -> ``builds`` rows (and ``deployments`` rows for deploy jobs)."""

    source = records.SOURCE
    name = "builds"
    table = tables.Build
    key = ("source", "scope", "external_id")

    def __init__(
        self,
        job: records.Job,
        client: JenkinsClient,
        source: JenkinsConfig,
        rules: RulesConfig,
        progress: Progress | None = None,
        repositories: list[str] | None = None,
    ) -> None:
        super().__init__(job.full_name)
        self.job = job
        self.client = client
        self.cfg = source
        self.rules = rules
        self.page_size = source.page_size
        self.progress = progress
        #: the owning team's repositories: their revision is the build's commit
        self.repositories = repositories or []

    # --- fetching -------------------------------------------------------------------------

    def _fetch(self, start: int) -> list[Any]:
        return self.client.builds(self.job.full_name, start, start + self.page_size)

    def pages(self, since: str | None) -> Iterator[Page]:
        state = Cursor.parse(since)
        first = self._fetch(0)
        numbers = [n for b in first if (n := records.build_number(b)) is not None]
        if not numbers:
            if first:
                yield Page(first)  # nothing but malformed builds: the runner logs each one
            return
        top = max(numbers)
        if top < state.done:
            # Numbers went back: the job was deleted and created again. Start over.
            if self.progress is not None:
                self.progress.note(f"jenkins {self.scope}: build numbers restarted; reading all")
            state = Cursor()
        seen: set[int] = set()

        def track(chunk: list[Any]) -> None:
            for raw in chunk:
                n = records.build_number(raw)
                if n is None:
                    continue
                seen.add(n)
                if raw.get("building") is True or raw.get("result") is None:
                    state.running.add(n)
                else:
                    state.running.discard(n)

        if state.seg is not None:
            low, high = state.seg
            for chunk, page_low, last in self._walk(lo=state.done, hi=low, top=top, first=first):
                track(chunk)
                if last:
                    state.done, state.seg = max(state.done, high), None
                elif page_low is not None:
                    state.seg = (min(low, page_low), high)
                yield Page(chunk, state.dump())
        start_state = state.dump()
        for chunk, page_low, last in self._walk(
            lo=state.done, hi=None, top=top, first=first, extra=frozenset(state.running)
        ):
            track(chunk)
            if last:
                state.done, state.seg = max(state.done, top), None
            elif page_low is not None:
                state.seg = (page_low, top)
            cursor = state.dump()
            if chunk or cursor != start_state:
                yield Page(chunk, cursor)
        for number in sorted(state.running - seen):
            raw = self.client.build(self.job.full_name, number)
            if raw is None:
                state.running.discard(number)  # deleted while it was running
                yield Page([], state.dump())
                continue
            track([raw])
            yield Page([raw], state.dump())

    def _walk(
        self,
        *,
        lo: int,
        hi: int | None,
        top: int,
        first: list[Any],
        extra: frozenset[int] = frozenset(),
    ) -> Iterator[tuple[list[Any], int | None, bool]]:
        """Pages of the builds numbered in ``(lo, hi)`` (``hi`` None: no upper bound), newest
        first, as (builds, lowest number on the page, last page); builds in ``extra`` are taken
        wherever they appear."""
        if hi is None:
            start, page = 0, first
        else:
            start, page = self._locate(hi, top, first)
        ceiling = hi
        while True:
            numbers = []
            chunk = []
            for raw in page:
                n = records.build_number(raw)
                if n is None:
                    chunk.append(raw)  # the runner logs it as malformed
                    continue
                numbers.append(n)
                if (lo < n and (ceiling is None or n < ceiling)) or n in extra:
                    chunk.append(raw)
            low = min(numbers) if numbers else None
            last = len(page) < self.page_size or (low is not None and low <= lo + 1)
            yield chunk, low, last
            if last:
                return
            if low is not None:
                # New builds shift indexes down while we walk: never take a number twice.
                ceiling = low if ceiling is None else min(ceiling, low)
            start += self.page_size
            page = self._fetch(start)

    def _locate(self, hi: int, top: int, first: list[Any]) -> tuple[int, list[Any]]:
        """(index, page) of a page that starts with ``hi - 1`` or a later build, so that no
        build below ``hi`` is skipped. Builds are listed newest first, so build ``n`` sits at
        index ``top - n`` unless some were deleted; then the guess is late, and moving back by
        the numbers it overshot is enough."""
        index = max(0, top - hi + 1)
        while True:
            page = first if index == 0 else self._fetch(index)
            numbers = [n for b in page if (n := records.build_number(b)) is not None]
            if index == 0 or (numbers and numbers[0] >= hi - 1):
                return index, page
            step = (hi - 1 - numbers[0]) if numbers else self.page_size
            index = max(0, index - step)

    # --- normalizing and storing ----------------------------------------------------------

    def normalize(self, raw: Any) -> records.BuildRecord:
        return records.normalize_build(
            raw, job=self.job, source=self.cfg, rules=self.rules, repositories=self.repositories
        )

    def store(self, session: Writer, items: list[records.BuildRecord]) -> int:
        if not items:
            return 0
        team_id = teams.owner_of(session, records.SOURCE, self.scope)
        # One row per natural key: a page can hold a build twice when indexes shifted.
        builds = {r.number: {**r.build, "team_id": team_id} for r in items}
        write.upsert(session, tables.Build, list(builds.values()), key=list(self.key))
        deployments = {
            r.number: {**r.deployment, "team_id": team_id} for r in items if r.deployment
        }
        if deployments:
            write.upsert(session, tables.Deployment, list(deployments.values()), key=list(self.key))
        return len(builds)


# --- the collector: scopes are jobs -------------------------------------------------------


def wanted_patterns(config: Config, team: str | None, settings: JenkinsConfig | None) -> list[str]:
    """The job globs to collect: ``team``'s, or every team's plus ``sources.jenkins.jobs``."""
    if team is not None:
        return config.team(team).owns(records.SOURCE)
    patterns = [p for t in config.teams for p in t.owns(records.SOURCE)]
    if settings is not None:
        patterns += settings.jobs
    return patterns


class JenkinsCollector(Collector[JenkinsConfig]):
    """Every job the teams own (by glob over full names) is one scope with one stream."""

    def __init__(self, ctx: CollectContext, settings: JenkinsConfig) -> None:
        super().__init__(ctx, settings)
        self.client = JenkinsClient(settings, on_wait=ctx.progress.note, clock=ctx.clock)
        self._listing: list[dict[str, Any]] | None = None
        self._jobs: dict[str, records.Job] = {}

    def listing(self) -> list[dict[str, Any]]:
        """Every item, folders included (one request tree, read once a run)."""
        if self._listing is None:
            self._listing = self.client.list_jobs()
        return self._listing

    def scopes(self) -> Scopes:
        patterns = wanted_patterns(self.ctx.config, self.ctx.team, self.settings)
        if not patterns:
            self.ctx.progress.note(
                "jenkins: no team owns a job (teams[].jenkins); nothing to collect"
            )
            return Scopes()
        try:
            listing = self.listing()
        except CollectorError as exc:
            return Scopes(failed={"*": str(exc)})
        for pattern in records.unmatched(listing, patterns):
            what = "no job matches" if any(c in pattern for c in "*?[") else "no job named"
            message = (
                f"jenkins: {what} {pattern!r} in Jenkins' job list (deleted, renamed, or not "
                "visible to this user); check teams[].jenkins and sources.jenkins.jobs"
            )
            log.warning("%s", message)
            self.ctx.progress.note(message)
        jobs = records.select_jobs(listing, patterns)
        self._jobs = {job.full_name: job for job in jobs}
        self.ctx.progress.note(f"jenkins: {len(jobs)} job(s) to collect")
        return Scopes(names=[job.full_name for job in jobs])

    def streams(self, scope: str) -> list[Stream]:
        job = self._jobs.get(scope)
        if job is None:  # collected on its own: find it in the job list
            found = records.select_jobs(self.listing(), [scope])
            job = next((j for j in found if j.full_name == scope), None)
            if job is None:
                raise CollectorError(
                    f"jenkins {scope}: not in Jenkins' job list (deleted, renamed, or not "
                    "visible to this user)"
                )
        stream = BuildStream(
            job,
            self.client,
            self.settings,
            self.ctx.config.rules,
            progress=self.ctx.progress,
            repositories=team_repositories(self.ctx.config, scope),
        )
        return [stream]


def team_repositories(config: Config, job: str) -> list[str]:
    """The repositories of the team that owns ``job`` (every team's when none does), as
    ``owner/name`` globs comparable with :func:`records.remote_path`."""
    import collectors

    hosts = [s.team_key for s in collectors.SOURCES.values() if s.lists_repositories]
    owner = teams.owning_team(config, records.SOURCE, job)
    chosen = [owner] if owner is not None else config.teams
    found: list[str] = []
    for team in chosen:
        for key in hosts:
            found += team.owns(key) if key else []
        for spec in team.repositories:
            location = spec if isinstance(spec, str) else spec.location
            path = records.remote_path(location)
            if path:
                found.append(path)
    return list(dict.fromkeys(found))
