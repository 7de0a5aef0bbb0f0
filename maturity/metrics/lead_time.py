"""Lead time for changes: each change matched by content (else by time) to the production
deployment that shipped it, through the commit graph."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maturity.metrics.catalogue import HOUR, Need, define
from maturity.metrics.grid import Array, Frames, Grid, naive, window_median, window_sum

#: a change counts in lead time when the deployment that shipped it ended at most this long
#: after its commit; a production deployment counts as promoted (staged) when its version went
#: to pre-production at most this long before
LOOKBACK_DAYS = 90

#: the look-back in hours (the needs of the catalogue are in hours)
LOOKBACK_HOURS = LOOKBACK_DAYS * 24.0

#: pull requests are read this much further back than the commits of lead time (a merge commit
#: may be committed a little after its pull request's recorded merge)
PR_MERGE_SLACK = pd.Timedelta(days=1)

#: commits a rebase merge wrote share their committer time (the merge's), give or take this
REBASE_SECONDS = 60

define(
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
        Need("commits", before=LOOKBACK_HOURS),
        Need("deployments", before=LOOKBACK_HOURS),
        Need("pull_requests", before=LOOKBACK_HOURS + PR_MERGE_SLACK / HOUR),
    ),
)

define(
    "lead_time_matched_by_time",
    "changes",
    "commits deployments",
    "changes deployed in the window by a deployment that named no commit",
    "Of the changes behind the lead time, those matched by time (the deployment named no "
    "commit, so it shipped what its repository's default branch held when it started).",
)

#: metric -> the metric counting the values of its sample that were matched by time (a
#: deployment that named no commit): the evidence shows it beside the sample
COUNTED_APART: dict[str, str] = {"lead_time_hours": "lead_time_matched_by_time"}


def lead_time(
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
            "at": naive(d["started_at"]),
            "done": naive(d["finished_at"].fillna(d["started_at"])),
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
        waited = done - naive(cc["committed_at"])[rows]
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
    committed = naive(c["committed_at"])
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
    """The 64-bit hash ``store.inputs.sha_hash`` gives a sha (0 for none)."""
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
    authored = naive(c["authored_at"])
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
    committed = naive(c["committed_at"])
    first = naive(pr["first_commit_at"])
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
