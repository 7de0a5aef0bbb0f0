"""Administrative actions: collect and score as one call each, with progress (a ``Progress``).

The web application runs them in the background, one at a time (``web.jobs``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any

from maturity.context import AppContext

if TYPE_CHECKING:
    from collectors.base import Progress

log = logging.getLogger("maturity.actions")
_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """``30m``, ``1h``, ``1d`` (or ``90s``) as a duration; ValueError for anything else."""
    found = _DURATION.match(text.lower())
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"expected a duration like 30m, 1h or 1d, got {text!r}")
    return dt.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def collect(context: AppContext, progress: Progress) -> dict[str, Any]:
    """What ``maturity collect`` does for every configured source."""
    from maturity import pipeline

    return pipeline.collect(context.sessions, context.config, progress=progress).summary()


def score(
    context: AppContext, progress: Progress, *, backfill: int | None = None
) -> dict[str, Any]:
    """What ``maturity score`` does: this week (and ``backfill`` weeks before it)."""
    from maturity import dashboards, pipeline

    model = dashboards.current_model(context.config.model_path())
    run = pipeline.score(
        context.sessions, context.config, model, backfill=backfill, progress=progress
    )
    return _scored(run)


def collect_and_score(context: AppContext, progress: Progress) -> dict[str, Any]:
    """Collect, then score the current week (what ``serve --collect-every`` repeats)."""
    from maturity import dashboards, pipeline

    model = dashboards.current_model(context.config.model_path())
    collected, run = pipeline.collect_and_score(
        context.sessions, context.config, model, progress=progress
    )
    return {**_scored(run), **collected.summary()}


def _scored(run: Any) -> dict[str, Any]:
    return {
        "weeks": len(run.period_ends),
        "snapshots": len(run.snapshots),
        "model_version": run.model_version,
    }
