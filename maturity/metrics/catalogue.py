"""The catalogue's shape and registry: what a metric is, what it reads outside its window,
the order of the catalogue, and how far a run reads (:func:`reach`).

Each family module (``source_control``, ``builds``, ``delivery``, ``lead_time``, ``incidents``,
``sources``) declares its metrics with :func:`define` right above the function that computes
them; the package puts :data:`CATALOGUE` in :data:`ORDER` once every family has defined its own
(:func:`arrange`). This module imports no family.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from maturity.config import RulesConfig

#: the tables a scoring run reads (``store.inputs.scoring_frames``); ``incident_references`` are the
#: incidents that name a deployment (``issues.deployment_ref``)
READ_TABLES = (
    "commits",
    "tags",
    "pull_requests",
    "builds",
    "deployments",
    "issues",
    "incident_references",
)

#: a reach: hours, or the name of a ``[rules]`` setting in hours; ``after`` may be None (every
#: later record)
Hours = float | str


@dataclass(frozen=True)
class Need:
    """Records of ``table`` a metric reads outside its window: up to ``before`` ahead of the
    window's first day, and up to ``after`` past its period end (None: every later record)."""

    table: str
    before: Hours = 0.0
    after: Hours | None = 0.0

    def span(self, rules: RulesConfig) -> tuple[dt.timedelta, dt.timedelta | None]:
        """``(before, after)`` as durations under ``rules``."""

        def hours(value: Hours) -> dt.timedelta:
            return dt.timedelta(
                hours=float(getattr(rules, value) if isinstance(value, str) else value)
            )

        return hours(self.before), None if self.after is None else hours(self.after)


@dataclass(frozen=True)
class Metric:
    """One named metric of the catalogue."""

    name: str
    description: str
    unit: str
    sources: tuple[str, ...]
    records: str  # how to find the records behind a value (shown in evidence)
    dora: bool = False
    #: records it reads outside its window; the tables of ``sources`` are read over the window
    needs: tuple[Need, ...] = ()


#: one hour: needs are written in hours (``Need("builds", before=CI_MATCH / HOUR)``)
HOUR = pd.Timedelta(hours=1)

#: every metric, by name: filled by :func:`define`, put in :data:`ORDER` by :func:`arrange`
CATALOGUE: dict[str, Metric] = {}

#: the catalogue's order: of docs/scoring.md's table, of every listing and of the evidence
ORDER: tuple[str, ...] = (
    # --- DORA four keys and rework rate ----------------------------------------------
    "deployment_frequency",
    "lead_time_hours",
    "lead_time_matched_by_time",
    "change_failure_rate",
    "time_to_restore_hours",
    "failed_deployment_recovery_hours",
    "open_incident_age_hours",
    "rework_rate",
    # --- source control ---------------------------------------------------------------
    "commits",
    "active_repositories",
    "review_rate",
    "pr_lifetime_hours",
    "integration_days_per_week",
    "default_branch_tags",
    "automated_tag_share",
    "ci_coverage",
    # --- build & test -----------------------------------------------------------------
    "builds",
    "build_success_rate",
    "test_reporting_share",
    "lint_share",
    "test_change_share",
    "infra_change_share",
    "ci_change_share",
    "docs_change_share",
    "issue_key_share",
    # --- environments and deployment --------------------------------------------------
    "environments_deployed",
    "qa_deployments",
    "staging_deployments",
    "production_deployments",
    "staged_production_share",
    "promoted_version_share",
    "versioned_deployment_share",
    "automated_deployment_share",
    "automated_production_share",
    # --- reporting and freshness ------------------------------------------------------
    "sources_integrated",
    "freshness_git_days",
    "freshness_ci_days",
    "freshness_deploy_days",
    "freshness_tracker_days",
    "max_freshness_days",
)


def define(
    name: str,
    unit: str,
    sources: str,
    records: str,
    description: str,
    dora: bool = False,
    needs: tuple[Need, ...] = (),
) -> Metric:
    """Declare one metric of the catalogue (by the module that computes it)."""
    if name in CATALOGUE:
        raise ValueError(f"metric {name!r} is defined twice")
    metric = Metric(name, description, unit, tuple(sources.split()), records, dora, needs)
    CATALOGUE[name] = metric
    return metric


def arrange() -> None:
    """Put :data:`CATALOGUE` in :data:`ORDER`, once every family module has defined its metrics;
    a metric defined but not ordered, or ordered but not defined, is an error."""
    defined = dict(CATALOGUE)
    if len(ORDER) != len(set(ORDER)) or set(ORDER) != set(defined):
        raise RuntimeError(
            f"catalogue order and definitions differ: {sorted(set(ORDER) ^ set(defined))}"
        )
    CATALOGUE.clear()
    CATALOGUE.update((name, defined[name]) for name in ORDER)


def reach(
    rules: RulesConfig, metrics: Sequence[Metric] | None = None
) -> dict[str, tuple[dt.timedelta, dt.timedelta | None]]:
    """Per table of :data:`READ_TABLES`: how far before the first window and after the last
    period end a run must read so that every metric sees what its rules need.

    The read range of a run comes from here (``snapshots.read_ranges``), never from the run:
    a week's values are then the same however many weeks are scored with it.
    """
    out: dict[str, tuple[dt.timedelta, dt.timedelta | None]] = {}
    zero = dt.timedelta(0)
    for metric in CATALOGUE.values() if metrics is None else metrics:
        for table in metric.sources:
            out.setdefault(table, (zero, zero))
        for need in metric.needs:
            before, after = need.span(rules)
            old_before, old_after = out.get(need.table, (zero, zero))
            out[need.table] = (
                max(before, old_before),
                None if after is None or old_after is None else max(after, old_after),
            )
    for table in READ_TABLES:
        out.setdefault(table, (zero, zero))
    return {t: out[t] for t in READ_TABLES}
