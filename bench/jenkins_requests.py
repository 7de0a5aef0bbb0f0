"""Benchmark: requests the Jenkins collector spends against the least possible, and its speed.

Runs the real collector (python-jenkins) against the local Jenkins of ``tests/servers`` with
one job of 10,000 builds and, separately, many small jobs, into a fresh store; counts the
requests of a first and of an unchanged second collection.

    PYTHONPATH=. python bench/jenkins_requests.py [--builds 10000] [--page-size 100]
        [--jobs 20 --builds-per-job 500] [--store-url postgresql://...]

The least possible for a first collection is ceil(builds / page size) requests per job: each
request returns one page. Beyond that the collector spends a constant: the crumb and the job
list once per run. An unchanged re-collection needs one request per job, plus the same two.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import collectors.jenkins as jenkins_collector
from collectors.base import CollectContext
from maturity import config as config_mod
from maturity import teams, wiring
from maturity.store import engine as engine_mod
from maturity.store import migrate
from maturity.store.engine import session_scope
from tests.servers.jenkins import JenkinsServer


def run(server: JenkinsServer, store_url: str, page_size: int, workdir: Path) -> dict[str, Any]:
    text = f"""
[sources.jenkins]
url = "{server.url}"
page_size = {page_size}

[[teams]]
name = "bench"
jenkins = ["bench/*"]
"""
    cfg = config_mod.parse(text, source=workdir / "maturity.toml")
    engine = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(engine)
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    out: dict[str, Any] = {}
    for label in ("first", "second"):
        server.reset_counts()
        started = time.perf_counter()
        results = jenkins_collector.collect(CollectContext(config=cfg, sessions=sessions))
        elapsed = time.perf_counter() - started
        bad = [r for r in results if r.status != "success"]
        if bad:
            raise SystemExit(f"collection failed: {bad[0].error}")
        out[label] = {
            "requests": server.count(),
            "job_requests": server.count("/job/"),
            "records": sum(r.records for r in results),
            "seconds": elapsed,
            "server_s": server.busy_s,
        }
    engine.dispose()
    return out


def scenario(
    name: str, jobs: int, builds: int, page_size: int, store_url: str | None
) -> dict[str, Any]:
    os.environ["JENKINS_USER"], os.environ["JENKINS_TOKEN"] = "bench", "bench-token"
    with tempfile.TemporaryDirectory() as tmp, JenkinsServer("bench", "bench-token") as server:
        workdir = Path(tmp)
        server.add_folder("bench")
        for j in range(jobs):
            server.add_job(f"bench/job-{j:03d}")
            server.add_builds(f"bench/job-{j:03d}", builds)
        url = store_url or f"sqlite:///{workdir / 'bench.db'}"
        migrate.upgrade(url)
        if store_url:
            # Start from an empty store: the benchmark owns this database.
            engine = engine_mod.make_engine(url)
            with engine.begin() as conn:
                for table in ("builds", "deployments", "cursors", "collector_runs"):
                    conn.exec_driver_sql(f"DELETE FROM {table}")
            engine.dispose()
        result = run(server, url, page_size, workdir)
    minimum = jobs * math.ceil(builds / page_size)
    result.update(name=name, jobs=jobs, builds=jobs * builds, minimum=minimum, page=page_size)
    return result


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | page | builds | min requests | first: requests (to jobs) | ratio to min "
        "| records/s | records/s, server time excluded | unchanged: requests (to jobs) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        first, second = r["first"], r["second"]
        lines.append(
            f"| {r['name']} | {r['page']} | {r['builds']:,} | {r['minimum']} "
            f"| {first['requests']} ({first['job_requests']}) "
            f"| {first['requests'] / r['minimum']:.2f} "
            f"| {first['records'] / first['seconds']:,.0f} "
            f"| {first['records'] / (first['seconds'] - first['server_s']):,.0f} "
            f"| {second['requests']} ({second['job_requests']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--builds-per-job", type=int, default=500)
    parser.add_argument("--store-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    rows = [
        scenario("one job", 1, args.builds, args.page_size, args.store_url),
        scenario("one job", 1, args.builds, 1000, args.store_url),
        scenario(
            f"{args.jobs} jobs", args.jobs, args.builds_per_job, args.page_size, args.store_url
        ),
    ]
    print(report(rows))
    for r in rows:
        first, second = r["first"], r["second"]
        target_first = 1.1 * r["minimum"] + 2 + r["jobs"]
        ok_first = first["requests"] <= target_first
        ok_second = second["job_requests"] <= r["jobs"]
        print(
            f"{r['name']} page {r['page']}: first {first['requests']} <= {target_first:.0f}: "
            f"{'yes' if ok_first else 'NO'}; unchanged {second['job_requests']} <= {r['jobs']} "
            f"per-job requests: {'yes' if ok_second else 'NO'}"
        )


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
