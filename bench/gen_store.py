"""Generate a large store for the scoring benchmark: 200 teams, 2,000 repositories, 2,000,000
commits, 500,000 builds, 100,000 deployments, 50,000 issues (plus pull requests and tags).

SQLite is filled through sqlite3 ``executemany`` with journaling off; PostgreSQL through COPY.
The schema is created by the project's Alembic migrations. Usage:

    python bench/gen_store.py sqlite:///bench.db
    python bench/gen_store.py postgresql://postgres@127.0.0.1:5432/maturity_bench --create
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import time
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from maturity.store import engine as engine_mod
from maturity.store import migrate

END = pd.Timestamp("2026-11-22 23:59:59", tz="UTC")  # a Sunday: the newest week
SPAN_DAYS = 2 * 365 + 200  # two years of weeks plus the window and look-back before them
SIZES = {
    "teams": 200,
    "repositories": 2_000,
    "commits": 2_000_000,
    "builds": 500_000,
    "deployments": 100_000,
    "issues": 50_000,
    "pull_requests": 100_000,
    "tags": 20_000,
}


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    start = (END - pd.Timedelta(days=SPAN_DAYS)).value // 1000
    us = rng.integers(start, END.value // 1000, size=n)
    return np.sort(us).astype("datetime64[us]")


def _fmt(ts: np.ndarray) -> np.ndarray:
    """Naive UTC text as SQLAlchemy stores it on SQLite (and PostgreSQL's COPY accepts)."""
    return np.char.replace(np.datetime_as_string(ts, unit="us"), "T", " ")


def _sha(ids: np.ndarray) -> list[str]:
    return [f"{i:040x}" for i in ids.tolist()]


def generate(seed: int = 7, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Every table as a frame, columns named as in the store."""
    rng = np.random.default_rng(seed)
    n = {k: max(1, int(v * scale)) if k not in ("teams",) else v for k, v in SIZES.items()}
    n_teams, n_repos = n["teams"], max(n["teams"], n["repositories"])
    teams = pd.DataFrame(
        {
            "id": np.arange(1, n_teams + 1),
            "name": [f"team-{i:03d}" for i in range(1, n_teams + 1)],
            "slug": [f"team-{i:03d}" for i in range(1, n_teams + 1)],
        }
    )
    repo_team = (np.arange(n_repos) % n_teams) + 1
    repos = pd.DataFrame(
        {
            "id": np.arange(1, n_repos + 1),
            "key": [f"git:/srv/repo-{i}" for i in range(1, n_repos + 1)],
            "kind": "git",
            "name": [f"repo-{i}" for i in range(1, n_repos + 1)],
            "location": [f"/srv/repo-{i}" for i in range(1, n_repos + 1)],
            "slug": None,
            "default_branch": "main",
            "team_id": repo_team,
        }
    )
    nc = n["commits"]
    c_repo = rng.integers(1, n_repos + 1, size=nc)
    c_at = _fmt(_times(rng, nc))
    c_ids = np.arange(1, nc + 1)
    c_sha = _sha(c_ids)
    commits = pd.DataFrame(
        {
            "id": c_ids,
            "repository_id": c_repo,
            "sha": c_sha,
            "parents": "",
            "author_hash": rng.integers(0, 5000, size=nc).astype(str),
            "authored_at": c_at,
            "author_tz_offset": 0,
            "committed_at": c_at,
            "committer_tz_offset": 0,
            "is_merge": rng.random(nc) < 0.05,
            "additions": rng.integers(0, 300, size=nc),
            "deletions": rng.integers(0, 200, size=nc),
            "files_changed": rng.integers(1, 20, size=nc),
            "binary_files": 0,
            "test_files": (rng.random(nc) < 0.3).astype(int),
            "ci_files": (rng.random(nc) < 0.03).astype(int),
            "infra_files": (rng.random(nc) < 0.05).astype(int),
            "docs_files": (rng.random(nc) < 0.1).astype(int),
            "issue_keys": np.where(rng.random(nc) < 0.6, "ABC-1", None),
            "subject": "change",
            "on_default_branch": rng.random(nc) < 0.9,
        }
    )
    nb = n["builds"]
    pick = rng.integers(0, nc, size=nb)
    b_repo = c_repo[pick]
    builds = pd.DataFrame(
        {
            "id": np.arange(1, nb + 1),
            "source": "jenkins",
            "scope": [f"job-{r}" for r in b_repo],
            "external_id": np.arange(1, nb + 1).astype(str),
            "team_id": repo_team[b_repo - 1],
            "repository_id": b_repo,
            "job": [f"job-{r}" for r in b_repo],
            "number": np.arange(1, nb + 1),
            "commit_sha": np.array(c_sha, dtype=object)[pick],
            "branch": "main",
            "event": "push",
            "result": rng.choice(["success", "failure", "aborted"], p=[0.85, 0.1, 0.05], size=nb),
            "stage": None,
            "started_at": _fmt(_times(rng, nb)),
            "duration_s": rng.random(nb) * 600,
            "tests_total": np.where(rng.random(nb) < 0.7, rng.integers(1, 500, size=nb), -1),
            "tests_failed": 0,
            "tests_skipped": 0,
            "has_lint": rng.random(nb) < 0.6,
            "parameters": None,
            "url": None,
        }
    )
    builds["tests_total"] = builds["tests_total"].astype("Int64").where(builds["tests_total"] >= 0)
    nd = n["deployments"]
    pick = rng.integers(0, nc, size=nd)
    d_repo = c_repo[pick]
    d_at = _times(rng, nd)
    deps = pd.DataFrame(
        {
            "id": np.arange(1, nd + 1),
            "source": "events",
            "scope": [f"svc-{r}" for r in d_repo],
            "external_id": np.arange(1, nd + 1).astype(str),
            "team_id": repo_team[d_repo - 1],
            "repository_id": d_repo,
            "service": [f"svc-{r}" for r in d_repo],
            "environment": rng.choice(
                ["dev", "qa", "staging", "production"], p=[0.2, 0.2, 0.25, 0.35], size=nd
            ),
            "version": [f"v{v}" for v in rng.integers(1, nd // 3, size=nd)],
            "commit_sha": np.array(c_sha, dtype=object)[pick],
            "started_at": _fmt(d_at),
            "finished_at": _fmt(d_at + np.timedelta64(5, "m")),
            "status": rng.choice(["success", "failure"], p=[0.9, 0.1], size=nd),
            "trigger": rng.choice(["automated", "manual"], p=[0.6, 0.4], size=nd),
            "is_rollback": rng.random(nd) < 0.02,
            "is_hotfix": rng.random(nd) < 0.03,
            "build_ref": None,
            "url": None,
        }
    )
    ni = n["issues"]
    i_at = _times(rng, ni)
    resolved = i_at + rng.integers(60, 86400 * 10, size=ni).astype("timedelta64[s]")
    issues = pd.DataFrame(
        {
            "id": np.arange(1, ni + 1),
            "source": "jira",
            "scope": "ABC",
            "external_id": np.arange(1, ni + 1).astype(str),
            "key": [f"ABC-{i}" for i in range(1, ni + 1)],
            "team_id": rng.integers(1, n_teams + 1, size=ni),
            "title": "",
            "issue_type": "Bug",
            "priority": None,
            "status": "Done",
            "status_category": "done",
            "labels": None,
            "created_at": _fmt(i_at),
            "updated_at": _fmt(resolved),
            "resolved_at": np.where(rng.random(ni) < 0.8, _fmt(resolved), None),
            "is_incident": rng.random(ni) < 0.2,
            "service": None,
            "deployment_ref": None,
            "url": None,
        }
    )
    npr = n["pull_requests"]
    pick = rng.integers(0, nc, size=npr)
    p_merged = _times(rng, npr)
    prs = pd.DataFrame(
        {
            "id": np.arange(1, npr + 1),
            "repository_id": c_repo[pick],
            "number": np.arange(1, npr + 1),
            "external_id": np.arange(1, npr + 1).astype(str),
            "title": "",
            "state": "merged",
            "author_hash": None,
            "base_branch": "main",
            "head_branch": "feature",
            "head_sha": None,
            "merge_commit_sha": np.array(c_sha, dtype=object)[pick],
            "created_at": _fmt(p_merged - np.timedelta64(30, "h")),
            "updated_at": None,
            "first_commit_at": _fmt(p_merged - np.timedelta64(40, "h")),
            "first_review_at": None,
            "approved_at": None,
            "merged_at": _fmt(p_merged),
            "closed_at": _fmt(p_merged),
            "additions": None,
            "deletions": None,
            "commits_count": None,
            "review_count": rng.integers(0, 3, size=npr),
            "approval_count": 0,
        }
    )
    nt = n["tags"]
    pick = rng.integers(0, nc, size=nt)
    tags = pd.DataFrame(
        {
            "id": np.arange(1, nt + 1),
            "repository_id": c_repo[pick],
            "name": [f"v{i}" for i in range(1, nt + 1)],
            "sha": np.array(c_sha, dtype=object)[pick],
            "tagged_at": commits["committed_at"].to_numpy()[pick],
            "is_annotated": True,
            "tagger_hash": None,
            "on_default_branch": True,
        }
    )
    return {
        "teams": teams,
        "repositories": repos,
        "commits": commits,
        "builds": builds,
        "deployments": deps,
        "issues": issues,
        "pull_requests": prs,
        "tags": tags,
    }


def _rows(frame: pd.DataFrame) -> Iterable[tuple[object, ...]]:
    cols = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame]
    return zip(*cols, strict=True)


def load_sqlite(path: str, data: dict[str, pd.DataFrame]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    for name, frame in data.items():
        frame = frame.copy()
        for col in frame.columns:
            if frame[col].dtype == bool:
                frame[col] = frame[col].astype(int)
        cols = ", ".join(frame.columns)
        marks = ", ".join("?" * len(frame.columns))
        conn.executemany(f"INSERT INTO {name} ({cols}) VALUES ({marks})", _rows(frame))
        conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def load_postgres(url: str, data: dict[str, pd.DataFrame]) -> None:
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        for name, frame in data.items():
            buf = io.StringIO()
            frame.to_csv(buf, index=False, header=False, na_rep="\\N")
            cols = ", ".join(frame.columns)
            with conn.cursor() as cur:
                with cur.copy(
                    f"COPY {name} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
                ) as cp:
                    cp.write(buf.getvalue())
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
        conn.commit()
        conn.execute("ANALYZE")


def create_postgres_database(url: str) -> None:
    u = make_url(engine_mod.normalize_url(url))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def drop_postgres_database(url: str) -> None:
    u = make_url(engine_mod.normalize_url(url))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def build_store(url: str, *, scale: float = 1.0, create: bool = False) -> dict[str, float]:
    """Create the schema at ``url`` and fill it; returns timings in seconds."""
    t0 = time.perf_counter()
    data = generate(scale=scale)
    t1 = time.perf_counter()
    if url.startswith("postgresql"):
        if create:
            create_postgres_database(url)
        migrate.upgrade(engine_mod.normalize_url(url))
        load_postgres(url, data)
    else:
        migrate.upgrade(url)
        load_sqlite(make_url(url).database or "", data)
    t2 = time.perf_counter()
    return {"generate_s": t1 - t0, "load_s": t2 - t1, **{k: len(v) for k, v in data.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="sqlite:///path.db or postgresql://.../dbname")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--create", action="store_true", help="(re)create the PG database")
    args = parser.parse_args()
    print(build_store(args.url, scale=args.scale, create=args.create))


if __name__ == "__main__":
    main()
