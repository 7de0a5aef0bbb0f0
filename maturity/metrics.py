"""The metrics catalogue: DORA four keys and model evidence, vectorized over teams and weeks.

Every metric is computed for every team and every period end at once over a trailing window of
``window_days`` days: an event on local day ``d`` counts for period end ``p`` when
``p - window_days < d <= p`` (days in the configured time zone). Results are 2-D arrays
``[team, period]`` of values (NaN = unknown) and sample sizes, turned into one long frame by
:func:`compute`. A metric with no data is unknown (NaN), never zero; the exact definition of
each metric is in ``docs/scoring.md`` and in :data:`CATALOGUE`.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from maturity.config import EnvironmentsConfig, RulesConfig

Array = np.ndarray

SUCCESS_RESULTS = frozenset({"success", "succeeded", "passed", "stable", "ok", "fixed"})
FAILURE_RESULTS = frozenset(
    {"failure", "failed", "unstable", "error", "broken", "timed_out", "timedout", "startup_failure"}
)
DEPLOY_SUCCESS = frozenset({"success", "succeeded", "ok", "deployed", "done", "completed"})
DEPLOY_FAILURE = frozenset({"failure", "failed", "error", "rolled_back", "rolledback"})
#: a tag counts as automated when a successful CI build of its commit started this long before
TAG_AFTER_BUILD = pd.Timedelta(hours=24)
#: a change counts in lead time when the deployment that shipped it ended at most this long
#: after its commit; a production deployment counts as promoted (staged) when its version went
#: to pre-production at most this long before
LOOKBACK_DAYS = 90
#: a default-branch commit counts as built (CI coverage) by a build of its sha started at most
#: this long before or after the commit
CI_MATCH = pd.Timedelta(days=7)
#: pull requests are read this much further back than the commits of lead time (a merge commit
#: may be committed a little after its pull request's recorded merge)
PR_MERGE_SLACK = pd.Timedelta(days=1)
SOURCE_KINDS = ("git", "ci", "deploy", "tracker")


#: the tables a scoring run reads (``read.scoring_frames``); ``incident_references`` are the
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


def _m(
    name: str,
    unit: str,
    sources: str,
    records: str,
    description: str,
    dora: bool = False,
    needs: tuple[Need, ...] = (),
) -> Metric:
    return Metric(name, description, unit, tuple(sources.split()), records, dora, needs)


_H = pd.Timedelta(hours=1)
_LOOKBACK_H = LOOKBACK_DAYS * 24.0
_ATTRIBUTION = "incident_attribution_hours"


CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        # --- DORA four keys and rework rate ----------------------------------------------
        _m(
            "deployment_frequency",
            "per week",
            "deployments",
            "successful deployments to a production environment, started in the window",
            "Successful production deployments per week (count in the window / window weeks). "
            "Unknown until the team has any deployment record.",
            dora=True,
        ),
        _m(
            "lead_time_hours",
            "hours",
            "commits pull_requests deployments",
            "default-branch commits, each matched to the first successful production deployment "
            "of its repository whose deployed commit contains it",
            "Median hours from a change's first commit (author time; every commit of a squash or "
            "rebase merge starts at its pull request's first commit) to the end of the first "
            "successful production deployment that contained it, over changes deployed in the "
            "window. Rollbacks ship nothing.",
            dora=True,
            needs=(
                Need("commits", before=_LOOKBACK_H),
                Need("deployments", before=_LOOKBACK_H),
                Need("pull_requests", before=_LOOKBACK_H + PR_MERGE_SLACK / _H),
            ),
        ),
        _m(
            "lead_time_matched_by_time",
            "changes",
            "commits deployments",
            "changes deployed in the window by a deployment that named no commit",
            "Of the changes behind the lead time, those matched by time (the deployment named no "
            "commit, so it shipped what its repository's default branch held when it started).",
        ),
        _m(
            "change_failure_rate",
            "share",
            "deployments issues",
            "production deployments started in the window, and the failures, rollbacks, hotfixes "
            "and incidents attributed to them",
            "Share of production deployments (rollbacks excluded) that failed, were followed by a "
            "rollback or hotfix of the same service, or had an incident attributed to them.",
            dora=True,
            needs=(
                Need("deployments", before=_ATTRIBUTION, after=_ATTRIBUTION),
                Need("issues", after=_ATTRIBUTION),
                Need("incident_references", after=None),
            ),
        ),
        _m(
            "time_to_restore_hours",
            "hours",
            "issues",
            "incidents resolved in the window",
            "Median hours from an incident's creation to its resolution, over incidents resolved "
            "in the window.",
            dora=True,
        ),
        _m(
            "failed_deployment_recovery_hours",
            "hours",
            "issues deployments",
            "incidents resolved in the window that were attributed to a production deployment",
            "Failed deployment recovery time (DORA 2024): median hours from creation to "
            "resolution of the incidents caused by a deployment, over those resolved in the "
            "window.",
            dora=True,
        ),
        _m(
            "open_incident_age_hours",
            "hours",
            "issues",
            "incidents created before the period's end and not resolved by then",
            "Hours the oldest incident still open at the period's end has been open (0 when none "
            "is); the sample size is how many are open.",
        ),
        _m(
            "rework_rate",
            "share",
            "deployments issues",
            "production deployments started in the window flagged hotfix or rollback, or made "
            "while an incident of their service was open",
            "Share of production deployments that were unplanned fixes of a problem in "
            "production (DORA 2024): flagged hotfix or rollback, or started while an incident of "
            "their service was open.",
        ),
        # --- source control ---------------------------------------------------------------
        _m(
            "commits",
            "commits",
            "commits",
            "commits committed in the window",
            "Commits committed in the window in the team's repositories.",
        ),
        _m(
            "active_repositories",
            "repositories",
            "commits",
            "repositories with a commit in the window",
            "Repositories of the team with at least one commit in the window.",
        ),
        _m(
            "review_rate",
            "share",
            "pull_requests",
            "pull requests merged in the window",
            "Share of merged pull requests with at least one review or approval.",
        ),
        _m(
            "pr_lifetime_hours",
            "hours",
            "pull_requests",
            "pull requests merged in the window",
            "Median hours from a merged pull request's first commit (else creation) to its merge.",
        ),
        _m(
            "integration_days_per_week",
            "days per week",
            "commits",
            "default-branch commits committed in the window",
            "Days on which the default branch received a commit, per week of the window.",
        ),
        _m(
            "default_branch_tags",
            "tags",
            "tags",
            "tags on the default branch created in the window",
            "Tags on the default branch created in the window (lightweight: dated by its commit).",
        ),
        _m(
            "automated_tag_share",
            "share",
            "tags builds",
            "tags on the default branch created in the window, and builds of their commits",
            "Share of default-branch tags whose commit had a successful CI build started at "
            "most 24 hours before the tag.",
            needs=(Need("builds", before=TAG_AFTER_BUILD / _H),),
        ),
        _m(
            "ci_coverage",
            "share",
            "commits builds",
            "default-branch commits committed in the window, and builds with the same sha",
            "Share of default-branch commits that some CI build ran on (matched by sha) at "
            "most 7 days before or after the commit.",
            needs=(Need("builds", before=CI_MATCH / _H, after=CI_MATCH / _H),),
        ),
        # --- build & test -----------------------------------------------------------------
        _m(
            "builds",
            "builds",
            "builds",
            "builds started in the window",
            "CI builds started in the window.",
        ),
        _m(
            "build_success_rate",
            "share",
            "builds",
            "finished builds started in the window",
            "Share of finished builds (success or failure; aborted and running builds excluded) "
            "that succeeded.",
        ),
        _m(
            "test_reporting_share",
            "share",
            "builds",
            "builds started in the window",
            "Share of builds that published test results (a test count was recorded).",
        ),
        _m(
            "lint_share",
            "share",
            "builds",
            "builds started in the window",
            "Share of builds that ran a linter or coding-standards step.",
        ),
        _m(
            "test_change_share",
            "share",
            "commits",
            "non-merge commits committed in the window",
            "Share of non-merge commits that change at least one test file.",
        ),
        _m(
            "infra_change_share",
            "share",
            "commits",
            "non-merge commits committed in the window",
            "Share of non-merge commits that change infrastructure code.",
        ),
        _m(
            "ci_change_share",
            "share",
            "commits",
            "non-merge commits committed in the window",
            "Share of non-merge commits that change CI or deployment definitions.",
        ),
        _m(
            "docs_change_share",
            "share",
            "commits",
            "non-merge commits committed in the window",
            "Share of non-merge commits that change documentation.",
        ),
        _m(
            "issue_key_share",
            "share",
            "commits",
            "non-merge commits committed in the window",
            "Share of non-merge commits whose message names an issue key.",
        ),
        # --- environments and deployment --------------------------------------------------
        _m(
            "environments_deployed",
            "tiers",
            "deployments",
            "deployments started in the window",
            "Promotion tiers (development, qa, staging, production) deployed to in the window.",
        ),
        _m(
            "qa_deployments",
            "deployments",
            "deployments",
            "deployments to a qa environment started in the window",
            "Deployments to an environment of the qa tier.",
        ),
        _m(
            "staging_deployments",
            "deployments",
            "deployments",
            "deployments to a staging environment started in the window",
            "Deployments to an environment of the staging tier.",
        ),
        _m(
            "production_deployments",
            "deployments",
            "deployments",
            "deployments to a production environment started in the window",
            "Deployments (any status) to an environment of the production tier.",
        ),
        _m(
            "staged_production_share",
            "share",
            "deployments",
            "successful production deployments in the window, and earlier staging deployments",
            "Share of successful production deployments whose version (else commit) was "
            "successfully deployed to staging at most 90 days before.",
            needs=(Need("deployments", before=_LOOKBACK_H),),
        ),
        _m(
            "promoted_version_share",
            "share",
            "deployments",
            "successful production deployments in the window, and earlier pre-production ones",
            "Share of successful production deployments whose version (else commit) was deployed "
            "to any pre-production environment (development, qa, staging) at most 90 days "
            "before.",
            needs=(Need("deployments", before=_LOOKBACK_H),),
        ),
        _m(
            "versioned_deployment_share",
            "share",
            "deployments",
            "deployments started in the window",
            "Share of deployments that name the version they shipped.",
        ),
        _m(
            "automated_deployment_share",
            "share",
            "deployments",
            "deployments started in the window with a known trigger",
            "Share of deployments triggered by automation (of those whose trigger is known).",
        ),
        _m(
            "automated_production_share",
            "share",
            "deployments",
            "production deployments started in the window with a known trigger",
            "Share of production deployments triggered by automation.",
        ),
        # --- reporting and freshness ------------------------------------------------------
        _m(
            "sources_integrated",
            "kinds",
            "commits builds deployments issues",
            "records of each kind in the window",
            "Kinds of source (git, CI, deployments, issue tracker) with data for the team in the "
            "window. Unknown until the team has any record.",
        ),
        _m(
            "freshness_git_days",
            "days",
            "commits",
            "the team's newest commit",
            "Days from the newest commit up to the period end.",
        ),
        _m(
            "freshness_ci_days",
            "days",
            "builds",
            "the team's newest build",
            "Days from the newest build up to the period end.",
        ),
        _m(
            "freshness_deploy_days",
            "days",
            "deployments",
            "the team's newest deployment",
            "Days from the newest deployment up to the period end.",
        ),
        _m(
            "freshness_tracker_days",
            "days",
            "issues",
            "the team's newest issue change",
            "Days from the newest issue created or updated up to the period end.",
        ),
        _m(
            "max_freshness_days",
            "days",
            "commits builds deployments issues",
            "the newest record of each kind",
            "The stalest of the team's sources (the largest freshness of the kinds it has).",
        ),
    )
}

#: metric -> the metric counting the values of its sample that were matched by time (a
#: deployment that named no commit): the evidence shows it beside the sample
COUNTED_APART: dict[str, str] = {"lead_time_hours": "lead_time_matched_by_time"}


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


# --- DORA 2024 performance tiers ----------------------------------------------------------

#: Accelerate State of DevOps Report 2024 (DORA, Google Cloud), "software delivery performance
#: levels", https://dora.dev/research/2024/dora-report/. Each list is (tier, upper bound) for
#: metrics where lower is better, (tier, lower bound) where higher is better.
DORA_TIERS: dict[str, tuple[str, list[tuple[str, float]]]] = {
    # DORA's answer options: on demand (multiple deploys per day) / between once per day and
    # once per week / between once per week and once per month / between once per month and
    # once every six months. Daily (7 a week) is "daily to weekly": elite needs more than 7.
    "deployment_frequency": ("higher", [("elite", 7.0), ("high", 1.0), ("medium", 12 / 52)]),
    # under a day / a day to a week / a week to a month / one to six months
    "lead_time_hours": ("lower", [("elite", 24.0), ("high", 24.0 * 7), ("medium", 24.0 * 30)]),
    # 5 % / 20 % / 10 % / 40 %: the report's medium (10 %) is below its high (20 %) because the
    # tiers are clusters of all four keys; for one key alone we keep the order elite < high <
    # medium < low with the bounds 5 %, 20 %, 40 %.
    "change_failure_rate": ("lower", [("elite", 0.05), ("high", 0.20), ("medium", 0.40)]),
    # under an hour / under a day / under a day / a week to a month: medium is placed up to a week
    "time_to_restore_hours": ("lower", [("elite", 1.0), ("high", 24.0), ("medium", 24.0 * 7)]),
    # DORA 2024 measures failed deployment recovery time on the same answer options
    "failed_deployment_recovery_hours": (
        "lower",
        [("elite", 1.0), ("high", 24.0), ("medium", 24.0 * 7)],
    ),
}
#: the four keys shown as tiles; failed deployment recovery time is shown beside restore time
DORA_KEYS = (
    "deployment_frequency",
    "lead_time_hours",
    "change_failure_rate",
    "time_to_restore_hours",
)
#: (metric, tier) whose bound belongs to the tier below: on demand is *more* than daily
STRICT_BOUNDS: frozenset[tuple[str, str]] = frozenset({("deployment_frequency", "elite")})
#: values this close to a bound are on it (90 deployments / (90 / 7) weeks is 7 a week)
_EDGE = 1e-9


def _reaches(metric: str, name: str, direction: str, bound: float, value: Any) -> Any:
    """Whether ``value`` (a number or an array) is inside the tier whose bound is ``bound``."""
    tol = _EDGE * max(abs(bound), 1.0)
    if direction == "higher":
        if (metric, name) in STRICT_BOUNDS:
            return value > bound + tol
        return value >= bound - tol
    if (metric, name) in STRICT_BOUNDS:
        return value < bound - tol
    return value <= bound + tol


def tier(metric: str, value: float | None) -> str:
    """The DORA 2024 tier of one key's value: elite, high, medium, low, or unknown."""
    if value is None or value != value:
        return "unknown"
    direction, bounds = DORA_TIERS[metric]
    for name, bound in bounds:
        if _reaches(metric, name, direction, bound, value):
            return name
    return "low"


def tiers(metric: str, values: pd.Series) -> pd.Series:
    """:func:`tier` over a column, vectorized."""
    direction, bounds = DORA_TIERS[metric]
    out = pd.Series("low", index=values.index, dtype=object)
    for name, bound in reversed(bounds):
        hit = _reaches(metric, name, direction, bound, values)
        out[hit.to_numpy()] = name
    out[values.isna().to_numpy()] = "unknown"
    return out


# --- inputs -------------------------------------------------------------------------------


@dataclass
class Frames:
    """The store's rows a computation needs, as pandas frames (see ``read.scoring_frames``).

    Timestamps are tz-aware UTC; ``*_hash`` columns are 64-bit hashes of commit shas (0 = none).
    """

    team_ids: list[int]
    commits: pd.DataFrame
    tags: pd.DataFrame
    pull_requests: pd.DataFrame
    builds: pd.DataFrame
    deployments: pd.DataFrame
    issues: pd.DataFrame
    #: per team and kind (git, ci, deploy, tracker): first_at (ever) and last_before (newest
    #: record before the frames' start), so presence and freshness need no full history
    bounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: every commit of the shared repositories (monorepo path rules), whoever's: their history
    #: links a team's changes across the other teams' commits (``attribution.apply``)
    commit_graph: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the teams' repositories: id, team_id, name, slug (services map to them by name)
    repositories: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {c: pd.Series([], dtype=object) for c in ("id", "team_id", "name", "slug")}
        )
    )


@dataclass
class Grid:
    """Teams x period ends, in local days since the epoch."""

    team_ids: Array
    period_ends: list[dt.date]
    window_days: int
    tz: str = "UTC"

    def __post_init__(self) -> None:
        self.P = np.array(
            [(p - dt.date(1970, 1, 1)).days for p in self.period_ends], dtype=np.int64
        )
        self.T = len(self.team_ids)
        self.K = len(self.period_ends)

    def team_index(self, team: pd.Series) -> Array:
        """Row of each team id in the grid, -1 for teams not in it."""
        pos = pd.Index(self.team_ids).get_indexer(team.to_numpy())
        return pos.astype(np.int64)

    def day(self, ts: pd.Series) -> Array:
        """Local day (days since 1970-01-01 in the configured zone) of UTC timestamps."""
        local = ts.dt.tz_convert(self.tz).dt.tz_localize(None)
        days = local.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
        # NaT becomes a huge negative number: keep it out of every window
        days[local.isna().to_numpy()] = np.iinfo(np.int64).min // 2
        return days

    def end_ts(self) -> pd.Series:
        """Instant each period ends (local midnight after the period end day), as UTC."""
        local = pd.to_datetime([p + dt.timedelta(days=1) for p in self.period_ends])
        return pd.Series(local.tz_localize(self.tz).tz_convert("UTC"))


def window_sum(grid: Grid, team: Array, day: Array, weight: Array | None = None) -> Array:
    """Sum of ``weight`` (default 1) over events in each team's window ending at each period."""
    W = grid.window_days
    d0 = int(grid.P.min()) - W + 1 if grid.K else 0
    D = int(grid.P.max()) - d0 + 1 if grid.K else 0
    ok = (team >= 0) & (day >= d0) & (day < d0 + D)
    w = np.ones(int(ok.sum())) if weight is None else np.asarray(weight, dtype=np.float64)[ok]
    flat = team[ok] * D + (day[ok] - d0)
    grid2 = np.bincount(flat, weights=w, minlength=grid.T * D).reshape(grid.T, D)
    cs = np.concatenate([np.zeros((grid.T, 1)), np.cumsum(grid2, axis=1)], axis=1)
    hi = grid.P - d0 + 1
    lo = np.clip(hi - W, 0, None)
    return cs[:, hi] - cs[:, lo]


def cumulative_count(grid: Grid, team: Array, day: Array) -> Array:
    """Events on or before each period end (any time in the past), per team."""
    out = np.zeros((grid.T, grid.K))
    ok = team >= 0
    if not ok.any() or not grid.K:
        return out
    k = np.searchsorted(grid.P, day[ok], side="left")
    inside = k < grid.K
    np.add.at(out, (team[ok][inside], k[inside]), 1)
    return np.cumsum(out, axis=1)


def last_day(grid: Grid, team: Array, day: Array) -> Array:
    """Newest event day on or before each period end, per team (NaN when none)."""
    out = np.full((grid.T, grid.K), -np.inf)
    ok = team >= 0
    if ok.any() and grid.K:
        k = np.searchsorted(grid.P, day[ok], side="left")
        inside = k < grid.K
        np.maximum.at(out, (team[ok][inside], k[inside]), day[ok][inside].astype(np.float64))
        out = np.maximum.accumulate(out, axis=1)
    out[np.isinf(out)] = np.nan
    return out


def window_median(grid: Grid, team: Array, day: Array, values: Array) -> tuple[Array, Array]:
    """Median and count of ``values`` of events in each window, per team and period.

    Loops over period ends (not teams, not rows): each step takes the day-sorted slice of events
    inside one window and takes every team's median at once.
    """
    med = np.full((grid.T, grid.K), np.nan)
    cnt = np.zeros((grid.T, grid.K))
    ok = (team >= 0) & ~np.isnan(values)
    order = np.argsort(day[ok], kind="stable")
    d, t, v = day[ok][order], team[ok][order], values[ok][order]
    for k, p in enumerate(grid.P):
        lo = np.searchsorted(d, p - grid.window_days + 1, side="left")
        hi = np.searchsorted(d, p, side="right")
        if hi <= lo:
            continue
        part = pd.Series(v[lo:hi]).groupby(t[lo:hi])
        m = part.median()
        med[m.index.to_numpy(), k] = m.to_numpy()
        cnt[m.index.to_numpy(), k] = part.size().to_numpy()
    return med, cnt


def _share(num: Array, den: Array) -> tuple[Array, Array]:
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return value, den


def environment_tier(names: pd.Series, envs: EnvironmentsConfig) -> pd.Series:
    """Promotion tier of each environment name by the configured globs (first match wins)."""
    uniq = pd.Series(names.dropna().unique())
    mapping: dict[str, str] = {}
    for name in uniq:
        low = str(name).lower()
        mapping[name] = "other"
        for tier_name in ("production", "staging", "qa", "development"):
            if any(fnmatch.fnmatchcase(low, pat.lower()) for pat in getattr(envs, tier_name)):
                mapping[name] = tier_name
                break
    return names.map(mapping).fillna("other")


# --- the computation ----------------------------------------------------------------------

Result = dict[str, tuple[Array, Array]]


def compute(
    frames: Frames,
    period_ends: Sequence[dt.date],
    *,
    window_days: int = 90,
    tz: str = "UTC",
    rules: RulesConfig | None = None,
    environments: EnvironmentsConfig | None = None,
) -> pd.DataFrame:
    """Every metric of the catalogue for every team and period end.

    Returns:
        A long frame: team_id, period_end (date), metric, value (NaN = unknown), sample_size.
    """
    grid = Grid(
        np.asarray(sorted(frames.team_ids), dtype=np.int64), sorted(period_ends), window_days, tz
    )
    results = compute_arrays(
        frames, grid, rules or RulesConfig(), environments or EnvironmentsConfig()
    )
    return to_long(grid, results)


def compute_arrays(
    frames: Frames, grid: Grid, rules: RulesConfig, envs: EnvironmentsConfig
) -> Result:
    """The catalogue as ``{metric: (values[T, K], sample_size[T, K])}``."""
    presence = _presence(frames, grid)
    out: Result = {}
    for family in (_git, _reviews, _tags, _builds, _deployments, _incidents):
        out.update(family(frames, grid, presence, rules, envs))
    out.update(_sources(frames, grid, presence))
    missing = set(CATALOGUE) - set(out)
    assert not missing, f"metrics without a computation: {missing}"
    return out


def to_long(grid: Grid, results: Result) -> pd.DataFrame:
    names = [n for n in CATALOGUE if n in results]
    n = grid.T * grid.K
    return pd.DataFrame(
        {
            "team_id": np.tile(np.repeat(grid.team_ids, grid.K), len(names)),
            "period_end": np.tile(
                np.tile(np.array(grid.period_ends, dtype=object), grid.T), len(names)
            ),
            "metric": np.repeat(np.array(names, dtype=object), n),
            "value": np.concatenate([results[m][0].ravel() for m in names]) if names else [],
            "sample_size": np.concatenate(
                [np.nan_to_num(results[m][1]).ravel() for m in names]
            ).astype(np.int64)
            if names
            else [],
        }
    )


Family = Callable[[Frames, Grid, dict[str, Array], RulesConfig, EnvironmentsConfig], Result]


def _presence(frames: Frames, grid: Grid) -> dict[str, Array]:
    """Per kind: [T, K] True once the team has any record of that kind by the period end."""
    firsts = {
        "git": (frames.commits, "committed_at"),
        "ci": (frames.builds, "started_at"),
        "deploy": (frames.deployments, "started_at"),
        "tracker": (frames.issues, "created_at"),
    }
    out = {}
    for kind, (frame, col) in firsts.items():
        team = grid.team_index(frame["team_id"])
        seen = cumulative_count(grid, team, grid.day(frame[col])) > 0
        b = frames.bounds
        if not b.empty:
            mine = b[(b["kind"] == kind) & b["first_at"].notna()]
            seen |= (
                cumulative_count(grid, grid.team_index(mine["team_id"]), grid.day(mine["first_at"]))
                > 0
            )
        out[kind] = seen
    return out


def _known_count(count: Array, present: Array) -> tuple[Array, Array]:
    return np.where(present, count, np.nan), count


def _git(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    c = frames.commits
    team = grid.team_index(c["team_id"])
    day = grid.day(c["committed_at"])
    git = presence["git"]
    out: Result = {"commits": _known_count(window_sum(grid, team, day), git)}
    # distinct active repositories: one row per repository and day, then windows per repository
    if len(c):
        rd = pd.DataFrame(
            {"r": c["repository_id"].to_numpy(), "t": team, "d": day}
        ).drop_duplicates()
        repos, r_idx = np.unique(rd["r"].to_numpy(), return_inverse=True)
        rgrid = Grid(np.arange(len(repos)), grid.period_ends, grid.window_days, grid.tz)
        active = window_sum(rgrid, r_idx.astype(np.int64), rd["d"].to_numpy()) > 0
        repo_team = pd.Series(rd["t"].to_numpy()).groupby(r_idx).first().to_numpy()
        per_team = np.zeros((grid.T, grid.K))
        keep = repo_team >= 0
        np.add.at(per_team, repo_team[keep], active[keep])
    else:
        per_team = np.zeros((grid.T, grid.K))
    out["active_repositories"] = _known_count(per_team, git)
    non_merge = ~c["is_merge"].to_numpy(dtype=bool)
    den = window_sum(grid, team, day, non_merge)
    for metric, col in (
        ("test_change_share", "test_files"),
        ("infra_change_share", "infra_files"),
        ("ci_change_share", "ci_files"),
        ("docs_change_share", "docs_files"),
    ):
        out[metric] = _share(window_sum(grid, team, day, non_merge & (c[col].to_numpy() > 0)), den)
    out["issue_key_share"] = _share(
        window_sum(grid, team, day, non_merge & c["has_issue_key"].to_numpy(dtype=bool)), den
    )
    on_default = c["on_default_branch"].fillna(False).to_numpy(dtype=bool)
    # integration days: distinct (team, day) with a default-branch commit
    td = pd.DataFrame({"t": team[on_default], "d": day[on_default]}).drop_duplicates()
    days = window_sum(grid, td["t"].to_numpy(), td["d"].to_numpy())
    out["integration_days_per_week"] = (np.where(git, days / (grid.window_days / 7), np.nan), days)
    built = on_default & _built(frames, c)
    out["ci_coverage"] = _share(
        window_sum(grid, team, day, built), window_sum(grid, team, day, on_default)
    )
    return out


def _built(frames: Frames, c: pd.DataFrame) -> Array:
    """Commits that a build of the same sha started at most :data:`CI_MATCH` before or after."""
    b = frames.builds[frames.builds["sha_hash"] != 0]
    sha = c["sha_hash"].to_numpy()
    out = np.isin(sha, b["sha_hash"].to_numpy())
    if not out.any():
        return out
    probe = pd.DataFrame(
        {"pos": np.flatnonzero(out), "sha_hash": sha[out], "at": _naive(c["committed_at"])[out]}
    ).sort_values("at", kind="stable")
    builds = pd.DataFrame(
        {"sha_hash": b["sha_hash"].to_numpy(), "at": _naive(b["started_at"]), "hit": True}
    ).sort_values("at", kind="stable")
    m = pd.merge_asof(
        probe, builds, on="at", by="sha_hash", direction="nearest", tolerance=CI_MATCH
    )
    out[:] = False
    out[m["pos"].to_numpy()[m["hit"].notna().to_numpy()]] = True
    return out


def _reviews(frames: Frames, grid: Grid, *_: object) -> Result:
    pr = frames.pull_requests
    merged = pr[pr["merged_at"].notna()]
    team = grid.team_index(merged["team_id"])
    day = grid.day(merged["merged_at"])
    reviewed = merged["reviewed"].to_numpy(dtype=bool)
    start = merged["first_commit_at"].fillna(merged["created_at"])
    hours = ((merged["merged_at"] - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64)
    hours = np.where(hours < 0, 0.0, hours)
    return {
        "review_rate": _share(window_sum(grid, team, day, reviewed), window_sum(grid, team, day)),
        "pr_lifetime_hours": window_median(grid, team, day, hours),
    }


def _tags(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    tg = frames.tags
    tg = tg[tg["on_default_branch"].fillna(False).astype(bool) & tg["at"].notna()]
    team = grid.team_index(tg["team_id"])
    day = grid.day(tg["at"])
    # a successful build of the tagged commit that started up to 24 h before the tag
    b = frames.builds
    ok = b[b["result"].isin(SUCCESS_RESULTS) & (b["sha_hash"] != 0)][["sha_hash", "started_at"]]
    joined = tg[["sha_hash", "at"]].reset_index().merge(ok, on="sha_hash", how="inner")
    hit = joined[
        (joined["started_at"] <= joined["at"])
        & (joined["at"] - joined["started_at"] <= TAG_AFTER_BUILD)
    ]
    automated = tg.index.isin(hit["index"].unique())
    count = window_sum(grid, team, day)
    return {
        "default_branch_tags": _known_count(count, presence["git"]),
        "automated_tag_share": _share(window_sum(grid, team, day, automated), count),
    }


def _builds(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    b = frames.builds
    team = grid.team_index(b["team_id"])
    day = grid.day(b["started_at"])
    result = b["result"].fillna("").str.lower()
    success = result.isin(SUCCESS_RESULTS).to_numpy()
    finished = success | result.isin(FAILURE_RESULTS).to_numpy()
    total = window_sum(grid, team, day)
    return {
        "builds": _known_count(total, presence["ci"]),
        "build_success_rate": _share(
            window_sum(grid, team, day, success), window_sum(grid, team, day, finished)
        ),
        "test_reporting_share": _share(
            window_sum(grid, team, day, b["tests_total"].notna().to_numpy()), total
        ),
        "lint_share": _share(
            window_sum(grid, team, day, b["has_lint"].fillna(False).to_numpy(dtype=bool)), total
        ),
    }


def _deployments(
    frames: Frames,
    grid: Grid,
    presence: dict[str, Array],
    rules: RulesConfig,
    envs: EnvironmentsConfig,
) -> Result:
    d = frames.deployments
    team = grid.team_index(d["team_id"])
    day = grid.day(d["started_at"])
    tier_ = environment_tier(d["environment"], envs).to_numpy()
    status = d["status"].fillna("").str.lower()
    success = status.isin(DEPLOY_SUCCESS).to_numpy()
    failed = status.isin(DEPLOY_FAILURE).to_numpy()
    prod = tier_ == "production"
    dep = presence["deploy"]
    out: Result = {}
    n_prod_ok = window_sum(grid, team, day, prod & success)
    weeks = grid.window_days / 7
    out["deployment_frequency"] = (np.where(dep, n_prod_ok / weeks, np.nan), n_prod_ok)
    out["production_deployments"] = _known_count(window_sum(grid, team, day, prod), dep)
    out["qa_deployments"] = _known_count(window_sum(grid, team, day, tier_ == "qa"), dep)
    out["staging_deployments"] = _known_count(window_sum(grid, team, day, tier_ == "staging"), dep)
    tiers_seen = sum(
        (window_sum(grid, team, day, tier_ == t) > 0).astype(float)
        for t in ("development", "qa", "staging", "production")
    )
    out["environments_deployed"] = _known_count(np.asarray(tiers_seen), dep)
    all_n = window_sum(grid, team, day)
    out["versioned_deployment_share"] = _share(
        window_sum(grid, team, day, d["version"].notna().to_numpy()), all_n
    )
    trig = d["trigger"].fillna("").str.lower().to_numpy()
    known = trig != ""
    auto = trig == "automated"
    out["automated_deployment_share"] = _share(
        window_sum(grid, team, day, auto), window_sum(grid, team, day, known)
    )
    out["automated_production_share"] = _share(
        window_sum(grid, team, day, auto & prod), window_sum(grid, team, day, known & prod)
    )
    # promotion: the same version (else commit) deployed earlier to staging / any pre-production
    ident = (
        d["version"]
        .astype(object)
        .where(d["version"].notna(), d["sha_hash"].astype(str).where(d["sha_hash"] != 0))
    )
    base = pd.DataFrame(
        {
            "team": d["team_id"].to_numpy(),
            "ident": ident.to_numpy(),
            "at": _naive(d["started_at"]),
        }
    )
    base = base.assign(pos=np.arange(len(d)), ident=base["ident"].astype(str))
    named = ident.notna().to_numpy()
    prod_ok = prod & success
    for metric, lower in (
        ("staged_production_share", (tier_ == "staging") & success),
        ("promoted_version_share", np.isin(tier_, ["development", "qa", "staging"])),
    ):
        # the same version deployed to pre-production before, at most LOOKBACK_DAYS before
        went = np.zeros(len(d), dtype=bool)
        pre = base[lower & named][["team", "ident", "at"]].assign(hit=True)
        probe = base[prod_ok & named]
        if len(pre) and len(probe):
            m = pd.merge_asof(
                probe.sort_values("at", kind="stable"),
                pre.sort_values("at", kind="stable"),
                on="at",
                by=["team", "ident"],
                direction="backward",
                tolerance=pd.Timedelta(days=LOOKBACK_DAYS),
                allow_exact_matches=False,
            )
            went[m["pos"].to_numpy()[m["hit"].notna().to_numpy()]] = True
        out[metric] = _share(window_sum(grid, team, day, went), n_prod_ok)
    # rework (DORA 2024): unplanned deployments made to fix a problem in production, among
    # production deployments that finished either way
    attempted = prod & (success | failed)
    rework = (
        d["is_hotfix"].to_numpy(dtype=bool)
        | d["is_rollback"].to_numpy(dtype=bool)
        | _during_incident(frames, d)
    )
    out["rework_rate"] = _share(
        window_sum(grid, team, day, attempted & rework), window_sum(grid, team, day, attempted)
    )
    changes = attempted & ~d["is_rollback"].to_numpy(dtype=bool)
    incident_hit, caused = _incident_attributed(frames, d, changes, rules)
    out["change_failure_rate"] = _change_failure(
        grid, d, team, day, prod, success, failed, rules, incident_hit
    )
    out["failed_deployment_recovery_hours"] = _recovery(frames, grid, caused)
    shipping = prod & success & ~d["is_rollback"].to_numpy(dtype=bool)
    mapped = _with_repositories(frames, d, rules)
    lead, by_time = _lead_time(frames, grid, mapped, shipping[mapped["row"].to_numpy(np.int64)])
    out["lead_time_hours"] = lead
    out["lead_time_matched_by_time"] = _known_count(by_time, presence["deploy"])
    return out


def _during_incident(frames: Frames, d: pd.DataFrame) -> Array:
    """Deployments started while an incident of their service was open (from its creation to
    its resolution, or still open): made because of the incident. An incident naming no
    service is one of every service of its team."""
    out = np.zeros(len(d), dtype=bool)
    inc = frames.issues
    inc = inc[inc["is_incident"].to_numpy(dtype=bool)]
    if inc.empty or d.empty:
        return out
    deps = pd.DataFrame(
        {
            "pos": np.arange(len(d)),
            "team_id": d["team_id"].to_numpy(np.int64),
            "service": d["service"].fillna("").to_numpy(),
            "at": _naive(d["started_at"]),
        }
    )
    opened = pd.DataFrame(
        {
            "team_id": inc["team_id"].to_numpy(np.int64),
            "service": inc["service"].fillna("").to_numpy(),
            "opened": _naive(inc["created_at"]),
            "closed": _naive(inc["resolved_at"]),
        }
    )
    for scoped in (True, False):
        part = opened[(opened["service"] != "") == scoped]
        if part.empty:
            continue
        keys = ["team_id", "service"] if scoped else ["team_id"]
        m = deps.merge(part.drop(columns=[] if scoped else ["service"]), on=keys)
        inside = (m["at"] >= m["opened"]) & (m["closed"].isna() | (m["at"] <= m["closed"]))
        out[m["pos"][inside].to_numpy(dtype=np.int64)] = True
    return out


def _with_repositories(frames: Frames, d: pd.DataFrame, rules: RulesConfig) -> pd.DataFrame:
    """Deployments with the repository they shipped from: their own, else the one the first
    matching glob of ``rules.service_repositories`` names among their team's repositories (a
    service built from several repositories gives one row per repository)."""
    if not rules.service_repositories or d.empty:
        return d.assign(row=np.arange(len(d)))
    repos = frames.repositories
    found: dict[tuple[int, str], list[float]] = {}
    unnamed = d["repository_id"].isna().to_numpy()
    for team, service in set(
        zip(d["team_id"][unnamed].tolist(), d["service"].fillna("")[unnamed].tolist(), strict=True)
    ):
        mine = repos[repos["team_id"].astype("float64") == float(team)]
        for pattern, names in rules.service_repositories.items():
            if fnmatch.fnmatchcase(service.casefold(), pattern.casefold()):
                wanted = {n.casefold() for n in names}
                hit = mine[
                    mine["name"].astype(str).str.casefold().isin(wanted)
                    | mine["slug"].fillna("").astype(str).str.casefold().isin(wanted)
                ]
                found[(team, service)] = sorted(float(i) for i in hit["id"])
                break
    out = d.assign(row=np.arange(len(d)))
    keys = list(zip(out["team_id"].tolist(), out["service"].fillna("").tolist(), strict=True))
    lists = [
        found.get(k, [np.nan]) if u and found.get(k) else [np.nan]
        for k, u in zip(keys, unnamed, strict=True)
    ]
    out["mapped"] = lists
    out = out.explode("mapped", ignore_index=True)
    mapped = pd.to_numeric(out.pop("mapped")).astype("Float64")
    out["repository_id"] = out["repository_id"].fillna(mapped)
    return out


def _recovery(frames: Frames, grid: Grid, caused: Array) -> tuple[Array, Array]:
    """Median hours from creation to resolution of incidents caused by a deployment."""
    inc = frames.issues
    keep = caused & inc["resolved_at"].notna().to_numpy()
    inc = inc[keep]
    hours = ((inc["resolved_at"] - inc["created_at"]).dt.total_seconds() / 3600).to_numpy(
        dtype=np.float64
    )
    return window_median(
        grid, grid.team_index(inc["team_id"]), grid.day(inc["resolved_at"]), np.clip(hours, 0, None)
    )


def _change_failure(
    grid: Grid,
    d: pd.DataFrame,
    team: Array,
    day: Array,
    prod: Array,
    success: Array,
    failed: Array,
    rules: RulesConfig,
    incident_hit: Array,
) -> tuple[Array, Array]:
    rollback = d["is_rollback"].to_numpy(dtype=bool)
    hotfix = d["is_hotfix"].to_numpy(dtype=bool)
    changes = prod & (success | failed) & ~rollback
    bad = changes & failed
    # followed by a rollback or hotfix of the same service within the attribution window
    attempted = pd.DataFrame(
        {
            "pos": np.arange(len(d)),
            "team": d["team_id"].to_numpy(),
            "service": d["service"].fillna("").to_numpy(),
            "at": d["started_at"],
            "fix": rollback | hotfix,
        }
    )[prod & (success | failed)].sort_values("at", kind="stable")
    nxt = attempted.groupby(["team", "service"])[["fix", "at"]].shift(-1)
    window = pd.Timedelta(hours=rules.incident_attribution_hours)
    followed = nxt["fix"].fillna(False).astype(bool) & ((nxt["at"] - attempted["at"]) <= window)
    bad[attempted["pos"].to_numpy()[followed.to_numpy()]] = True
    bad |= incident_hit
    return _share(window_sum(grid, team, day, bad & changes), window_sum(grid, team, day, changes))


def _incident_attributed(
    frames: Frames, d: pd.DataFrame, changes: Array, rules: RulesConfig
) -> tuple[Array, Array]:
    """Deployments an incident is attributed to, by the configured rule and window.

    Returns the deployments hit and, per row of ``frames.issues``, whether that incident was
    attributed to a deployment (caused by one).
    """
    hit = np.zeros(len(d), dtype=bool)
    issues = frames.issues
    caused = np.zeros(len(issues), dtype=bool)
    is_inc = issues["is_incident"].to_numpy(dtype=bool)
    if not is_inc.any() or not changes.any():
        return hit, caused
    deps = pd.DataFrame(
        {
            "pos": np.arange(len(d)),
            "team_id": d["team_id"].to_numpy(np.int64),
            "service": d["service"].fillna("").to_numpy(),
            "at": _naive(d["started_at"]),
            "external_id": d["external_id"].astype(object).to_numpy(),
            "version": d["version"].astype(object).to_numpy(),
        }
    )[changes]
    inc = pd.DataFrame(
        {
            "row": np.arange(len(issues)),
            "team_id": issues["team_id"].to_numpy(np.int64),
            "service": issues["service"].fillna("").to_numpy(),
            "ref": issues["deployment_ref"].astype(object).to_numpy(),
            "at": _naive(issues["created_at"]),
        }
    )[is_inc]
    # An explicit reference wins: the id, else the version, of a deployment of the incident's
    # own service (ids are unique per service only); an incident naming no service looks
    # through the team's deployments.
    ref = inc[inc["ref"].notna()]
    matched = np.zeros(len(issues), dtype=bool)
    for col in ("external_id", "version"):
        todo = ref[~matched[ref["row"].to_numpy()]]
        if todo.empty:
            break
        for scoped in (True, False):
            part = todo[(todo["service"] != "") == scoped]
            keys = ["team_id", "service"] if scoped else ["team_id"]
            m = part.merge(
                deps.drop(columns=[] if scoped else ["service"]),
                left_on=[*keys, "ref"],
                right_on=[*keys, col],
                suffixes=("", "_dep"),
            )
            # an incident cannot come from a deployment that started after it was created
            m = m[(m["at"] >= m["at_dep"]).to_numpy(dtype=bool)]
            hit[m["pos"].to_numpy()] = True
            matched[m["row"].to_numpy()] = True
    caused |= matched
    rest = inc[inc["ref"].isna()]
    if rest.empty:
        return hit, caused
    probe = rest[["row", "team_id", "service", "at"]].sort_values("at", kind="stable")
    deps_sorted = deps.sort_values("at", kind="stable")
    tol = pd.Timedelta(hours=rules.incident_attribution_hours)
    same = probe["service"] != ""
    if rules.incident_attribution == "same_service_latest_before" and same.any():
        # same service first; incidents naming no service fall back to the team's latest
        m = pd.merge_asof(
            probe[same],
            deps_sorted,
            on="at",
            by=["team_id", "service"],
            direction="backward",
            tolerance=tol,
        )
        found = m["pos"].notna().to_numpy()
        hit[m["pos"][found].to_numpy(dtype=np.int64)] = True
        caused[m["row"][found].to_numpy(dtype=np.int64)] = True
        probe = probe[~same]
    if probe.empty:
        return hit, caused
    m = pd.merge_asof(
        probe.drop(columns="service"),
        deps_sorted.drop(columns="service"),
        on="at",
        by="team_id",
        direction="backward",
        tolerance=tol,
    )
    found = m["pos"].notna().to_numpy()
    hit[m["pos"][found].to_numpy(dtype=np.int64)] = True
    caused[m["row"][found].to_numpy(dtype=np.int64)] = True
    return hit, caused


def _naive(ts: pd.Series) -> Array:
    """UTC timestamps as naive ``datetime64[us]`` (tz-aware columns turn into slow objects)."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


#: commits a rebase merge wrote share their committer time (the merge's), give or take this
REBASE_SECONDS = 60


def _commit_graph(c: pd.DataFrame) -> tuple[Array, dict[int, list[int]]]:
    """Each commit's first parent (row, -1 when not in the frame) and the other parents of
    merges, by row. Parents are looked up in the commit's own repository."""
    repo = c["repository_id"].to_numpy(np.int64)
    rows = pd.MultiIndex.from_arrays([repo, c["sha_hash"].to_numpy(np.uint64)])
    p1 = rows.get_indexer(pd.MultiIndex.from_arrays([repo, c["parent_hash"].to_numpy(np.uint64)]))
    extra: dict[int, list[int]] = {}
    more = c["more_parents"].to_numpy(dtype=object)
    for i in np.flatnonzero(pd.notna(more)):
        shas = pd.Series(str(more[i]).split())
        pos = rows.get_indexer(
            pd.MultiIndex.from_arrays(
                [np.full(len(shas), repo[i]), _hash_values(shas).astype(np.uint64)]
            )
        )
        extra[int(i)] = [int(q) for q in pos if q >= 0]
    return p1.astype(np.int64), extra


def _hash_values(values: pd.Series) -> Array:
    """The 64-bit hash ``read.sha_hash`` gives a sha (0 for none)."""
    arr = values.to_numpy(dtype=object)
    missing = pd.isna(arr)
    out = pd.util.hash_array(np.where(missing, "", arr).astype(object), categorize=False)
    out = out.astype(np.uint64)
    out[missing] = 0
    return out


def _mainline(c: pd.DataFrame, p1: Array, extra: dict[int, list[int]]) -> Array:
    """Commits on the first-parent line of each repository's default branch: what the branch
    pointed at over time (a feature branch's commits join it only through a merge)."""
    on_default = c["on_default_branch"].fillna(False).to_numpy(dtype=bool)
    child = np.zeros(len(c), dtype=bool)
    src = on_default & (p1 >= 0)
    child[p1[src]] = True
    for i, qs in extra.items():
        if on_default[i]:
            child[qs] = True
    heads = on_default & ~child
    main = heads.copy()
    p1l = p1.tolist()
    for head in np.flatnonzero(heads & (p1 >= 0)).tolist():
        x = p1l[head]
        while x >= 0 and not main[x]:
            main[x] = True
            x = p1l[x]
    return main & on_default


def _starts(c: pd.DataFrame, pr: pd.DataFrame, p1: Array) -> Array:
    """When each commit's change started: its author time, or for every commit a squash or
    rebase merge put on the branch, its pull request's first commit when that is earlier."""
    authored = _naive(c["authored_at"])
    start = authored.copy()
    pr = pr[(pr["merge_sha_hash"] != 0) & pr["merged_at"].notna() & pr["first_commit_at"].notna()]
    if pr.empty or c.empty:
        return start
    rows = pd.MultiIndex.from_arrays(
        [c["repository_id"].to_numpy(np.int64), c["sha_hash"].to_numpy(np.uint64)]
    )
    at = rows.get_indexer(
        pd.MultiIndex.from_arrays(
            [pr["repository_id"].to_numpy(np.int64), pr["merge_sha_hash"].to_numpy(np.uint64)]
        )
    )
    merge_rows = set(at[at >= 0].tolist())
    is_merge = c["is_merge"].to_numpy(dtype=bool)
    committed = _naive(c["committed_at"])
    first = _naive(pr["first_commit_at"])
    count = pd.to_numeric(pr["commits_count"]).to_numpy(dtype=np.float64, na_value=np.nan)
    p1l = p1.tolist()
    tol = np.timedelta64(REBASE_SECONDS, "s")
    for j, m in enumerate(at.tolist()):
        if m < 0 or is_merge[m]:
            continue  # a merge commit keeps its branch's commits at their own author times
        # the pull request's commits: the merge sha and, for a rebase merge, the commits
        # before it on the first-parent line that the merge wrote at the same time
        left = int(count[j]) if count[j] == count[j] else len(c)
        x = m
        while True:
            start[x] = min(start[x], first[j])
            left -= 1
            nxt = p1l[x]
            if (
                left <= 0
                or nxt < 0
                or is_merge[nxt]
                or nxt in merge_rows
                or abs(committed[nxt] - committed[m]) > tol
            ):
                break
            x = nxt
    return start


def _lead_time(
    frames: Frames, grid: Grid, d: pd.DataFrame, shipping: Array
) -> tuple[tuple[Array, Array], Array]:
    """Median change lead time, each change matched by content to the deployment that shipped
    it: the first shipping deployment whose deployed commit is the change or a descendant.

    A deployment that names no commit is matched by time: it ships what the default branch of
    its repository (else of every repository of its team) held when it started. Returns the
    median and sample, and how many of the changes were matched by time.
    """
    nothing = (np.full((grid.T, grid.K), np.nan), np.zeros((grid.T, grid.K)))
    c = frames.commits
    if c.empty or not shipping.any():
        return nothing, np.zeros((grid.T, grid.K))
    deps = pd.DataFrame(
        {
            "repo": d["repository_id"].to_numpy(dtype=np.float64, na_value=np.nan),
            "team_id": d["team_id"].to_numpy(np.int64),
            "at": _naive(d["started_at"]),
            "done": _naive(d["finished_at"].fillna(d["started_at"])),
            "sha": d["sha_hash"].to_numpy(np.uint64),
        }
    )[shipping].reset_index(drop=True)
    keys = pd.MultiIndex.from_arrays(
        [c["repository_id"].to_numpy(np.int64), c["sha_hash"].to_numpy(np.uint64)]
    )
    graph = frames.commit_graph
    if keys.is_unique and graph.empty:
        parts = [(c, deps, len(c))]
    else:
        # a shared repository (monorepo path rules) gives a commit to several teams: each
        # team's changes ship with its own deployments, through the repository's whole history
        team_c = c["team_id"].to_numpy(np.int64)
        parts = []
        for t in np.unique(team_c):
            mine = c[team_c == t]
            nodes = pd.concat([mine, graph[[col for col in mine.columns if col in graph]]])
            nodes = nodes.drop_duplicates(subset=["repository_id", "sha_hash"], keep="first")
            nodes = nodes.assign(team_id=t).reset_index(drop=True)
            dd = deps[deps["team_id"].to_numpy() == t].reset_index(drop=True)
            parts.append((nodes, dd, len(mine)))
    teams, days, hours, by_time = [], [], [], []
    for cc, dd, own in parts:
        if dd.empty:
            continue
        done, start, matched_by_time, ok = _shipments(cc, dd, frames.pull_requests)
        # only the team's own rows are its changes (the others only link its history), and a
        # change counts when the deployment that shipped it ended at most LOOKBACK_DAYS after
        # its commit: a week's read range holds every such change, so no run counts a change
        # another run of the same week cannot read
        rows = np.flatnonzero(ok)
        waited = done - _naive(cc["committed_at"])[rows]
        keep = (rows < own) & (waited <= np.timedelta64(LOOKBACK_DAYS, "D"))
        done, start, matched_by_time = done[keep], start[keep], matched_by_time[keep]
        ok = np.zeros(len(cc), dtype=bool)
        ok[rows[keep]] = True
        teams.append(cc["team_id"].to_numpy(np.int64)[ok])
        days.append(done)
        hours.append(np.clip(((done - start) / np.timedelta64(1, "h")).astype(np.float64), 0, None))
        by_time.append(matched_by_time)
    if not teams:
        return nothing, np.zeros((grid.T, grid.K))
    t = grid.team_index(pd.Series(np.concatenate(teams)))
    dd_ = grid.day(pd.Series(np.concatenate(days)).dt.tz_localize("UTC"))
    return (
        window_median(grid, t, dd_, np.concatenate(hours)),
        window_sum(grid, t, dd_, np.concatenate(by_time)),
    )


def _shipments(
    c: pd.DataFrame, deps: pd.DataFrame, pull_requests: pd.DataFrame
) -> tuple[Array, Array, Array, Array]:
    """For the changes among ``c`` that shipped: when their deployment ended, when they
    started, whether they were matched by time, and which rows of ``c`` they are."""
    p1, extra = _commit_graph(c)
    main = _mainline(c, p1, extra)
    repo = c["repository_id"].to_numpy(np.int64)
    team_c = c["team_id"].to_numpy(np.int64)
    sha = c["sha_hash"].to_numpy(np.uint64)
    committed = _naive(c["committed_at"])
    # by content: the deployed commit, in the deployment's repository, else in its team's
    named = deps[deps["sha"] != 0]
    by_repo = pd.MultiIndex.from_arrays([repo, sha])
    root = by_repo.get_indexer(
        pd.MultiIndex.from_arrays(
            [np.nan_to_num(named["repo"].to_numpy(), nan=-1).astype(np.int64), named["sha"]]
        )
    )
    team_sha = pd.Series(np.arange(len(c)), index=pd.MultiIndex.from_arrays([team_c, sha]))
    team_sha = team_sha[~team_sha.index.duplicated()]
    in_team = team_sha.reindex(
        pd.MultiIndex.from_arrays([named["team_id"].to_numpy(np.int64), named["sha"]])
    ).to_numpy(dtype=np.float64)
    root = np.where(root >= 0, root, np.nan_to_num(in_team, nan=-1)).astype(np.int64)
    pairs = [
        pd.DataFrame({"dep": named.index.to_numpy(), "root": root, "by_time": False})[root >= 0]
    ]
    # by time: an unnamed deployment ships what the default branch held when it started, i.e.
    # the newest commit of the branch's first-parent line at that time, and everything before
    # a deployment without a repository whose commit is not one of its team's (a shared
    # repository's commit of another team) is matched by time too
    lost = np.zeros(len(deps), dtype=bool)
    lost[named.index.to_numpy()[root < 0]] = True
    unnamed = deps[(deps["sha"] == 0).to_numpy() | (lost & deps["repo"].isna().to_numpy())]
    if len(unnamed) and main.any():
        line = pd.DataFrame(
            {"root": np.flatnonzero(main), "at": committed[main], "repo": repo[main]}
        )
        line["team_id"] = team_c[main]
        line = line.sort_values("at", kind="stable")
        right = unnamed.reset_index().rename(columns={"index": "dep"})
        own = right[right["repo"].notna()][["dep", "at", "repo"]]
        own = own.assign(repo=own["repo"].astype(np.int64))
        # a deployment without a repository: every repository of its team
        team_repos = line[["team_id", "repo"]].drop_duplicates()
        anyrepo = right[right["repo"].isna()][["dep", "at", "team_id"]].merge(
            team_repos, on="team_id"
        )[["dep", "at", "repo"]]
        shipped = pd.concat([own, anyrepo], ignore_index=True).sort_values("at", kind="stable")
        m = pd.merge_asof(
            shipped, line[["root", "at", "repo"]], on="at", by="repo", direction="backward"
        )
        m = m[m["root"].notna()]
        pairs.append(
            pd.DataFrame(
                {
                    "dep": m["dep"].to_numpy(np.int64),
                    "root": m["root"].to_numpy(np.int64),
                    "by_time": True,
                }
            )
        )
        # where the line is broken (commits whose parents are not known, or before the read
        # range), each piece's newest commit goes out with the first deployment after it
        on_line = np.zeros(len(c), dtype=bool)
        has_child = p1[main]
        on_line[has_child[has_child >= 0]] = True
        tips = line[~on_line[line["root"].to_numpy()]]
        for keys, part in (("repo", own), ("team_id", right[right["repo"].isna()])):
            if part.empty:
                continue
            part = part[["dep", "at", keys]].assign(**{keys: part[keys].astype(np.int64)})
            m = pd.merge_asof(
                tips[["root", "at", keys]],
                part.sort_values("at", kind="stable"),
                on="at",
                by=keys,
                direction="forward",
            )
            m = m[m["dep"].notna()]
            pairs.append(
                pd.DataFrame(
                    {
                        "dep": m["dep"].to_numpy(np.int64),
                        "root": m["root"].to_numpy(np.int64),
                        "by_time": True,
                    }
                )
            )
    p = pd.concat(pairs, ignore_index=True)
    p["at"] = deps["at"].to_numpy()[p["dep"].to_numpy(np.int64)]
    p = p.sort_values(["at", "by_time"], kind="stable")
    owner = _first_reach(p["root"].to_numpy(np.int64), p1, extra)
    change = ~c["is_merge"].to_numpy(dtype=bool) & c["on_default_branch"].fillna(False).to_numpy(
        dtype=bool
    )
    ok = change & (owner >= 0)
    k = owner[ok]
    dep_of = p["dep"].to_numpy(np.int64)[k]
    done = deps["done"].to_numpy()[dep_of]
    start = _starts(c, pull_requests, p1)[ok]
    by_time = p["by_time"].to_numpy(dtype=bool)[k]
    return done, start, by_time, ok


def _first_reach(roots: Array, p1: Array, extra: dict[int, list[int]]) -> Array:
    """For every commit, the position in ``roots`` of the first root it is reachable from
    (itself or an ancestor of it), -1 for none: each commit is walked once.

    Roots without a known parent own only themselves: they are settled at once, and only the
    others are walked.
    """
    n = len(p1)
    merges = np.fromiter(extra.keys(), dtype=np.int64, count=len(extra))
    leaf = (p1[roots] < 0) & ~np.isin(roots, merges)
    walk = np.flatnonzero(~leaf).tolist()
    owner = [-1] * n if walk else []
    p1l = p1.tolist() if walk else []
    for k in walk:
        r = int(roots[k])
        if owner[r] >= 0:
            continue
        stack = [r]
        while stack:
            x = stack.pop()
            if owner[x] >= 0:
                continue
            owner[x] = k
            q = p1l[x]
            if q >= 0 and owner[q] < 0:
                stack.append(q)
            more = extra.get(x)
            if more:
                stack.extend(y for y in more if owner[y] < 0)
    out = np.asarray(owner, dtype=np.int64) if walk else np.full(n, -1, dtype=np.int64)
    if leaf.any():
        ks = np.flatnonzero(leaf)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, roots[ks], ks)  # the first (smallest) position of each leaf root
        none = first == np.iinfo(np.int64).max
        out = np.where(out >= 0, np.minimum(out, first), np.where(none, -1, first))
    return out


def _incidents(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    all_inc = frames.issues[frames.issues["is_incident"].to_numpy(dtype=bool)]
    inc = all_inc[all_inc["resolved_at"].notna()]
    hours = ((inc["resolved_at"] - inc["created_at"]).dt.total_seconds() / 3600).to_numpy(
        dtype=np.float64
    )
    return {
        "time_to_restore_hours": window_median(
            grid,
            grid.team_index(inc["team_id"]),
            grid.day(inc["resolved_at"]),
            np.clip(hours, 0, None),
        ),
        "open_incident_age_hours": _open_age(all_inc, grid, presence["tracker"]),
    }


def _open_age(inc: pd.DataFrame, grid: Grid, tracker: Array) -> tuple[Array, Array]:
    """Hours the oldest incident still open at each period's end has been open, and how many
    are open (0 when none is; unknown until the team has an issue tracker)."""
    age = np.zeros((grid.T, grid.K))
    count = np.zeros((grid.T, grid.K))
    team = grid.team_index(inc["team_id"])
    created = _naive(inc["created_at"])
    resolved = _naive(inc["resolved_at"])
    ends = grid.end_ts().dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    for k, end in enumerate(ends):
        is_open = (team >= 0) & (created < end) & (np.isnat(resolved) | (resolved >= end))
        if not is_open.any():
            continue
        hours = (end - created[is_open]) / np.timedelta64(1, "h")
        np.maximum.at(age[:, k], team[is_open], hours.astype(np.float64))
        np.add.at(count[:, k], team[is_open], 1)
    return np.where(tracker, age, np.nan), count


def _sources(frames: Frames, grid: Grid, presence: dict[str, Array]) -> Result:
    kinds = {
        "git": (frames.commits, "committed_at"),
        "ci": (frames.builds, "started_at"),
        "deploy": (frames.deployments, "started_at"),
        "tracker": (frames.issues, "updated_at"),
    }
    out: Result = {}
    integrated = np.zeros((grid.T, grid.K))
    fresh_all = []
    for kind, (frame, col) in kinds.items():
        team = grid.team_index(frame["team_id"])
        day = grid.day(frame[col])
        if kind == "tracker":
            # an issue counts on the day it was created and on the day it last changed (each
            # period sees the ones on or before its end)
            changed = frame[col].notna() & (frame[col] > frame["created_at"])
            team = np.concatenate([grid.team_index(frame["team_id"][changed]), team])
            day = np.concatenate([grid.day(frame[col][changed]), grid.day(frame["created_at"])])
        integrated += window_sum(grid, team, day) > 0
        last = last_day(grid, team, day)
        b = frames.bounds
        if not b.empty:
            mine = b[(b["kind"] == kind) & b["last_before"].notna()]
            before = last_day(grid, grid.team_index(mine["team_id"]), grid.day(mine["last_before"]))
            last = np.fmax(last, before)
        age = grid.P[None, :] - last
        out[f"freshness_{kind}_days"] = (age, np.where(np.isnan(age), 0, 1))
        fresh_all.append(age)
    any_present = np.logical_or.reduce([presence[k] for k in presence])
    out["sources_integrated"] = (np.where(any_present, integrated, np.nan), integrated)
    stacked = np.stack(fresh_all)
    with np.errstate(all="ignore"):
        worst = np.where(
            np.isnan(stacked).all(axis=0),
            np.nan,
            np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0),
        )
    out["max_freshness_days"] = (worst, (~np.isnan(stacked)).sum(axis=0))
    return out
