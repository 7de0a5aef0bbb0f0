"""Background jobs of one server: the administrative actions, one at a time, with progress."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from maturity import actions
from maturity.context import AppContext

log = logging.getLogger("web.jobs")


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

    def latest(self) -> Job | None:
        """The action submitted last, if any."""
        with self._lock:
            return next(reversed(self._jobs.values()), None)

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


def every(
    jobs: Jobs, context: AppContext, interval: dt.timedelta, stop: threading.Event
) -> threading.Thread:
    """A thread that collects and scores every ``interval`` until ``stop``; never raises."""

    def loop() -> None:
        while not stop.is_set():
            try:
                job = jobs.submit(
                    "collect+score", lambda j: actions.collect_and_score(context, j), wait=True
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
