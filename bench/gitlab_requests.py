"""Requests the GitLab collector spends, against the minimum, on a large local project.

The local server (tests/servers/gitlab.py, in its own process) holds one project with merge
requests (one approval and two commits each, four in five merged), default-branch commits,
pipelines (three or two jobs each, two in three with a JUnit report), deployments and issues.
A first collection and a second, unchanged one are run; for each, the requests by endpoint
against the minimum: items / page size (100) for every list, and, for what GitLab has no list
of, one request per item (approvals of each merge request, commits of each merged one, the test
report summary of each pipeline that has one).

    PYTHONPATH=. .venv/bin/python bench/gitlab_requests.py [--merge-requests N] [--pipelines N]
        [--commits N] [--deployments N] [--issues N] [--store-url postgresql://...]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import collectors.gitlab as gitlab_collector
from collectors.base import CollectContext
from maturity import config as config_mod
from maturity import teams, wiring
from maturity.store import engine, migrate
from maturity.store.engine import session_scope
from tests.servers.gitlab import GitLabServer, RateLimit

TOKEN = "bench-token"
PAGE = 100  # the largest page GitLab serves
PROJECT = "acme/payments/api"


def group(counts: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for path, n in counts.items():
        tail = path.removeprefix(f"/projects/{PROJECT}")
        if tail.endswith("/approvals"):
            out["merge request approvals"] += n
        elif tail.startswith("/merge_requests/") and tail.endswith("/commits"):
            out["merge request commits"] += n
        elif tail.endswith("/test_report_summary"):
            out["test report summaries"] += n
        else:
            out[tail.strip("/") or "project"] += n
    return dict(sorted(out.items()))


def serve(conn: Connection, sizes: dict[str, int]) -> None:
    """The server in its own process, so that its JSON rendering does not share our GIL."""
    with GitLabServer(token=TOKEN) as server:
        server.rate = RateLimit(limit=10**9, remaining=10**9)
        server.add_project(PROJECT).populate(**sizes)
        conn.send(server.url)
        while True:
            command = conn.recv()
            if command == "reset":
                server.reset_counts()
                conn.send(None)
            elif command == "counts":
                conn.send(Counter(server.counts))
            else:
                conn.send(None)
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merge-requests", type=int, default=1_000)
    parser.add_argument("--pipelines", type=int, default=5_000)
    parser.add_argument("--commits", type=int, default=2_000)
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--issues", type=int, default=2_000)
    parser.add_argument("--store-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    sizes = {
        "merge_requests": args.merge_requests,
        "pipelines": args.pipelines,
        "commits": args.commits,
        "deployments": args.deployments,
        "issues": args.issues,
    }

    tmp = tempfile.mkdtemp(prefix="bench-gitlab-")
    url = args.store_url or f"sqlite:///{tmp}/maturity.db"
    migrate.upgrade(url)
    eng = engine.make_engine(url)
    sessions = engine.make_sessionmaker(eng)
    os.environ["GITLAB_TOKEN"] = TOKEN
    conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve, args=(child_conn, sizes))
    child.start()
    server_url = conn.recv()
    try:
        cfg = config_mod.parse(
            f"""
[sources.gitlab]
url = "{server_url}"
page_size = {PAGE}
[[teams]]
name = "payments"
gitlab = ["{PROJECT}"]
""",
            source=Path(tmp) / "maturity.toml",
        )
        with session_scope(sessions) as session:
            teams.sync(session, cfg)
        # What the server holds (see FakeProject.populate): 3 jobs for even pipelines, 2 for
        # odd; a JUnit report on pipelines i % 3 != 2; merged merge requests i % 5 != 4.
        n_pipes = args.pipelines
        jobs = sum(3 if i % 2 == 0 else 2 for i in range(n_pipes))
        reports = sum(1 for i in range(n_pipes) if i % 3 != 2)
        merged = sum(1 for i in range(args.merge_requests) if i % 5 != 4)

        def pages(n: int) -> int:
            return max(1, math.ceil(n / PAGE))

        lists = (
            pages(args.merge_requests)
            + pages(args.commits)
            + pages(n_pipes)
            + pages(jobs)
            + pages(args.deployments)
            + pages(args.issues)
            + 1  # the project
        )
        details = args.merge_requests + merged + reports
        print(
            f"project: {args.merge_requests:,} merge requests ({merged:,} merged), "
            f"{args.commits:,} commits, {n_pipes:,} pipelines ({jobs:,} jobs, {reports:,} test "
            f"reports), {args.deployments:,} deployments, {args.issues:,} issues; store "
            f"{engine.redacted(url).split(':')[0]}"
        )
        for label in ("first collection", "second collection (unchanged)"):
            conn.send("reset")
            conn.recv()
            started = time.perf_counter()
            results = gitlab_collector.collect(CollectContext(config=cfg, sessions=sessions))
            elapsed = time.perf_counter() - started
            records = sum(r.records for r in results)
            assert all(r.status == "success" for r in results), results
            conn.send("counts")
            counts = conn.recv()
            total = sum(counts.values())
            grouped = group(counts)
            print(
                f"\n{label}: {total:,} requests in {elapsed:.1f}s, {records:,} records "
                f"({records / elapsed:,.0f} records/s)"
            )
            for name, n in grouped.items():
                print(f"  {name:28} {n:6}")
            if label.startswith("first"):
                spent_lists = total - sum(
                    grouped.get(k, 0)
                    for k in (
                        "merge request approvals",
                        "merge request commits",
                        "test report summaries",
                    )
                )
                print(
                    f"  lists: {spent_lists} requests, minimum (items / {PAGE}) {lists} -> "
                    f"ratio {spent_lists / lists:.3f}"
                )
                print(
                    f"  per-item requests: {total - spent_lists}, minimum {details} -> ratio "
                    f"{(total - spent_lists) / details:.3f}"
                )
                print(
                    f"  all: {total} against {lists + details} -> {total / (lists + details):.3f}"
                )
            else:
                print(f"  streams: 6 -> {total / 7:.2f} requests per stream and the project")
    finally:
        conn.send("stop")
        child.join()
        eng.dispose()


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
