"""Lead time by content on hand-built frames: which commits a rebase merge wrote, and the
commit graph the matching walks (hours computed by hand in the comments)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from maturity import metrics
from tests import history as h

WEEK_A = dt.date(2026, 11, 1)  # Sunday
WEEK_B = dt.date(2026, 11, 8)  # Sunday


def lead(f: metrics.Frames, week: dt.date) -> tuple[float, int]:
    out = metrics.compute(f, [WEEK_A, WEEK_B], window_days=7)
    row = out[(out["metric"] == "lead_time_hours") & (out["period_end"] == week)]
    value = float(row["value"].iloc[0])
    return (round(value, 6) if value == value else value), int(row["sample_size"].iloc[0])


def chain(*specs: tuple[str, dt.datetime, dt.datetime]) -> list[dict[str, object]]:
    """Commits (label, authored, committed), each the first parent of the next."""
    rows, parent = [], ""
    for label, authored, committed in specs:
        rows.append(
            h.commit(sha=h.sha(label), authored_at=authored, committed_at=committed, parents=parent)
        )
        parent = h.sha(label)
    return rows


def test_a_rebase_merge_stops_at_a_commit_written_at_another_time() -> None:
    rebased = h.at("2026-11-02", 9)
    f = h.frames(
        commits=chain(
            ("base", h.at("2026-11-01", 20), h.at("2026-11-01", 20)),
            ("r1", h.at("2026-10-31", 10), rebased),
            ("r2", h.at("2026-10-31", 12), rebased),
        ),
        pull_requests=[
            h.pull_request(
                first_commit_at=h.at("2026-10-31", 10),
                merged_at=rebased,
                merge_commit_sha=h.sha("r2"),
            )
        ],
        deployments=[
            h.deployment(when=h.at("2026-11-01", 21), commit_sha=h.sha("base")),
            h.deployment(when=h.at("2026-11-02", 10), commit_sha=h.sha("r2")),
        ],
    )
    # base: Sunday 20:00 -> 21:00 = 1 h, in week A (not the pull request's: written earlier)
    assert lead(f, WEEK_A) == (1.0, 1)
    # r1, r2: Saturday 10:00 -> Monday 10:00 = 48 h each
    assert lead(f, WEEK_B) == (48.0, 2)


def test_a_rebase_merge_takes_as_many_commits_as_its_pull_request_has() -> None:
    rebased = h.at("2026-11-02", 9)
    f = h.frames(
        commits=chain(
            ("r1", h.at("2026-11-01", 22), rebased),
            ("r2", h.at("2026-11-02", 1), rebased),
            ("r3", h.at("2026-11-02", 2), rebased),
        ),
        pull_requests=[
            h.pull_request(
                first_commit_at=h.at("2026-11-01", 10),
                merged_at=rebased,
                merge_commit_sha=h.sha("r3"),
                commits_count=2,
            )
        ],
        deployments=[h.deployment(when=h.at("2026-11-02", 10), commit_sha=h.sha("r3"))],
    )
    # r3 and r2 are the pull request's two: Sunday 10:00 -> Monday 10:00 = 24 h each; r1 (the
    # same second, another change) keeps its own author time: Sunday 22:00 -> 12 h.
    # Median of 12, 24, 24 = 24
    assert lead(f, WEEK_B) == (24.0, 3)
    f.pull_requests["commits_count"] = 3
    # all three from Sunday 10:00: 24 h
    assert lead(f, WEEK_B) == (24.0, 3)
    f.pull_requests["commits_count"] = 1
    # r3 24 h; r2 Monday 01:00 -> 9 h; r1 12 h: median 12
    assert lead(f, WEEK_B) == (12.0, 3)


def test_a_rebase_merge_stops_at_another_pull_requests_merge() -> None:
    same = h.at("2026-11-02", 9)
    f = h.frames(
        commits=chain(
            ("s1", h.at("2026-11-02", 9), same),  # a squash merge of another pull request
            ("r1", h.at("2026-11-02", 3), same),
        ),
        pull_requests=[
            h.pull_request(
                first_commit_at=h.at("2026-11-02", 5),
                merged_at=same,
                merge_commit_sha=h.sha("s1"),
            ),
            h.pull_request(
                first_commit_at=h.at("2026-11-01", 10),
                merged_at=same,
                merge_commit_sha=h.sha("r1"),
            ),
        ],
        deployments=[h.deployment(when=h.at("2026-11-02", 10), commit_sha=h.sha("r1"))],
    )
    # r1: Sunday 10:00 -> Monday 10:00 = 24 h; s1 keeps its own pull request's start, Monday
    # 05:00 -> 10:00 = 5 h (not r1's 24 h). Median of 5, 24 = 14.5
    assert lead(f, WEEK_B) == (14.5, 2)


def test_a_deployment_of_an_unknown_commit_of_its_repository_ships_nothing() -> None:
    f = h.frames(
        commits=[h.commit(when=h.at("2026-11-02", 8))],
        deployments=[
            h.deployment(when=h.at("2026-11-02", 9), commit_sha=h.sha("elsewhere"), repository_id=1)
        ],
    )
    # named a commit its repository does not hold: no time fallback
    value, n = lead(f, WEEK_B)
    assert pd.isna(value) and n == 0
    # without a repository (a shared repository's deployment, whose commit is another
    # team's), it is matched by time: 08:00 -> 09:00 = 1 h, counted apart
    f.deployments["repository_id"] = pd.array([pd.NA], dtype="Float64")
    assert lead(f, WEEK_B) == (1.0, 1)
    out = metrics.compute(f, [WEEK_B], window_days=7)
    assert out[out["metric"] == "lead_time_matched_by_time"]["value"].tolist() == [1.0]


def test_first_reach_gives_each_commit_the_earliest_root_containing_it() -> None:
    # commits 0 <- 1 <- 2 (first parents); 3 has no parent; 4 merges 3 into 2
    p1 = np.array([-1, 0, 1, -1, 2])
    extra = {4: [3]}
    # roots in order: the leaf 0 first, then the merge 4, then the leaf 3 again
    owner = metrics._first_reach(np.array([0, 4, 3]), p1, extra)
    assert owner.tolist() == [0, 1, 1, 1, 1]
    # the merge first: it contains everything
    owner = metrics._first_reach(np.array([4, 0]), p1, extra)
    assert owner.tolist() == [0, 0, 0, 0, 0]
    # commit 1 alone owns 0 and 1; nothing reaches 2, 3, 4
    owner = metrics._first_reach(np.array([1]), p1, extra)
    assert owner.tolist() == [0, 0, -1, -1, -1]


def test_unnamed_deployments_ship_what_the_default_branch_held_when_they_started() -> None:
    f = h.frames(
        commits=chain(
            ("c1", h.at("2026-11-02", 8), h.at("2026-11-02", 8)),
            ("c2", h.at("2026-11-02", 12), h.at("2026-11-02", 12)),
            ("c3", h.at("2026-11-02", 14), h.at("2026-11-02", 14)),
        ),
        deployments=[
            h.deployment(when=h.at("2026-11-02", 10)),
            h.deployment(when=h.at("2026-11-02", 16)),
        ],
    )
    # c1: 08:00 -> 10:00 = 2 h; c2: 12:00 -> 16:00 = 4 h; c3: 14:00 -> 16:00 = 2 h: median 2
    assert lead(f, WEEK_B) == (2.0, 3)
    # the same history without its parents (every commit its own line): the same shipments
    for row in f.commits.itertuples():
        assert row.parent_hash != 0 or row.Index == 0
    f.commits["parent_hash"] = np.uint64(0)
    assert lead(f, WEEK_B) == (2.0, 3)
