"""What the distributed commands run: a worker, a collection and a scoring followed to their
end, the scheduler. The CLI (``maturity.cli``) only parses options and calls these."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from maturity.context import AppContext
from maturity.distributed import settings as settings_mod

log = logging.getLogger("maturity.distributed")

#: how often the followers look at their tasks' results
POLL_S = 0.2


def _open(context: AppContext) -> settings_mod.Settings:
    """Refuse SQLite before the store is opened; point the application at the broker."""
    from maturity.distributed import app as app_mod

    settings_mod.require_postgres(context.url)
    s = settings_mod.load(context.config)
    app_mod.configure(s)
    return s


def worker(
    context: AppContext,
    *,
    concurrency: int,
    queues: Sequence[str],
    loglevel: str = "INFO",
    name: str | None = None,
) -> None:
    """Run a Celery worker for this product's tasks (blocks until it is stopped)."""
    from collectors import retry
    from maturity.distributed import budgets
    from maturity.distributed.app import app

    s = _open(context)
    context.sessions  # noqa: B018 (migrate the store once, before the pool forks)
    context.close()
    if context.config_path is not None:
        # every pool process opens its own store from the same file
        os.environ["MATURITY_CONFIG"] = str(context.config_path.resolve())
    if s.budget_url:
        retry.install_gate(
            budgets.RedisGate.from_url(s.budget_url, max_per_host=s.max_requests_per_host)
        )
    else:
        log.warning(
            "no Redis for shared API budgets ([distributed] budget_url): each worker keeps its own"
        )
    _preload()
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={','.join(queues)}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv)


def _preload() -> None:
    """Import what tasks run (the collectors' client libraries, pandas, scoring) once, before
    the pool forks: a pool process then starts its first task warm, and the memory is shared."""
    import importlib

    import collectors
    from maturity import metrics, scoring, snapshots  # noqa: F401

    for source in collectors.SOURCES.values():
        if source.collector:
            try:
                importlib.import_module(source.collector.split(":")[0])
            except ModuleNotFoundError as exc:
                log.info("%s: not preloaded (%s)", source.name, exc)


class Follower:
    """A progress bar over tasks until all are done."""

    def __init__(self, console: Console, label: str, total: int) -> None:
        from maturity.progress import BarProgress

        self.bar = BarProgress(console)
        self.label, self.total = label, total

    def wait(self, results: Sequence[Any]) -> list[Any]:
        """Each task's return value (or its exception), in order."""
        values: list[Any] = [None] * len(results)
        pending = dict(enumerate(results))
        with self.bar as bar:
            bar.start(self.label, total=self.total)
            while pending:
                for i, result in list(pending.items()):
                    if result.ready():
                        try:
                            values[i] = result.get(propagate=True, disable_sync_subtasks=False)
                        except Exception as exc:
                            values[i] = exc
                        del pending[i]
                        bar.advance(1)
                if pending:
                    time.sleep(POLL_S)
        return values


def _no_worker_note(console: Console) -> None:
    from maturity.distributed.app import app

    if not app.control.ping(timeout=1.0, limit=1):  # the first answer is enough
        console.print(
            "note: no worker answered; the tasks wait in the queue until one runs "
            "('maturity worker')",
            markup=False,
        )


def collect(
    context: AppContext,
    names: Sequence[str],
    *,
    team: str | None,
    full_refresh: bool,
    console: Console,
) -> list[Any]:
    """Enqueue one task per (source, scope) and follow them: the ScopeResults, in the order
    the single-process collection returns them."""
    from collectors import runner
    from collectors.base import CollectContext, ScopeResult
    from maturity.distributed import partitions, tasks

    _open(context)
    cc = CollectContext(
        config=context.config, sessions=context.sessions, team=team, full_refresh=full_refresh
    )
    planned = partitions.plan(cc, names)
    run_key = uuid.uuid4().hex
    _no_worker_note(console)
    sent = [
        tasks.collect_scope.apply_async((source, scope, run_key, team, full_refresh))
        for source, scope in planned.scopes
    ]
    values = Follower(console, f"collecting {len(sent)} scope(s) on workers", len(sent)).wait(sent)
    collected: list[ScopeResult] = []
    for (source, scope), value in zip(planned.scopes, values, strict=True):
        if isinstance(value, dict):
            collected.append(ScopeResult(**value))
        else:
            collected.append(
                ScopeResult(source, scope, status="failed", error=runner.describe(value))
            )
    return [planned.failed[i] if kind == "failed" else collected[i] for kind, i in planned.order]


def score(
    context: AppContext,
    *,
    team: str | None,
    week: dt.date | None,
    backfill: int | None,
    partition_size: int | None,
    console: Console,
) -> dict[str, Any]:
    """Score teams in partitions on the workers and follow them; what they wrote, summed."""
    from maturity.distributed import partitions, tasks
    from maturity.store.engine import session_scope

    s = _open(context)
    today = dt.datetime.now(ZoneInfo(context.config.settings.timezone)).date()
    with session_scope(context.sessions) as session:
        parts = partitions.team_partitions(session, partition_size or s.partition_size, team)
    _no_worker_note(console)
    sent = [
        sig.apply_async()
        for sig in tasks.score_signatures(parts, week=week, backfill=backfill, today=today)
    ]
    values = Follower(console, f"scoring {len(parts)} partition(s) on workers", len(sent)).wait(
        sent
    )
    failed = [v for v in values if not isinstance(v, dict)]
    if failed:
        from collectors import runner

        raise settings_mod.DistributedError(
            f"{len(failed)} of {len(values)} scoring partition(s) failed: "
            f"{runner.describe(failed[0])}; the others were stored"
        )
    from maturity import snapshots

    ends = snapshots.period_ends(week, backfill, today=today)
    return {
        "partitions": len(parts),
        "teams": sum(v["teams"] for v in values),
        "snapshots": sum(v["snapshots"] for v in values),
        "period_ends": ends,
        "model_version": values[0]["model_version"] if values else None,
        "peak_rss_mb": max((v["peak_rss_mb"] for v in values), default=0.0),
    }


def schedule(context: AppContext, *, every: str | None, backfill: int | None) -> None:
    """Run Celery beat: a refresh (collect every scope, then score) every ``every``."""
    from maturity import actions
    from maturity.distributed.app import app

    s = _open(context)
    interval = actions.parse_duration(every or s.collect_every)
    context.config.cache_dir().mkdir(parents=True, exist_ok=True)
    app.conf.beat_schedule = {
        "refresh": {
            "task": "maturity.refresh",
            "schedule": interval,
            "kwargs": {"backfill": backfill},
        }
    }
    app.start(
        [
            "beat",
            "--loglevel=INFO",
            f"--schedule={context.config.cache_dir() / 'celerybeat-schedule'}",
        ]
    )
