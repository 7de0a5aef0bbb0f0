"""Reporting and freshness: which kinds of source a team has, and how fresh each is."""

from __future__ import annotations

import numpy as np

from maturity.metrics.catalogue import define
from maturity.metrics.grid import Array, Frames, Grid, Result, last_day, window_sum

SOURCE_KINDS = ("git", "ci", "deploy", "tracker")

define(
    "sources_integrated",
    "kinds",
    "commits builds deployments issues",
    "records of each kind in the window",
    "Kinds of source (git, CI, deployments, issue tracker) with data for the team in the "
    "window. Unknown until the team has any record.",
)

define(
    "freshness_git_days",
    "days",
    "commits",
    "the team's newest commit",
    "Days from the newest commit up to the period end.",
)

define(
    "freshness_ci_days",
    "days",
    "builds",
    "the team's newest build",
    "Days from the newest build up to the period end.",
)

define(
    "freshness_deploy_days",
    "days",
    "deployments",
    "the team's newest deployment",
    "Days from the newest deployment up to the period end.",
)

define(
    "freshness_tracker_days",
    "days",
    "issues",
    "the team's newest issue change",
    "Days from the newest issue created or updated up to the period end.",
)

define(
    "max_freshness_days",
    "days",
    "commits builds deployments issues",
    "the newest record of each kind",
    "The stalest of the team's sources (the largest freshness of the kinds it has).",
)


def sources(frames: Frames, grid: Grid, presence: dict[str, Array]) -> Result:
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
