"""Incidents: time to restore and the age of the incidents still open."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maturity.metrics.catalogue import define
from maturity.metrics.grid import Array, Frames, Grid, Result, naive, window_median

define(
    "time_to_restore_hours",
    "hours",
    "issues",
    "incidents resolved in the window",
    "Median hours from an incident's creation to its resolution, over incidents resolved "
    "in the window.",
    dora=True,
)

define(
    "open_incident_age_hours",
    "hours",
    "issues",
    "incidents created before the period's end and not resolved by then",
    "Hours the oldest incident still open at the period's end has been open (0 when none "
    "is); the sample size is how many are open.",
)


def incidents(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
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
    created = naive(inc["created_at"])
    resolved = naive(inc["resolved_at"])
    ends = grid.end_ts().dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    for k, end in enumerate(ends):
        is_open = (team >= 0) & (created < end) & (np.isnat(resolved) | (resolved >= end))
        if not is_open.any():
            continue
        hours = (end - created[is_open]) / np.timedelta64(1, "h")
        np.maximum.at(age[:, k], team[is_open], hours.astype(np.float64))
        np.add.at(count[:, k], team[is_open], 1)
    return np.where(tracker, age, np.nan), count
