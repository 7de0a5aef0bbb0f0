"""Delivery: deployments and their environments, promotion, rework, change failure and
failed deployment recovery (lead time is matched in :mod:`maturity.metrics.lead_time`)."""

from __future__ import annotations

import fnmatch

import numpy as np
import pandas as pd

from maturity.config import EnvironmentsConfig, RulesConfig
from maturity.metrics.catalogue import Need, define
from maturity.metrics.grid import (
    Array,
    Frames,
    Grid,
    Result,
    known_count,
    naive,
    share,
    window_median,
    window_sum,
)
from maturity.metrics.lead_time import LOOKBACK_DAYS, LOOKBACK_HOURS, lead_time

DEPLOY_SUCCESS = frozenset({"success", "succeeded", "ok", "deployed", "done", "completed"})
DEPLOY_FAILURE = frozenset({"failure", "failed", "error", "rolled_back", "rolledback"})

#: the ``[rules]`` setting (hours) that bounds incident attribution, read by change failure
_ATTRIBUTION = "incident_attribution_hours"


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


define(
    "deployment_frequency",
    "per week",
    "deployments",
    "successful deployments to a production environment, started in the window",
    "Successful production deployments per week (count in the window / window weeks). "
    "Unknown until the team has any deployment record.",
    dora=True,
)

define(
    "environments_deployed",
    "tiers",
    "deployments",
    "deployments started in the window",
    "Promotion tiers (development, qa, staging, production) deployed to in the window.",
)

define(
    "qa_deployments",
    "deployments",
    "deployments",
    "deployments to a qa environment started in the window",
    "Deployments to an environment of the qa tier.",
)

define(
    "staging_deployments",
    "deployments",
    "deployments",
    "deployments to a staging environment started in the window",
    "Deployments to an environment of the staging tier.",
)

define(
    "production_deployments",
    "deployments",
    "deployments",
    "deployments to a production environment started in the window",
    "Deployments (any status) to an environment of the production tier.",
)

define(
    "staged_production_share",
    "share",
    "deployments",
    "successful production deployments in the window, and earlier staging deployments",
    "Share of successful production deployments whose version (else commit) was "
    "successfully deployed to staging at most 90 days before.",
    needs=(Need("deployments", before=LOOKBACK_HOURS),),
)

define(
    "promoted_version_share",
    "share",
    "deployments",
    "successful production deployments in the window, and earlier pre-production ones",
    "Share of successful production deployments whose version (else commit) was deployed "
    "to any pre-production environment (development, qa, staging) at most 90 days "
    "before.",
    needs=(Need("deployments", before=LOOKBACK_HOURS),),
)

define(
    "versioned_deployment_share",
    "share",
    "deployments",
    "deployments started in the window",
    "Share of deployments that name the version they shipped.",
)

define(
    "automated_deployment_share",
    "share",
    "deployments",
    "deployments started in the window with a known trigger",
    "Share of deployments triggered by automation (of those whose trigger is known).",
)

define(
    "automated_production_share",
    "share",
    "deployments",
    "production deployments started in the window with a known trigger",
    "Share of production deployments triggered by automation.",
)

define(
    "rework_rate",
    "share",
    "deployments issues",
    "production deployments started in the window flagged hotfix or rollback, or made "
    "while an incident of their service was open",
    "Share of production deployments that were unplanned fixes of a problem in "
    "production (DORA 2024): flagged hotfix or rollback, or started while an incident of "
    "their service was open.",
)


def deployments(
    frames: Frames,
    grid: Grid,
    presence: dict[str, Array],
    rules: RulesConfig,
    envs: EnvironmentsConfig,
) -> Result:
    """The deployments family: the metrics defined above, change failure and failed deployment
    recovery (defined below), and lead time (:mod:`maturity.metrics.lead_time`)."""
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
    out["production_deployments"] = known_count(window_sum(grid, team, day, prod), dep)
    out["qa_deployments"] = known_count(window_sum(grid, team, day, tier_ == "qa"), dep)
    out["staging_deployments"] = known_count(window_sum(grid, team, day, tier_ == "staging"), dep)
    tiers_seen = sum(
        (window_sum(grid, team, day, tier_ == t) > 0).astype(float)
        for t in ("development", "qa", "staging", "production")
    )
    out["environments_deployed"] = known_count(np.asarray(tiers_seen), dep)
    all_n = window_sum(grid, team, day)
    out["versioned_deployment_share"] = share(
        window_sum(grid, team, day, d["version"].notna().to_numpy()), all_n
    )
    trig = d["trigger"].fillna("").str.lower().to_numpy()
    known = trig != ""
    auto = trig == "automated"
    out["automated_deployment_share"] = share(
        window_sum(grid, team, day, auto), window_sum(grid, team, day, known)
    )
    out["automated_production_share"] = share(
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
            "at": naive(d["started_at"]),
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
        out[metric] = share(window_sum(grid, team, day, went), n_prod_ok)
    # rework (DORA 2024): unplanned deployments made to fix a problem in production, among
    # production deployments that finished either way
    attempted = prod & (success | failed)
    rework = (
        d["is_hotfix"].to_numpy(dtype=bool)
        | d["is_rollback"].to_numpy(dtype=bool)
        | _during_incident(frames, d)
    )
    out["rework_rate"] = share(
        window_sum(grid, team, day, attempted & rework), window_sum(grid, team, day, attempted)
    )
    changes = attempted & ~d["is_rollback"].to_numpy(dtype=bool)
    incident_hit, cause_at = _incident_attributed(frames, d, changes, rules)
    out["change_failure_rate"] = _change_failure(
        grid, d, team, day, prod, success, failed, rules, incident_hit
    )
    out["failed_deployment_recovery_hours"] = _recovery(frames, grid, cause_at)
    shipping = prod & success & ~d["is_rollback"].to_numpy(dtype=bool)
    mapped = _with_repositories(frames, d, rules)
    lead, by_time = lead_time(frames, grid, mapped, shipping[mapped["row"].to_numpy(np.int64)])
    out["lead_time_hours"] = lead
    out["lead_time_matched_by_time"] = known_count(by_time, presence["deploy"])
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
            "at": naive(d["started_at"]),
        }
    )
    opened = pd.DataFrame(
        {
            "team_id": inc["team_id"].to_numpy(np.int64),
            "service": inc["service"].fillna("").to_numpy(),
            "opened": naive(inc["created_at"]),
            "closed": naive(inc["resolved_at"]),
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


define(
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
    return share(window_sum(grid, team, day, bad & changes), window_sum(grid, team, day, changes))


def _incident_attributed(
    frames: Frames, d: pd.DataFrame, changes: Array, rules: RulesConfig
) -> tuple[Array, Array]:
    """Deployments an incident is attributed to, by the configured rule and window.

    Returns the deployments hit and, per row of ``frames.issues``, when the latest deployment
    that incident was attributed to started (NaT: caused by none).
    """
    hit = np.zeros(len(d), dtype=bool)
    issues = frames.issues
    cause_at = np.full(len(issues), np.datetime64("NaT"), dtype="datetime64[us]")
    is_inc = issues["is_incident"].to_numpy(dtype=bool)
    if not is_inc.any() or not changes.any():
        return hit, cause_at
    deps = pd.DataFrame(
        {
            "pos": np.arange(len(d)),
            "team_id": d["team_id"].to_numpy(np.int64),
            "service": d["service"].fillna("").to_numpy(),
            "at": naive(d["started_at"]),
            "dep_at": naive(d["started_at"]),
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
            "at": naive(issues["created_at"]),
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
            _latest(cause_at, m["row"].to_numpy(np.int64), m["dep_at"].to_numpy("datetime64[us]"))
    rest = inc[inc["ref"].isna()]
    if rest.empty:
        return hit, cause_at
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
        _latest(cause_at, m["row"][found].to_numpy(np.int64), _times(m["dep_at"][found]))
        probe = probe[~same]
    if probe.empty:
        return hit, cause_at
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
    _latest(cause_at, m["row"][found].to_numpy(np.int64), _times(m["dep_at"][found]))
    return hit, cause_at


def _times(values: pd.Series) -> Array:
    return values.to_numpy(dtype="datetime64[us]")


def _latest(cause_at: Array, rows: Array, at: Array) -> None:
    """``cause_at[row] = max(cause_at[row], at)`` for every pair (NaT counts as earliest)."""
    np.fmax.at(cause_at, rows, at)


define(
    "failed_deployment_recovery_hours",
    "hours",
    "issues deployments",
    "incidents resolved in the window that were attributed to a production deployment "
    f"started at most {LOOKBACK_DAYS} days before them",
    "Failed deployment recovery time (DORA 2024): median hours from creation to "
    "resolution of the incidents caused by a deployment, over those resolved in the "
    f"window at most {LOOKBACK_DAYS} days after their creation.",
    dora=True,
    # an incident resolved in the window was created at most LOOKBACK_DAYS before it, by a
    # deployment at most LOOKBACK_DAYS before that
    needs=(Need("deployments", before=2 * LOOKBACK_HOURS),),
)

#: how far back a cause, and before it an incident, may lie for the recovery time
_RECOVERY_BOUND = np.timedelta64(LOOKBACK_DAYS, "D")


def _recovery(frames: Frames, grid: Grid, cause_at: Array) -> tuple[Array, Array]:
    """Median hours from creation to resolution of incidents caused by a deployment.

    Bounded, so that a week's value never depends on how far back its run read: an incident
    counts when resolved at most ``LOOKBACK_DAYS`` after its creation, and caused by a
    deployment that started at most ``LOOKBACK_DAYS`` before it (an explicit reference may
    name an older one; such an incident is left out, whatever the run read).
    """
    inc = frames.issues
    created = naive(inc["created_at"])
    resolved = naive(inc["resolved_at"])
    with np.errstate(invalid="ignore"):
        keep = (
            ~np.isnat(cause_at)
            & ~np.isnat(resolved)
            & (created - cause_at <= _RECOVERY_BOUND)
            & (resolved - created <= _RECOVERY_BOUND)
        )
    inc = inc[keep]
    hours = ((inc["resolved_at"] - inc["created_at"]).dt.total_seconds() / 3600).to_numpy(
        dtype=np.float64
    )
    return window_median(
        grid, grid.team_index(inc["team_id"]), grid.day(inc["resolved_at"]), np.clip(hours, 0, None)
    )
