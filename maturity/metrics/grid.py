"""The inputs and the grid of a computation: the store's rows (:class:`Frames`), teams x
period ends in local days (:class:`Grid`), and the vectorized window helpers every family
uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from maturity.config import EnvironmentsConfig, RulesConfig

Array = np.ndarray

#: per metric: (values[T, K], sample_size[T, K])
Result = dict[str, tuple[Array, Array]]


@dataclass
class Frames:
    """The store's rows a computation needs, as pandas frames (see ``store.inputs.scoring_frames``).

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


def share(num: Array, den: Array) -> tuple[Array, Array]:
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return value, den


def known_count(count: Array, present: Array) -> tuple[Array, Array]:
    return np.where(present, count, np.nan), count


def naive(ts: pd.Series) -> Array:
    """UTC timestamps as naive ``datetime64[us]`` (tz-aware columns turn into slow objects)."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def presence(frames: Frames, grid: Grid) -> dict[str, Array]:
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


#: a family: the metrics it computes from the frames, the grid, presence, rules and environments
Family = Callable[[Frames, Grid, dict[str, Array], RulesConfig, EnvironmentsConfig], Result]
