"""The tasks: collect one (source, scope), score one partition of teams, the scheduled refresh.

Each task may run more than once (at-least-once delivery): a scope is collected under its lease
and a task whose run key already finished the scope returns that outcome; scoring a partition
again replaces the same weeks with the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import resource
import socket
import time
import uuid
from typing import Any

from celery import chord, group, signals
from sqlalchemy import select

from maturity import wiring
from maturity.context import AppContext
from maturity.distributed import leases, partitions
from maturity.distributed import settings as settings_mod
from maturity.distributed.app import app
from maturity.store.engine import session_scope

log = logging.getLogger("maturity.distributed.tasks")

_context: AppContext | None = None
_context_pid = 0


def context() -> AppContext:
    """This worker process's configuration and store (``MATURITY_CONFIG``), opened once per
    process: an engine never crosses a fork."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        wiring.wire()  # also when Celery started this process itself, not 'maturity worker'
        _context = AppContext(config_path=None)
        _context_pid = os.getpid()
    return _context


@signals.worker_process_init.connect
def _open_store(**_: Any) -> None:
    """Open this pool process's store as it starts, not in its first task: its first
    connection too (the first claim paid about 50 ms for it)."""
    try:
        with context().sessions() as session:
            session.execute(select(1))
    except Exception as exc:  # the first task reports it, with its scope
        log.warning("could not open the store yet: %s", exc)


@app.task(name="maturity.collect_scope", bind=True, max_retries=None)
def collect_scope(
    self: Any,
    source: str,
    scope: str,
    run_key: str,
    team: str | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Collect one scope through ``collectors.runner.collect_one`` under the scope's lease."""
    import collectors
    from collectors import runner
    from collectors.base import CollectContext

    ctx = context()
    s = settings_mod.load(ctx.config)
    holder = f"{socket.gethostname()}:{os.getpid()}:{self.request.id}"[:200]
    with session_scope(ctx.sessions) as session:
        got = leases.claim(session, source=source, scope=scope, holder=holder, lease_s=s.lease_s)
    if got.busy:
        log.info(
            "%s %s is being collected by another worker; again in %.0fs",
            source,
            scope,
            got.retry_in_s,
        )
        raise self.retry(countdown=got.retry_in_s)
    if got.done_key == run_key and got.result is not None:
        # delivered again after it finished (a worker died before acknowledging it)
        with session_scope(ctx.sessions) as session:
            leases.release(session, source=source, scope=scope, holder=holder)
        return got.result
    done: dict[str, Any] | None = None
    try:
        with leases.heartbeat(
            ctx.sessions, source=source, scope=scope, holder=holder, lease_s=s.lease_s
        ):
            cc = CollectContext(
                config=ctx.config, sessions=ctx.sessions, team=team, full_refresh=full_refresh
            )
            started = time.perf_counter()
            result = runner.collect_one(cc, collectors.SOURCES[source], scope)
            log.info("%s %s: collected in %.3fs", source, scope, time.perf_counter() - started)
        done = dataclasses.asdict(result)
    finally:
        with session_scope(ctx.sessions) as session:
            leases.release(
                session,
                source=source,
                scope=scope,
                holder=holder,
                done_key=run_key if done is not None else None,
                result=done,
            )
    return done


@app.task(name="maturity.score_partition", bind=True)
def score_partition(
    self: Any,
    teams: list[str],
    week: str | None,
    backfill: int | None,
    today: str,
) -> dict[str, Any]:
    """Score the weeks asked for the teams of one partition and store their snapshots
    (``maturity.pipeline.score``: memory is bounded by the partition)."""
    from maturity import model as model_mod
    from maturity import pipeline, snapshots, surveys

    ctx = context()
    _reset_peak()
    day = dt.date.fromisoformat(today)
    when = dt.date.fromisoformat(week) if week else None
    model = model_mod.load(ctx.config.model_path())
    ends = snapshots.period_ends(when, backfill, today=day)
    with session_scope(ctx.sessions) as session:
        survey = surveys.survey_input(session, ends)
    run = pipeline.score(
        ctx.sessions,
        ctx.config,
        model,
        team=teams,
        week=when,
        backfill=backfill,
        today=day,
        survey=survey,
    )
    return {
        "teams": len(teams),
        "weeks": len(run.period_ends),
        "snapshots": len(run.snapshots),
        "first": str(min(run.period_ends)),
        "last": str(max(run.period_ends)),
        "model_version": run.model_version,
        #: the process's peak resident memory while it scored this partition (MB)
        "peak_rss_mb": peak_mb(),
    }


def _reset_peak() -> None:
    """Start the process's peak resident memory afresh (Linux: 5 > /proc/self/clear_refs), so
    that a task's peak is its own and not that of an earlier task or of the forking parent."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mb() -> float:
    """Peak resident memory of this process since :func:`_reset_peak` (VmHWM), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_signatures(
    names: list[list[str]], *, week: dt.date | None, backfill: int | None, today: dt.date
) -> list[Any]:
    """One ``score_partition`` task per partition."""
    return [
        score_partition.s(part, week.isoformat() if week else None, backfill, today.isoformat())
        for part in names
    ]


@app.task(name="maturity.refresh")
def refresh(backfill: int | None = None) -> dict[str, Any]:
    """What 'maturity schedule' sends: collect every scope of every source on the workers,
    then (``after_refresh``) attribute and score this week in partitions."""
    import collectors
    from collectors.base import CollectContext
    from maturity import pipeline

    ctx = context()
    pipeline.begin_collection(ctx.sessions, ctx.config)
    cc = CollectContext(config=ctx.config, sessions=ctx.sessions)
    planned = partitions.plan(cc, list(collectors.SOURCES))
    run_key = uuid.uuid4().hex
    header = [collect_scope.s(source, scope, run_key) for source, scope in planned.scopes]
    chord(header)(after_refresh.s(backfill))
    return {"scopes": len(planned.scopes), "failed_entries": len(planned.failed)}


@app.task(name="maturity.after_refresh")
def after_refresh(results: list[dict[str, Any]], backfill: int | None = None) -> dict[str, Any]:
    """Once every scope of a scheduled refresh is collected: the pipeline's last collection
    step (attribute), then its ``score`` in partitions."""
    from zoneinfo import ZoneInfo

    from maturity import pipeline

    ctx = context()
    pipeline.end_collection(ctx.sessions)
    with session_scope(ctx.sessions) as session:
        parts = partitions.team_partitions(session, settings_mod.load(ctx.config).partition_size)
    today = dt.datetime.now(ZoneInfo(ctx.config.settings.timezone)).date()
    group(score_signatures(parts, week=None, backfill=backfill, today=today)).apply_async()
    failed = sum(1 for r in results if r and r.get("status") == "failed")
    return {"scopes": len(results), "failed_scopes": failed, "partitions": len(parts)}
