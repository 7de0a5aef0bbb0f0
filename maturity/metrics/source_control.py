"""Source control: commits, the default branch, pull requests and tags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maturity.metrics.builds import SUCCESS_RESULTS
from maturity.metrics.catalogue import HOUR, Need, define
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

#: a tag counts as automated when a successful CI build of its commit started this long before
TAG_AFTER_BUILD = pd.Timedelta(hours=24)

#: a default-branch commit counts as built (CI coverage) by a build of its sha started at most
#: this long before or after the commit
CI_MATCH = pd.Timedelta(days=7)

define(
    "commits",
    "commits",
    "commits",
    "commits committed in the window",
    "Commits committed in the window in the team's repositories.",
)

define(
    "active_repositories",
    "repositories",
    "commits",
    "repositories with a commit in the window",
    "Repositories of the team with at least one commit in the window.",
)

define(
    "integration_days_per_week",
    "days per week",
    "commits",
    "default-branch commits committed in the window",
    "Days on which the default branch received a commit, per week of the window.",
)

define(
    "ci_coverage",
    "share",
    "commits builds",
    "default-branch commits committed in the window, and builds with the same sha",
    "Share of default-branch commits that some CI build ran on (matched by sha) at "
    "most 7 days before or after the commit.",
    needs=(Need("builds", before=CI_MATCH / HOUR, after=CI_MATCH / HOUR),),
)

define(
    "test_change_share",
    "share",
    "commits",
    "non-merge commits committed in the window",
    "Share of non-merge commits that change at least one test file.",
)

define(
    "infra_change_share",
    "share",
    "commits",
    "non-merge commits committed in the window",
    "Share of non-merge commits that change infrastructure code.",
)

define(
    "ci_change_share",
    "share",
    "commits",
    "non-merge commits committed in the window",
    "Share of non-merge commits that change CI or deployment definitions.",
)

define(
    "docs_change_share",
    "share",
    "commits",
    "non-merge commits committed in the window",
    "Share of non-merge commits that change documentation.",
)

define(
    "issue_key_share",
    "share",
    "commits",
    "non-merge commits committed in the window",
    "Share of non-merge commits whose message names an issue key.",
)


def git(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    c = frames.commits
    team = grid.team_index(c["team_id"])
    day = grid.day(c["committed_at"])
    git = presence["git"]
    out: Result = {"commits": known_count(window_sum(grid, team, day), git)}
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
    out["active_repositories"] = known_count(per_team, git)
    non_merge = ~c["is_merge"].to_numpy(dtype=bool)
    den = window_sum(grid, team, day, non_merge)
    for metric, col in (
        ("test_change_share", "test_files"),
        ("infra_change_share", "infra_files"),
        ("ci_change_share", "ci_files"),
        ("docs_change_share", "docs_files"),
    ):
        out[metric] = share(window_sum(grid, team, day, non_merge & (c[col].to_numpy() > 0)), den)
    out["issue_key_share"] = share(
        window_sum(grid, team, day, non_merge & c["has_issue_key"].to_numpy(dtype=bool)), den
    )
    on_default = c["on_default_branch"].fillna(False).to_numpy(dtype=bool)
    # integration days: distinct (team, day) with a default-branch commit
    td = pd.DataFrame({"t": team[on_default], "d": day[on_default]}).drop_duplicates()
    days = window_sum(grid, td["t"].to_numpy(), td["d"].to_numpy())
    out["integration_days_per_week"] = (np.where(git, days / (grid.window_days / 7), np.nan), days)
    built = on_default & _built(frames, c)
    out["ci_coverage"] = share(
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
        {"pos": np.flatnonzero(out), "sha_hash": sha[out], "at": naive(c["committed_at"])[out]}
    ).sort_values("at", kind="stable")
    builds = pd.DataFrame(
        {"sha_hash": b["sha_hash"].to_numpy(), "at": naive(b["started_at"]), "hit": True}
    ).sort_values("at", kind="stable")
    m = pd.merge_asof(
        probe, builds, on="at", by="sha_hash", direction="nearest", tolerance=CI_MATCH
    )
    out[:] = False
    out[m["pos"].to_numpy()[m["hit"].notna().to_numpy()]] = True
    return out


define(
    "review_rate",
    "share",
    "pull_requests",
    "pull requests merged in the window",
    "Share of merged pull requests with at least one review or approval.",
)

define(
    "pr_lifetime_hours",
    "hours",
    "pull_requests",
    "pull requests merged in the window",
    "Median hours from a merged pull request's first commit (else creation) to its merge.",
)


def reviews(frames: Frames, grid: Grid, *_: object) -> Result:
    pr = frames.pull_requests
    merged = pr[pr["merged_at"].notna()]
    team = grid.team_index(merged["team_id"])
    day = grid.day(merged["merged_at"])
    reviewed = merged["reviewed"].to_numpy(dtype=bool)
    start = merged["first_commit_at"].fillna(merged["created_at"])
    hours = ((merged["merged_at"] - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64)
    hours = np.where(hours < 0, 0.0, hours)
    return {
        "review_rate": share(window_sum(grid, team, day, reviewed), window_sum(grid, team, day)),
        "pr_lifetime_hours": window_median(grid, team, day, hours),
    }


define(
    "default_branch_tags",
    "tags",
    "tags",
    "tags on the default branch created in the window",
    "Tags on the default branch created in the window (lightweight: dated by its commit).",
)

define(
    "automated_tag_share",
    "share",
    "tags builds",
    "tags on the default branch created in the window, and builds of their commits",
    "Share of default-branch tags whose commit had a successful CI build started at "
    "most 24 hours before the tag.",
    needs=(Need("builds", before=TAG_AFTER_BUILD / HOUR),),
)


def tags(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
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
        "default_branch_tags": known_count(count, presence["git"]),
        "automated_tag_share": share(window_sum(grid, team, day, automated), count),
    }
