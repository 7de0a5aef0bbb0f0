"""Runs streams: cursor, fetch, normalize, upsert, advance the cursor in one transaction a page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from collectors.base import (
    CollectorError,
    MalformedRecord,
    NoProgress,
    Progress,
    ScopeResult,
    Stream,
)
from maturity.store import write
from maturity.store.engine import session_scope

log = logging.getLogger("collectors.runner")


def run_stream(
    sessions: sessionmaker[Session],
    stream: Stream,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Collect one stream; every page is written with its cursor in one transaction.

    Returns:
        (records written, records skipped as malformed).
    """
    progress = progress or NoProgress()
    with session_scope(sessions) as session:
        since = None
        if not full_refresh:
            since = write.get_cursor(
                session, source=stream.source, scope=stream.scope, stream=stream.name
            )
    written = skipped = 0
    for page in stream.pages(since):
        items = []
        for raw in page.records:
            try:
                items.append(stream.normalize(raw))
            except (MalformedRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
                skipped += 1
                log.warning(
                    "%s %s %s: skipped a malformed record: %s",
                    stream.source,
                    stream.scope,
                    stream.name,
                    exc,
                )
        with session_scope(sessions) as session:
            written += stream.store(session, items)
            if page.cursor is not None:
                write.set_cursor(
                    session,
                    source=stream.source,
                    scope=stream.scope,
                    stream=stream.name,
                    value=page.cursor,
                )
        progress.advance(len(page.records))
    return written, skipped


def run_scope(
    sessions: sessionmaker[Session],
    source: str,
    scope: str,
    streams: Iterable[Stream] | Callable[[], Iterable[Stream]],
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> ScopeResult:
    """Collect every stream of one scope under one collector-run row.

    A failure is confined to its scope: the run is marked failed with a one-line reason (no
    secret, no traceback) and the caller goes on with the next scope.
    """
    progress = progress or NoProgress()
    result = ScopeResult(source=source, scope=scope)
    with session_scope(sessions) as session:
        run_id = write.start_run(session, source=source, scope=scope)
    try:
        for stream in streams() if callable(streams) else streams:
            progress.start(f"{source} {scope} {stream.name}")
            written, skipped = run_stream(
                sessions, stream, full_refresh=full_refresh, progress=progress
            )
            result.counts[stream.name] = result.counts.get(stream.name, 0) + written
            result.records += written
            result.skipped += skipped
        if result.skipped:
            result.status = "partial"
            result.error = f"{result.skipped} malformed record(s) skipped; see the log"
    except CollectorError as exc:
        result.status, result.error = "failed", str(exc)
    except Exception as exc:
        log.debug("collection of %s %s failed", source, scope, exc_info=True)
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
    with session_scope(sessions) as session:
        write.finish_run(
            session,
            run_id,
            status=result.status,
            records=result.records,
            counts=result.counts,
            error=result.error,
        )
    return result
