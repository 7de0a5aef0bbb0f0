"""Benchmark: how fast the pages and the API answer on a store of realistic size.

Builds a SQLite store (or uses MATURITY_BENCH_URL) with 40 teams, 400 services deployed to four
environments, 100,000 deployments and 100,000 builds over a year, and 5,000 collector runs, then
times requests in-process (no network) and prints median and 95th percentile per URL.

    PYTHONPATH=. python bench/web_pages.py [--deployments 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from pydantic import SecretStr

from collectors import events
from maturity import teams, wiring
from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope
from web.app import create_app
from web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

URLS = [
    "/",
    "/environments",
    "/environments?team=team-07",
    "/collection",
    "/api/v1/environments",
    "/api/v1/deployments/weekly",
    "/api/v1/collector-runs",
    "/api/v1/freshness",
    "/api/v1/teams",
]
ENVS = ["dev", "qa", "staging", "production"]


def generate(context: AppContext, deployments: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    services = [f"team-{t:02d}-svc-{s:02d}" for t in range(40) for s in range(10)]
    items: list[dict[str, object]] = []
    for n in range(deployments):
        service = rng.choice(services)
        when = now - dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
        sha = f"{rng.getrandbits(160):040x}"
        items.append(
            {
                "kind": "build",
                "id": f"b{n}",
                "pipeline": service,
                "commit_sha": sha,
                "result": rng.choice(["success"] * 9 + ["failure"]),
                "started_at": (when - dt.timedelta(minutes=20)).isoformat(),
                "number": n,
            }
        )
        items.append(
            {
                "kind": "deployment",
                "id": f"d{n}",
                "service": service,
                "environment": rng.choice(ENVS),
                "version": f"1.{n}",
                "commit_sha": sha,
                "status": rng.choice(["success"] * 9 + ["failure"]),
                "started_at": when.isoformat(),
            }
        )
    parsed = events.parse_objects(items)
    events.ingest(context.sessions, parsed, scope="ingest:bench")
    with session_scope(context.sessions) as session:
        for n in range(5000):
            started = now - dt.timedelta(hours=n)
            session.add(
                tables.CollectorRun(
                    source=rng.choice(["git", "github", "jenkins", "jira"]),
                    scope=f"scope-{n % 300}",
                    started_at=started,
                    finished_at=started + dt.timedelta(seconds=40),
                    status=rng.choice(["success"] * 8 + ["failed", "partial"]),
                    records=rng.randrange(1000),
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("MATURITY_BENCH_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        config = Path(tmp) / "maturity.toml"
        team_lines = "".join(
            f'[[teams]]\nname = "team-{t:02d}"\nservices = ["team-{t:02d}-*"]\n' for t in range(40)
        )
        config.write_text(f'[store]\nurl = "{url}"\n{team_lines}', encoding="utf-8")
        context = AppContext(config_path=config)
        with session_scope(context.sessions) as session:
            teams.sync(session, context.config)
        start = time.perf_counter()
        generate(context, args.deployments)
        print(
            f"generated {args.deployments} deployments and builds in "
            f"{time.perf_counter() - start:.1f} s (through events.ingest)"
        )
        client = TestClient(
            create_app(context, settings=WebSettings(admin_token=SecretStr("x" * 32)))
        )
        print(f"{'url':34} {'median ms':>10} {'p95 ms':>8}")
        for path in URLS:
            client.get(path)  # warm up
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{path:34} {statistics.median(times):10.1f} {p95:8.1f}")
        context.close()


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
