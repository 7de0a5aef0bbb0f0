"""The one run lifecycle of every source: a collector-run row per scope, streams as the unit of
failure, pages written with their cursor in one transaction.

- :func:`recorded_run` opens a run row (``running``) and closes it as ``success``, ``partial``
  (a stream failed or records were skipped, the rest was collected), ``failed`` (nothing could be
  collected) or ``interrupted`` (the process was stopped; the exception goes on).
- :func:`collect_scope` runs the streams of one scope inside it; a failing stream is recorded
  with its error and the next stream runs.
- :func:`run_pages` is the loop of a page-reading stream: cursor, fetch, normalize, upsert, and
  the new cursor in the same transaction as the page it points past.
- :func:`collect_source`, :func:`list_scopes`, :func:`collect_one` and :func:`collect` are the
  entry points: one source, the scopes of a source and one of them alone (a task per scope),
  every source.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    MalformedRecord,
    NoProgress,
    Progress,
    ScopeResult,
    Scopes,
    Source,
    Stream,
    StreamResult,
)
from maturity.store import write
from maturity.store.engine import session_scope

if TYPE_CHECKING:
    from maturity.store.engine import Writers

log = logging.getLogger("collectors.runner")


def describe(exc: BaseException) -> str:
    """One line for a failure: a CollectorError's own message, else the kind and first line."""
    if isinstance(exc, CollectorError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@dataclass
class Run:
    """The run of one scope while it is open: what it wrote and what failed."""

    result: ScopeResult
    #: the collector-run row
    run_id: int = 0
    #: streams that ran to their end (a failing one is in ``result.failed_streams``)
    done: list[str] = field(default_factory=list)
    #: what went wrong without failing anything (the run is then ``partial``)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, outcome: StreamResult) -> None:
        r = self.result
        r.counts[name] = r.counts.get(name, 0) + outcome.written
        for key, value in outcome.counts.items():
            r.counts[key] = r.counts.get(key, 0) + value
        r.records += outcome.written
        r.skipped += outcome.skipped

    def count(self, counts: dict[str, int]) -> None:
        """Records written outside streams (events), by kind."""
        for key, value in counts.items():
            self.result.counts[key] = self.result.counts.get(key, 0) + value
            self.result.records += value

    def fail(self, name: str, exc: BaseException) -> None:
        self.result.failed_streams[name] = describe(exc)

    def outcome(self) -> tuple[str, str | None]:
        """(status, error) once every stream ran."""
        r = self.result
        errors = list(dict.fromkeys(r.failed_streams.values())) + self.warnings
        if r.skipped:
            errors.append(f"{r.skipped} malformed record(s) skipped; see the log")
        if not errors:
            return "success", None
        nothing = not self.done and not r.records
        return ("failed" if r.failed_streams and nothing else "partial"), "; ".join(errors)


@contextlib.contextmanager
def recorded_run(sessions: Writers, source: str, scope: str) -> Iterator[Run]:
    """A collector-run row around the collection of one scope.

    Inside, record streams with :meth:`Run.add` and :meth:`Run.fail`. An exception that escapes
    fails the scope (a CollectorError with its own message; anything else by its kind and first
    line, never a traceback or a secret). An interruption (Ctrl-C, SystemExit, a kill the
    process sees) closes the row as ``interrupted`` and goes on.
    """
    with session_scope(sessions) as session:
        run_id = write.start_run(session, source=source, scope=scope)
    run = Run(ScopeResult(source=source, scope=scope), run_id=run_id)
    try:
        yield run
        run.result.status, run.result.error = run.outcome()
    except Exception as exc:
        if not isinstance(exc, CollectorError):
            log.debug("collection of %s %s failed", source, scope, exc_info=True)
        run.result.status, run.result.error = "failed", describe(exc)
    except BaseException as exc:
        run.result.status = "interrupted"
        run.result.error = f"stopped by {type(exc).__name__} before the run finished"
        _finish(sessions, run_id, run.result)
        raise
    _finish(sessions, run_id, run.result)


def _finish(sessions: Writers, run_id: int, result: ScopeResult) -> None:
    try:
        with session_scope(sessions) as session:
            write.finish_run(
                session,
                run_id,
                status=result.status,
                records=result.records,
                counts=result.counts,
                error=result.error,
            )
    except Exception:
        # The store itself failed: the row stays "running" and the next run of this scope
        # marks it interrupted (write.start_run); the original outcome is what matters here.
        log.warning("could not record the end of the run of %s %s", result.source, result.scope)
        if result.status != "interrupted":
            raise


def record_failure(sessions: Writers, source: str, scope: str, error: str) -> ScopeResult:
    """A run that failed before any stream (an owner's repository list, Jenkins' job list)."""
    with recorded_run(sessions, source, scope) as run:
        raise CollectorError(error)
    return run.result


def run_pages(
    sessions: Writers,
    stream: Stream,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> StreamResult:
    """Collect one page-reading stream; every page is written with its cursor in one transaction.

    An unchanged cursor is not written again, and :func:`write.upsert` leaves unchanged rows
    alone, so that a run over unchanged data writes nothing.
    """
    progress = progress or NoProgress()
    with session_scope(sessions) as session:
        stored = write.get_cursor(
            session, source=stream.source, scope=stream.scope, stream=stream.name
        )
    since = None if full_refresh else stored
    outcome = StreamResult()
    for page in stream.pages(since):
        items = []
        for raw in page.records:
            try:
                items.append(stream.normalize(raw))
            except (MalformedRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
                outcome.skipped += 1
                log.warning(
                    "%s %s %s: skipped a malformed record: %s",
                    stream.source,
                    stream.scope,
                    stream.name,
                    exc,
                )
        with session_scope(sessions) as session:
            outcome.written += stream.store(session, items)
            if page.cursor is not None and page.cursor != stored:
                write.set_cursor(
                    session,
                    source=stream.source,
                    scope=stream.scope,
                    stream=stream.name,
                    value=page.cursor,
                )
                stored = page.cursor
        progress.advance(len(page.records))
    with session_scope(sessions) as session:
        outcome.counts.update(stream.finish(session, complete=since is None))
    return outcome


def collect_scope(
    ctx: CollectContext, source: str, collector: Collector[Any], scope: str
) -> ScopeResult:
    """Collect every stream of one scope under one collector-run row.

    The scope fails as a whole only when its streams cannot even be built (the repository does
    not exist, the token is refused); otherwise a failing stream is recorded with its error, the
    others are collected, and the run is ``partial``.
    """
    with recorded_run(ctx.sessions, source, scope) as run:
        for stream in collector.streams(scope):
            ctx.progress.start(f"{source} {scope} {stream.name}")
            try:
                outcome = stream.run(
                    ctx.sessions, full_refresh=ctx.full_refresh, progress=ctx.progress
                )
            except Exception as exc:
                if not isinstance(exc, CollectorError):
                    log.debug("%s %s %s failed", source, scope, stream.name, exc_info=True)
                run.fail(stream.name, exc)
                continue
            run.add(stream.name, outcome)
            run.done.append(stream.name)
    return run.result


def collect_source(ctx: CollectContext, source: Source[Any]) -> list[ScopeResult]:
    """Collect every scope of one source that the (selected) teams own."""
    collector = source.open(ctx)
    if collector is None:
        _note_unconfigured(ctx, source)
        return []
    results: list[ScopeResult] = []
    try:
        scopes = collector.scopes()
        for entry, error in scopes.failed.items():
            results.append(record_failure(ctx.sessions, source.name, entry, error))
        for scope in scopes.names:
            results.append(collect_scope(ctx, source.name, collector, scope))
    finally:
        collector.close()
    return results


def list_scopes(ctx: CollectContext, source: Source[Any]) -> Scopes:
    """The scopes of one source the (selected) teams own, without collecting any."""
    collector = source.open(ctx)
    if collector is None:
        return Scopes()
    try:
        return collector.scopes()
    finally:
        collector.close()


def collect_one(ctx: CollectContext, source: Source[Any], scope: str) -> ScopeResult:
    """Collect one scope of one source on its own (what a task per scope runs)."""
    collector = source.open(ctx)
    if collector is None:
        return record_failure(
            ctx.sessions,
            source.name,
            scope,
            f"{source.name}: [sources.{source.name}] is not configured",
        )
    try:
        return collect_scope(ctx, source.name, collector, scope)
    finally:
        collector.close()


def collect(ctx: CollectContext, names: Sequence[str] | None = None) -> list[ScopeResult]:
    """Collect the named sources (default: every registered source, in order)."""
    import collectors

    results: list[ScopeResult] = []
    for name in names if names is not None else list(collectors.SOURCES):
        results += collect_source(ctx, collectors.SOURCES[name])
    return results


def _note_unconfigured(ctx: CollectContext, source: Source[Any]) -> None:
    if source.collector is None or source.team_key is None:
        return
    teams = [ctx.config.team(ctx.team)] if ctx.team else ctx.config.teams
    if any(t.owns(source.team_key) for t in teams):
        ctx.progress.note(
            f"{source.name}: teams list entries under '{source.team_key}' but "
            f"[sources.{source.name}] is not configured"
        )


def summary(results: Sequence[ScopeResult]) -> str | None:
    """One line about what did not go well, or None when every scope succeeded."""
    failed = [r for r in results if r.status == "failed"]
    partial = [r for r in results if r.status == "partial"]
    if not failed and not partial:
        return None
    parts = []
    if failed:
        if len(failed) == len(results):
            parts.append(f"all {len(results)} scope(s) failed")
        else:
            parts.append(
                f"{len(failed)} of {len(results)} scope(s) failed; the others were collected"
            )
    if partial:
        parts.append(
            f"{len(partial)} scope(s) partly collected (a stream failed or records were skipped)"
        )
    return "; ".join(parts)
