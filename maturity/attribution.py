"""Monorepos: the parts of a shared repository that are each team's, by path rules.

A repository is *shared* when a team lists it with ``paths`` (globs, see :mod:`maturity.paths`).
Every file a commit changed belongs to the team whose glob matches it best (the longest match);
a team that lists a shared repository without ``paths`` owns what no other glob matches (as if
it had written ``**``). A commit then belongs to every team whose files it changed, with the
share of its lines (added + deleted) that are that team's; a commit that changed none of the
teams' files belongs to nobody. Pull requests follow the commit they were merged as (else their
head commit), tags their commit. Deployments of a shared repository are matched to changes by
the team that owns them (their service), not by the repository that several teams deploy.

Nothing here is stored: attribution is computed when frames are read for scoring, from the
files the git collector recorded (``commit_files``) and the configuration of the moment, so a
rule changed in ``maturity.toml`` re-attributes history at the next ``maturity score``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select, tuple_
from sqlalchemy.orm import Session

from maturity import paths as paths_mod
from maturity.config import Config
from maturity.store import inputs, tables

#: repository id -> (team id, glob) in the order of the configuration file
Rules = dict[int, list[tuple[int, paths_mod.Glob]]]

#: the glob of a team that lists a shared repository without paths: the rest of it
REST = "**"
_IN_CHUNK = 500


def split_repositories(session: Session, config: Config) -> Rules:
    """The shared repositories of the configuration and their path rules, by store ids.

    Teams or repositories not yet in the store (no ``maturity collect`` since they were added)
    are left out: there is nothing of theirs to attribute.
    """
    from maturity import teams as teams_mod  # teams imports this module

    wanted: dict[str, list[tuple[str, list[str]]]] = {}
    for team in config.teams:
        for spec in config.repository_specs(team):
            key = teams_mod.repository_key(config.resolve(spec.location))
            wanted.setdefault(key, []).append((team.name, spec.paths))
    shared = {k: v for k, v in wanted.items() if any(p for _, p in v)}
    if not shared:
        return {}
    repo_ids = dict(
        session.execute(
            select(tables.Repository.key, tables.Repository.id).where(
                tables.Repository.key.in_(list(shared))
            )
        ).all()
    )
    team_ids = dict(session.execute(select(tables.Team.name, tables.Team.id)).all())
    rules: Rules = {}
    for key, listed in shared.items():
        if key not in repo_ids:
            continue
        found: list[tuple[int, paths_mod.Glob]] = []
        for name, globs in listed:
            if name in team_ids:
                for pattern in globs or [REST]:
                    found.append((int(team_ids[name]), paths_mod.compile_glob(pattern)))
        rules[int(repo_ids[key])] = found
    return rules


def owners(rules: Rules, repository_id: int, file_paths: Iterable[str]) -> dict[str, int | None]:
    """The owning team of each path of one shared repository (None: no team's)."""
    listed = rules.get(repository_id, [])
    return {p: paths_mod.owner(p, listed) for p in file_paths}


def commit_teams(
    session: Session,
    rules: Rules,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    commits: Sequence[tuple[int, str]] | None = None,
) -> pd.DataFrame:
    """The teams of the commits of shared repositories: one row per commit and team.

    Commits committed in ``[since, until)``, or the ``(repository id, sha)`` pairs given.

    Returns:
        repository_id, sha, team_id, lines (the team's lines added + deleted), files (the
        team's files) and share (its part of the commit's lines; of its files when the commit
        changed no line, e.g. only binary files).
    """
    columns = ["repository_id", "sha", "team_id", "lines", "files", "share"]
    if not rules:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    F, C = tables.CommitFile, tables.Commit
    base = select(F.repository_id, F.sha, F.path, F.additions + F.deletions)
    parts: list[Any] = []
    if commits is None:
        stmt = base.join(C, and_(C.repository_id == F.repository_id, C.sha == F.sha)).where(
            F.repository_id.in_(list(rules))
        )
        if since is not None:
            stmt = stmt.where(C.committed_at >= since)
        if until is not None:
            stmt = stmt.where(C.committed_at < until)
        parts.extend(session.execute(stmt).all())
    else:
        pairs = sorted({(int(r), s) for r, s in commits if int(r) in rules and s})
        for start in range(0, len(pairs), _IN_CHUNK):
            chunk = pairs[start : start + _IN_CHUNK]
            stmt = base.where(tuple_(F.repository_id, F.sha).in_(chunk))
            parts.extend(session.execute(stmt).all())
    files = pd.DataFrame(parts, columns=["repository_id", "sha", "path", "lines"])
    if files.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    files["repository_id"] = files["repository_id"].astype(np.int64)
    files["lines"] = pd.to_numeric(files["lines"]).fillna(0).astype(np.int64)
    # each distinct path is matched once, not once per commit that changed it
    owner = np.full(len(files), -1, dtype=np.int64)
    for repo, idx in files.groupby("repository_id").groups.items():
        names = files.loc[idx, "path"]
        found = owners(rules, int(repo), names.unique())
        owner[files.index.get_indexer(idx)] = [
            -1 if (t := found[p]) is None else t for p in names.to_numpy()
        ]
    files["team_id"] = owner
    totals = files.groupby(["repository_id", "sha"]).agg(
        all_lines=("lines", "sum"), all_files=("path", "size")
    )
    mine = (
        files[files["team_id"] >= 0]
        .groupby(["repository_id", "sha", "team_id"])
        .agg(lines=("lines", "sum"), files=("path", "size"))
        .reset_index()
        .join(totals, on=["repository_id", "sha"])
    )
    by_lines = mine["all_lines"] > 0
    mine["share"] = np.where(
        by_lines,
        mine["lines"] / mine["all_lines"].where(by_lines, 1),
        mine["files"] / mine["all_files"],
    )
    return mine[columns].reset_index(drop=True)


def apply(
    session: Session,
    frames: dict[str, pd.DataFrame],
    rules: Rules,
    *,
    ranges: Mapping[str, tuple[dt.datetime, dt.datetime | None]],
    team_ids: Sequence[int] | None,
) -> dict[str, pd.DataFrame]:
    """Frames of ``inputs.scoring_frames`` (read with ``shared=rules`` over ``ranges``, per table
    its ``[since, until)``) with the rows of shared repositories given to the teams they belong
    to (see the module's docstring).

    Commits get a ``share`` column (1.0 where a repository is not shared).
    """
    if not rules:
        return frames

    def span(*names: str) -> tuple[dt.datetime, dt.datetime]:
        lows = [ranges[n][0] for n in names]
        highs = [ranges[n][1] for n in names]
        return min(lows), max(h for h in highs if h is not None)

    since, until = span("commits")
    out = dict(frames)
    keep = (lambda t: t.isin(list(team_ids))) if team_ids is not None else (lambda t: t >= 0)
    ct = commit_teams(session, rules, since=since, until=until)
    out["commits"] = _explode(frames["commits"], ct, rules, "sha_hash", keep)
    # every commit of the shared repositories, whoever's: lead time walks their history
    commits = frames["commits"]
    in_shared = commits["repository_id"].isin(list(rules)).to_numpy(dtype=bool)
    out["commit_graph"] = commits[in_shared].reset_index(drop=True)
    tag_rows = session.execute(
        select(tables.Tag.repository_id, tables.Tag.sha).where(
            tables.Tag.repository_id.in_(list(rules))
        )
    ).all()
    out["tags"] = _explode(
        frames["tags"],
        commit_teams(session, rules, commits=[(r, s) for r, s in tag_rows]),
        rules,
        "sha_hash",
        keep,
    ).drop(columns="share")
    out["pull_requests"] = _pull_requests(
        session, frames["pull_requests"], rules, *span("pull_requests"), keep
    )
    owner = _one_owner(session, rules, *span("builds", "deployments"))
    out["builds"] = _owned(frames["builds"], owner, keep)
    deps = _owned(frames["deployments"], owner, keep)
    out["deployments"] = deps
    shared = deps["repository_id"].isin([float(r) for r in rules]).to_numpy(dtype=bool)
    if shared.any():
        # several teams deploy the repository: a change ships with its own team's deployment
        deps = deps.copy()
        deps.loc[shared, "repository_id"] = pd.NA
        out["deployments"] = deps
    out["bounds"] = pd.concat(
        [frames["bounds"], _git_bounds(session, rules, since, until, keep)], ignore_index=True
    )
    return out


def _one_owner(
    session: Session, rules: Rules, since: dt.datetime, until: dt.datetime
) -> dict[int, int]:
    """sha hash -> the one team of a commit of a shared repository that unowned builds or
    deployments in ``[since, until)`` name: the team with the largest share of its lines (the
    team listed first in the file among equal shares)."""
    C = tables.Commit
    pairs: list[tuple[int, str]] = []
    for model in (tables.Build, tables.Deployment):
        named = select(model.commit_sha).where(
            model.team_id.is_(None), model.started_at >= since, model.started_at < until
        )
        pairs.extend(
            (int(r), str(s))
            for r, s in session.execute(
                select(C.repository_id, C.sha).where(
                    C.repository_id.in_(list(rules)), C.sha.in_(named.scalar_subquery())
                )
            ).all()
        )
    found = commit_teams(session, rules, commits=pairs)
    if found.empty:
        return {}
    order = {team: i for listed in rules.values() for i, (team, _) in enumerate(listed)}
    found = found.assign(order=found["team_id"].map(order))
    best = found.sort_values(["share", "order"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates(subset="sha")
    return dict(
        zip(
            inputs.sha_hash(best["sha"]).tolist(),
            best["team_id"].astype(np.int64).tolist(),
            strict=True,
        )
    )


def _owned(frame: pd.DataFrame, owner: dict[int, int], keep: Any) -> pd.DataFrame:
    """Rows read without a team (team SHARED) given to the one team of their commit, or left
    out when their commit is no team's."""
    unowned = (frame["team_id"] == inputs.SHARED).to_numpy(dtype=bool)
    if not unowned.any():
        return frame
    frame = frame.copy()
    team = frame.loc[unowned, "sha_hash"].map(owner).fillna(inputs.SHARED).astype(np.int64)
    frame.loc[unowned, "team_id"] = team.to_numpy()
    gone = unowned & ~keep(frame["team_id"]).to_numpy(dtype=bool)
    return frame[~gone].reset_index(drop=True)


def _explode(
    frame: pd.DataFrame, teams_of: pd.DataFrame, rules: Rules, hash_col: str, keep: Any
) -> pd.DataFrame:
    """Rows of shared repositories replaced by one row per team of their commit."""
    repo = pd.to_numeric(frame["repository_id"]).astype(np.int64)
    shared = repo.isin(list(rules)).to_numpy(dtype=bool)
    rest = frame[~shared].assign(share=1.0)
    part = frame[shared].drop(columns="team_id").assign(repository_id=repo[shared].to_numpy())
    if part.empty or teams_of.empty:
        return _typed(rest, frame)
    owned = pd.DataFrame(
        {
            "repository_id": teams_of["repository_id"].to_numpy(np.int64),
            hash_col: inputs.sha_hash(teams_of["sha"]),
            "team_id": teams_of["team_id"].to_numpy(np.int64),
            "share": teams_of["share"].to_numpy(np.float64),
        }
    )
    joined = part.merge(owned, on=["repository_id", hash_col], how="inner")
    joined = joined[keep(joined["team_id"]).to_numpy(dtype=bool)]
    # one row per commit and team, whatever the rules: never twice for one team
    joined = joined.drop_duplicates(subset=["repository_id", hash_col, "team_id"])
    return _typed(pd.concat([rest, joined[rest.columns]], ignore_index=True), frame)


def _typed(out: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    for col in like.columns:
        if col in out and out[col].dtype != like[col].dtype:
            with contextlib.suppress(TypeError, ValueError):
                out[col] = out[col].astype(like[col].dtype)
    return out.reset_index(drop=True)


def _pull_requests(
    session: Session,
    prs: pd.DataFrame,
    rules: Rules,
    since: dt.datetime,
    until: dt.datetime,
    keep: Any,
) -> pd.DataFrame:
    """Merged pull requests of shared repositories, one row per team of the commit they were
    merged as (else of their head commit)."""
    P = tables.PullRequest
    listed = session.execute(
        select(P.repository_id, P.merge_commit_sha, P.head_sha).where(
            P.repository_id.in_(list(rules)), P.merged_at >= since, P.merged_at < until
        )
    ).all()
    wanted = [(r, s) for r, m, h in listed for s in (m, h) if s]
    ct = commit_teams(session, rules, commits=wanted)
    by_commit: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for r, s, t, share in ct[["repository_id", "sha", "team_id", "share"]].itertuples(index=False):
        by_commit.setdefault((int(r), str(s)), []).append((int(t), float(share)))
    # a pull request's teams, keyed by its repository and merge commit's hash as in the frame
    teams_of = []
    for r, merge_sha, head_sha in listed:
        found = by_commit.get((int(r), merge_sha or "")) or by_commit.get((int(r), head_sha or ""))
        for team, share in found or []:
            teams_of.append((int(r), merge_sha, team, share))
    table = pd.DataFrame(teams_of, columns=["repository_id", "sha", "team_id", "share"])
    repo = pd.to_numeric(prs["repository_id"]).astype(np.int64)
    shared = repo.isin(list(rules)).to_numpy(dtype=bool)
    rest = prs[~shared]
    part = prs[shared].drop(columns="team_id").assign(repository_id=repo[shared].to_numpy())
    if part.empty or table.empty:
        return rest.reset_index(drop=True)
    owned = pd.DataFrame(
        {
            "repository_id": table["repository_id"].to_numpy(np.int64),
            "merge_sha_hash": inputs.sha_hash(table["sha"]),
            "team_id": table["team_id"].to_numpy(np.int64),
        }
    ).drop_duplicates()
    joined = part.merge(owned, on=["repository_id", "merge_sha_hash"], how="inner")
    joined = joined[keep(joined["team_id"]).to_numpy(dtype=bool)]
    return pd.concat([rest, joined[prs.columns]], ignore_index=True)


def _git_bounds(
    session: Session, rules: Rules, since: dt.datetime, until: dt.datetime, keep: Any
) -> pd.DataFrame:
    """Per team, of its part of the shared repositories: the first commit ever and the newest
    before ``since`` (presence and freshness of git, as ``inputs.source_bounds``)."""
    F, C = tables.CommitFile, tables.Commit
    stmt = (
        select(
            F.repository_id,
            F.path,
            func.min(C.committed_at),
            func.max(case((C.committed_at < since, C.committed_at))),
        )
        .join(C, and_(C.repository_id == F.repository_id, C.sha == F.sha))
        .where(F.repository_id.in_(list(rules)), C.committed_at < until)
        .group_by(F.repository_id, F.path)
    )
    rows = session.execute(stmt).all()
    per_team: dict[int, list[Any]] = {}
    by_repo: dict[int, list[tuple[str, Any, Any]]] = {}
    for repo, path, first, last in rows:
        by_repo.setdefault(int(repo), []).append((path, first, last))
    for repo, listed in by_repo.items():
        found = owners(rules, repo, [p for p, _, _ in listed])
        for path, first, last in listed:
            team = found[path]
            if team is None:
                continue
            cur = per_team.setdefault(team, [None, None])
            cur[0] = first if cur[0] is None or (first is not None and first < cur[0]) else cur[0]
            if last is not None and (cur[1] is None or last > cur[1]):
                cur[1] = last
    out = pd.DataFrame(
        [(t, f, lb) for t, (f, lb) in per_team.items()],
        columns=["team_id", "first_at", "last_before"],
    )
    out["kind"] = "git"
    out["team_id"] = out["team_id"].astype(np.int64)
    out = out[keep(out["team_id"]).to_numpy(dtype=bool)]
    for col in ("first_at", "last_before"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[us, UTC]")
    return out.reset_index(drop=True)
