"""Benchmark: requests the Jira collector spends on a 20,000-issue project, and storing speed.

Runs the collector through the jira library against the local Jira server of the tests
(``tests/servers/jira.py``), Server (startAt/total paging) and Cloud (nextPageToken) variants,
and compares the requests made with the minimum any client needs: issues / largest page size.

    PYTHONPATH=. .venv/bin/python bench/jira_requests.py [--issues 20000] [--store URL]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import collectors.jira as jira_collector
from collectors.base import CollectContext
from maturity import teams, wiring
from maturity.config import Config
from maturity.store import engine, migrate
from maturity.store.engine import session_scope
from tests.servers.jira import API, JiraServer

PAGE = 1000  # the largest page Jira serves (maxResults is capped at 1000)


def run(deployment: str, issues: int, store_url: str) -> dict[str, float]:
    migrate.upgrade(store_url)
    eng = engine.make_engine(store_url)
    sessions = engine.make_sessionmaker(eng)
    with JiraServer(deployment=deployment, max_results=PAGE) as server:
        server.generate("BIG", issues)
        os.environ["JIRA_USER"], os.environ["JIRA_TOKEN"] = server.user or "", server.token or ""
        cfg = Config.model_validate(
            {
                "sources": {"jira": {"url": server.url, "page_size": PAGE}},
                "teams": [{"name": "big", "jira": ["BIG"]}],
            }
        )
        with session_scope(sessions) as session:
            teams.sync(session, cfg)
        ctx = CollectContext(config=cfg, sessions=sessions)

        started = time.perf_counter()
        [first] = jira_collector.collect(ctx)
        first_s = time.perf_counter() - started
        first_requests, first_searches = len(server.requests), server.count(API + "/search")
        assert first.status == "success" and first.records == issues, first

        before = len(server.requests)
        before_searches = server.count(API + "/search")
        [second] = jira_collector.collect(ctx)
        assert second.status == "success", second
        second_requests = len(server.requests) - before
        second_searches = server.count(API + "/search") - before_searches
    eng.dispose()
    return {
        "minimum": math.ceil(issues / PAGE),
        "first_requests": first_requests,
        "first_searches": first_searches,
        "first_s": first_s,
        "records_per_s": issues / first_s,
        "second_requests": second_requests,
        "second_searches": second_searches,
        "second_records": second.records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=20_000)
    parser.add_argument("--store", help="store URL (default: a new SQLite file)")
    args = parser.parse_args()
    print(
        "| variant | issues | minimum requests | first run: requests (searches) | "
        "first run: time | stored/s | unchanged re-run: requests (searches) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for deployment in ("Server", "Cloud"):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.store or f"sqlite:///{tmp}/bench.db"
            if args.store:
                print("note: --store must be an empty store for each variant", file=sys.stderr)
            r = run(deployment, args.issues, url)
        print(
            f"| {deployment} | {args.issues:,} | {r['minimum']:.0f} | "
            f"{r['first_requests']:.0f} ({r['first_searches']:.0f}) | {r['first_s']:.1f} s | "
            f"{r['records_per_s']:,.0f} | {r['second_requests']:.0f} "
            f"({r['second_searches']:.0f}; {r['second_records']:.0f} issues re-read) |"
        )
        if args.store:
            break


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
