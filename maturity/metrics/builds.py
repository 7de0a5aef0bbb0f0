"""Build and test: CI builds, their results, test reports and linting."""

from __future__ import annotations

from maturity.metrics.catalogue import define
from maturity.metrics.grid import Array, Frames, Grid, Result, known_count, share, window_sum

SUCCESS_RESULTS = frozenset({"success", "succeeded", "passed", "stable", "ok", "fixed"})
FAILURE_RESULTS = frozenset(
    {"failure", "failed", "unstable", "error", "broken", "timed_out", "timedout", "startup_failure"}
)

define(
    "builds",
    "builds",
    "builds",
    "builds started in the window",
    "CI builds started in the window.",
)

define(
    "build_success_rate",
    "share",
    "builds",
    "finished builds started in the window",
    "Share of finished builds (success or failure; aborted and running builds excluded) "
    "that succeeded.",
)

define(
    "test_reporting_share",
    "share",
    "builds",
    "builds started in the window",
    "Share of builds that published test results (a test count was recorded).",
)

define(
    "lint_share",
    "share",
    "builds",
    "builds started in the window",
    "Share of builds that ran a linter or coding-standards step.",
)


def builds(frames: Frames, grid: Grid, presence: dict[str, Array], *_: object) -> Result:
    b = frames.builds
    team = grid.team_index(b["team_id"])
    day = grid.day(b["started_at"])
    result = b["result"].fillna("").str.lower()
    success = result.isin(SUCCESS_RESULTS).to_numpy()
    finished = success | result.isin(FAILURE_RESULTS).to_numpy()
    total = window_sum(grid, team, day)
    return {
        "builds": known_count(total, presence["ci"]),
        "build_success_rate": share(
            window_sum(grid, team, day, success), window_sum(grid, team, day, finished)
        ),
        "test_reporting_share": share(
            window_sum(grid, team, day, b["tests_total"].notna().to_numpy()), total
        ),
        "lint_share": share(
            window_sum(grid, team, day, b["has_lint"].fillna(False).to_numpy(dtype=bool)), total
        ),
    }
