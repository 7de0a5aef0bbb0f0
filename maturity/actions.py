"""Administrative actions run in the background: collect, score, one at a time, with progress."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from maturity.context import AppContext

log = logging.getLogger("maturity.actions")
_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """``30m``, ``1h``, ``1d`` (or ``90s``) as a duration; ValueError for anything else."""
    found = _DURATION.match(text.lower())
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"expected a duration like 30m, 1h or 1d, got {text!r}")
    return dt.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


class Busy(Exception):
    """Another action is running; actions run one at a time."""


@dataclass
class Job:
    """One background action and where it stands."""

    id: str
    kind: str
    status: str = "queued"  # queued, running, success, failed
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    step: str | None = None
    done: int = 0
    total: int | None = None
    notes: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    # the Progress protocol of collectors and scoring
    def start(self, label: str, total: int | None = None) -> None:
        self.step, self.done, self.total = label, 0, total

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    def note(self, message: str) -> None:
        self.notes = [*self.notes[-49:], message]


class Jobs:
    """The actions of one server: at most one runs; the last 50 are kept for their status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._seq = itertools.count(1)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def submit(
        self, kind: str, work: Callable[[Job], dict[str, Any]], *, wait: bool = False
    ) -> Job:
        """Run ``work`` in a thread; Busy when another action runs."""
        with self._lock:
            if self._running is not None:
                raise Busy(f"action {self._running.id} ({self._running.kind}) is running")
            job = Job(id=f"{next(self._seq)}-{uuid.uuid4().hex[:8]}", kind=kind)
            self._running = job
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-50]:
                del self._jobs[old]
        thread = threading.Thread(target=self._run, args=(job, work), daemon=True)
        thread.start()
        if wait:
            thread.join()
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        job.status, job.started_at = "running", dt.datetime.now(dt.UTC)
        try:
            job.result = work(job)
            job.status = "failed" if job.result.get("failed_scopes") else "success"
        except Exception as exc:
            # The message goes to the log; the job says only what kind of failure it was.
            log.exception("action %s (%s) failed", job.id, job.kind)
            job.status, job.error = "failed", f"{type(exc).__name__}; see the server log"
        finally:
            job.finished_at = dt.datetime.now(dt.UTC)
            with self._lock:
                self._running = None


def collect(context: AppContext, progress: Job) -> dict[str, Any]:
    """What ``maturity collect`` does for every configured source."""
    import collectors
    from collectors import runner
    from collectors.base import CollectContext
    from maturity import teams
    from maturity.store.engine import session_scope

    cfg = context.config
    with session_scope(context.sessions) as session:
        teams.sync(session, cfg)
    results = []
    skipped = []
    for name, declaration in collectors.SOURCES.items():
        cc = CollectContext(config=cfg, sessions=context.sessions, progress=progress)
        try:
            results += runner.collect_source(cc, declaration)
        except ModuleNotFoundError as exc:
            if not declaration.collector or exc.name != declaration.collector.split(":")[0]:
                raise
            # A source whose collector this build does not ship: say so, collect the others.
            skipped.append(name)
            progress.note(f"{name}: no collector in this build")
    with session_scope(context.sessions) as session:
        teams.reattribute(session)
    return {
        "scopes": len(results),
        "records": sum(r.records for r in results),
        "failed_scopes": sum(r.status == "failed" for r in results),
        "partial_scopes": sum(r.status == "partial" for r in results),
        "skipped_sources": skipped,
    }


def score(context: AppContext, progress: Job, *, backfill: int | None = None) -> dict[str, Any]:
    """What ``maturity score`` does: this week (and ``backfill`` weeks before it)."""
    from maturity import dashboards, snapshots

    model = dashboards.current_model(context.config.model_path())
    run = snapshots.score_and_store(
        context.sessions, context.config, model, backfill=backfill, progress=progress
    )
    return {
        "weeks": len(run.period_ends),
        "snapshots": len(run.snapshots),
        "model_version": run.model_version,
    }


def collect_and_score(context: AppContext, progress: Job) -> dict[str, Any]:
    """Collect, then score the current week (what ``serve --collect-every`` repeats)."""
    collected = collect(context, progress)
    scored = score(context, progress)
    return {**scored, **collected}


def every(
    jobs: Jobs, context: AppContext, interval: dt.timedelta, stop: threading.Event
) -> threading.Thread:
    """A thread that collects and scores every ``interval`` until ``stop``; never raises."""

    def loop() -> None:
        while not stop.is_set():
            try:
                job = jobs.submit(
                    "collect+score", lambda j: collect_and_score(context, j), wait=True
                )
                log.warning("scheduled collection %s: %s", job.id, job.status)
            except Busy as exc:
                log.warning("scheduled collection skipped: %s", exc)
            except Exception:
                log.exception("scheduled collection failed")
            stop.wait(interval.total_seconds())

    thread = threading.Thread(target=loop, name="collect-every", daemon=True)
    thread.start()
    return thread
