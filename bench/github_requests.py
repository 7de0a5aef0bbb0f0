"""Requests the GitHub collector spends, against the minimum, on a large local repository.

The local server (tests/servers/github.py) holds one repository with 5,000 pull requests (one
review each) and 20,000 workflow runs. A first collection and a second, unchanged one are run;
for each, the requests by endpoint, the minimum possible (items / largest page size, plus one
request for each empty list), and records stored per second.

    PYTHONPATH=. .venv/bin/python bench/github_requests.py [--pulls N] [--runs N] [--rest]
        [--store-url postgresql://...]
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

import collectors.github as github_collector
from collectors.base import CollectContext
from maturity import config as config_mod
from maturity import teams, wiring
from maturity.store import engine, migrate
from maturity.store.engine import session_scope
from tests.servers.github import GitHubServer, RateLimit

TOKEN = "bench-token"
PAGE = 100  # the largest page GitHub serves


def group(counts: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for path, n in counts.items():
        if "graphql" in path:
            out["pull requests (GraphQL)"] += n
        elif path.endswith("/reviews"):
            out["reviews (REST)"] += n
        elif path.endswith("/pulls"):
            out["pull requests (REST)"] += n
        elif "/actions/runs" in path:
            out["workflow runs"] += n
        else:
            out[path.rsplit("/", 1)[-1] if "/repos/" in path else "repository"] += n
    return dict(sorted(out.items()))


def serve(conn: Connection, pulls: int, runs: int, budget: int) -> None:
    """The server in its own process, so that its JSON rendering does not share our GIL."""
    with GitHubServer(token=TOKEN) as server:
        server.rate = RateLimit(limit=budget, remaining=budget)
        server.add_repo("acme", "payments-api").populate(pulls=pulls, runs=runs)
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
    parser.add_argument("--pulls", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--rest", action="store_true", help="pull requests over REST, not GraphQL")
    parser.add_argument("--store-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--budget", type=int, default=5_000, help="requests per hour (github.com: 5,000)"
    )
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-github-")
    url = args.store_url or f"sqlite:///{tmp}/maturity.db"
    migrate.upgrade(url)
    eng = engine.make_engine(url)
    sessions = engine.make_sessionmaker(eng)
    os.environ["GITHUB_TOKEN"] = TOKEN
    conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.Process(
        target=serve, args=(child_conn, args.pulls, args.runs, args.budget)
    )
    child.start()
    server_url = conn.recv()
    try:
        api = "rest" if args.rest else "graphql"
        cfg = config_mod.parse(
            f"""
[sources.github]
base_url = "{server_url}/api/v3"
page_size = {PAGE}
pull_requests_api = "{api}"
min_request_interval_s = 0
[[teams]]
name = "payments"
github = ["acme/payments-api"]
""",
            source=Path(tmp) / "maturity.toml",
        )
        with session_scope(sessions) as session:
            teams.sync(session, cfg)
        empty_lists = 5  # commits, deployments, tags, releases, issues: one request each
        minimum = (
            math.ceil(args.pulls / PAGE) + math.ceil(args.runs / PAGE) + empty_lists + 1
        )  # + the repository
        print(
            f"repository: {args.pulls:,} pull requests, {args.runs:,} workflow runs; "
            f"pull requests over {api}; store {engine.redacted(url).split(':')[0]}"
        )
        for label in ("first collection", "second collection (unchanged)"):
            conn.send("reset")
            conn.recv()
            started = time.perf_counter()
            results = github_collector.collect(CollectContext(config=cfg, sessions=sessions))
            elapsed = time.perf_counter() - started
            records = sum(r.records for r in results)
            assert all(r.status == "success" for r in results), results
            conn.send("counts")
            counts = conn.recv()
            total = sum(counts.values())
            print(
                f"\n{label}: {total} requests in {elapsed:.1f}s, {records:,} records "
                f"({records / elapsed:,.0f} records/s)"
            )
            for name, n in group(counts).items():
                print(f"  {name:28} {n:6}")
            if label.startswith("first"):
                print(f"  minimum possible: {minimum} -> ratio {total / minimum:.3f}")
            else:
                print(f"  streams: 7 -> {total / 7:.2f} requests per stream and scope")
    finally:
        conn.send("stop")
        child.join()
        eng.dispose()


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
