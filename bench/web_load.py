"""Benchmark: the score dashboards under load from 16 concurrent clients.

Generates a SQLite store (or uses MATURITY_BENCH_URL, a PostgreSQL URL) with 200 teams and two
years of weekly snapshots and metric values (rows written directly, with evidence shaped like
``maturity score``'s), starts ``maturity serve`` on loopback in its own process, and drives it
with wrk (C, one thread, 16 connections; Debian package ``wrk``), so that the load generator
takes little of the two cores the server has. For each URL it prints median, 95th and 99th
percentile latency and throughput, and each as a ratio to a static file served by the same
server in the same run. Then it measures the first answer after the store changed (what a
reader sees right after a re-score or a collection): one request, five times, per page.

    PYTHONPATH=. python bench/web_load.py [--teams 200] [--weeks 104] [--seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from maturity import display, metrics, wiring
from maturity import model as model_mod
from maturity.context import AppContext
from maturity.store import tables
from maturity.store.engine import session_scope

CLIENTS = 16
LEVEL_NAMES = display.LEVELS
STORED_METRICS = [*metrics.DORA_KEYS, "commits", "builds", "review_rate", "ci_coverage"]


def _evidence(rng: random.Random, dim: model_mod.Dimension, level: int, end: dt.date) -> dict:
    criteria = []
    for lv, c in dim.criteria():
        verdict = "met" if lv.number <= level else rng.choice(["met", "unmet", "unknown"])
        item: dict[str, Any] = {"id": c.id, "level": lv.number, "verdict": verdict}
        if c.metric:
            item["metric"] = {
                "name": c.metric.metric,
                "value": None if verdict == "unknown" else round(rng.random(), 4),
                "op": c.metric.op,
                "threshold": c.metric.threshold,
                "unit": metrics.CATALOGUE[c.metric.metric].unit,
                "sample_size": rng.randrange(1, 200),
                "verdict": verdict,
                "records": {"tables": list(metrics.CATALOGUE[c.metric.metric].sources)},
            }
        if c.survey:
            item["survey"] = {"mean": None, "responses": 0, "min_mean": c.survey.min_mean}
        criteria.append(item)
    nxt = [
        {
            "id": c["id"],
            "level": level + 1,
            "level_name": LEVEL_NAMES[min(level + 1, 4)],
            "verdict": c["verdict"],
            "text": f"criterion {c['id']} (now below its threshold)",
        }
        for c in criteria
        if c["level"] == level + 1 and c["verdict"] != "met"
    ]
    return {
        "dimension": dim.id,
        "period_start": (end - dt.timedelta(days=89)).isoformat(),
        "period_end": end.isoformat(),
        "window_days": 90,
        "level": level,
        "level_name": LEVEL_NAMES[level],
        "criteria": criteria,
        "next_steps": nxt,
    }


def generate(
    context: AppContext, n_teams: int, weeks: int, seed: int = 11, *, existing: bool = False
) -> None:
    """Teams, snapshots and metric values written directly (fast), as scoring would store them.

    With ``existing`` the teams already in the store get the snapshots and none is added.
    """
    rng = random.Random(seed)
    model = model_mod.load()
    last = dt.date(2026, 11, 22)
    ends = [last - dt.timedelta(weeks=w) for w in range(weeks)][::-1]
    now = dt.datetime.now(dt.UTC)
    with session_scope(context.sessions) as session:
        if not existing:
            session.execute(
                insert(tables.Team),
                [{"name": f"team-{t:03d}", "slug": f"team-{t:03d}"} for t in range(n_teams)],
            )
        ids = [t.id for t in session.query(tables.Team).order_by(tables.Team.id)]
    # a few evidence variants per dimension and level: realistic size without generating 100k
    variants = {
        (d.id, lv): [_evidence(rng, d, lv, last) for _ in range(4)]
        for d in model.dimensions
        for lv in range(5)
    }
    for team_id in ids:
        snaps, values = [], []
        base = {d.id: rng.uniform(0, 3) for d in model.dimensions}
        for i, end in enumerate(ends):
            for d in model.dimensions:
                score = min(4.0, base[d.id] + i / weeks + rng.uniform(-0.2, 0.2))
                score = max(0.0, score)
                level = int(score)
                ev = dict(rng.choice(variants[(d.id, level)]), period_end=end.isoformat())
                snaps.append(
                    {
                        "team_id": team_id,
                        "dimension": d.id,
                        "period_end": end,
                        "level": level,
                        "score": round(score, 4),
                        "coverage": round(rng.uniform(0.4, 1), 4),
                        "evidence": ev,
                        "model_version": model.version,
                        "computed_at": now,
                    }
                )
            for m in STORED_METRICS:
                value = None if rng.random() < 0.05 else rng.lognormvariate(1, 1)
                if value is not None and metrics.CATALOGUE[m].unit == "share":
                    value = min(1.0, value / 10)  # a share lies in [0, 1]
                values.append(
                    {
                        "team_id": team_id,
                        "metric": m,
                        "period_end": end,
                        "window_days": 90,
                        "value": value,
                        "sample_size": rng.randrange(1, 300),
                    }
                )
        with session_scope(context.sessions) as session:
            session.execute(insert(tables.Snapshot), snaps)
            session.execute(insert(tables.MetricValue), values)


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"errors\\": %d, \\"seconds\\": %f, \\"p50_us\\": %d, "
    .. "\\"p95_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, errors, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(95), latency:percentile(99)))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrk(url: str, seconds: float, script: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CLIENTS}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    return {
        "requests": r["requests"],
        "errors": r["errors"],
        "median_ms": r["p50_us"] / 1000,
        "p95_ms": r["p95_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "rps": r["requests"] / r["seconds"],
    }


def _collect(context: AppContext) -> None:
    """What a finished collection writes: a collector run (freshness changes, scores do not)."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(context.sessions) as session:
        session.add(
            tables.CollectorRun(
                source="git", scope="bench", started_at=now, finished_at=now, status="success"
            )
        )


def _rescore(context: AppContext) -> None:
    """What re-scoring writes: the newest snapshot deleted and inserted again (a new id)."""
    S = tables.Snapshot
    with session_scope(context.sessions) as session:
        row = session.scalars(select(S).order_by(S.id.desc()).limit(1)).one()
        values = {c.key: getattr(row, c.key) for c in S.__table__.columns if c.key != "id"}
        session.delete(row)
        session.flush()
        session.execute(insert(S), [values])


def _first_answers(
    context: AppContext, base: str, path: str, write: Any, times: int = 5
) -> list[float]:
    found = []
    for _ in range(times):
        write(context)
        t0 = time.perf_counter()
        resp = httpx.get(base + path, timeout=120)
        found.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200 and resp.headers.get("x-cache") == "miss", resp.headers
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="maturity-load-"))
    url = os.environ.get("MATURITY_BENCH_URL") or f"sqlite:///{tmp / 'load.db'}"
    config = tmp / "maturity.toml"
    config.write_text(f"[store]\nurl = {json.dumps(url)}\n", encoding="utf-8")
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    context = AppContext(config_path=config)
    t0 = time.perf_counter()
    generate(context, args.teams, args.weeks)
    rows = args.teams * args.weeks
    sys.stdout.write(
        f"generated {args.teams} teams x {args.weeks} weeks: {rows * 5} snapshots, "
        f"{rows * len(STORED_METRICS)} metric values in {time.perf_counter() - t0:.1f} s\n"
    )
    port = _free_port()
    env = {**os.environ, "MATURITY_CONFIG": str(config)}
    server = subprocess.Popen(
        [sys.executable, "-m", "maturity", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    urls = {
        "static file": "/static/app.css",
        "overview": "/overview",
        "team page": "/teams/team-042",
        "API levels": "/api/v1/levels",
        "API team levels": "/api/v1/teams/team-042/levels",
    }
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/static/app.css", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        for path in urls.values():  # warm: model cache, SQLite page cache, kept answers
            httpx.get(base + path, timeout=120)
        results = {name: _wrk(base + path, args.seconds, script) for name, path in urls.items()}
        first = {
            (name, label): _first_answers(context, base, urls[name], write)
            for label, write in (("a collection", _collect), ("a re-score", _rescore))
            for name in ("overview", "team page", "API levels")
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        context.close()
    static = results["static file"]
    sys.stdout.write(
        f"{CLIENTS} connections (wrk, one thread), {args.seconds:.0f} s per URL\n"
        "| URL | requests | median ms | p95 ms | p99 ms | req/s | median / static "
        "| p95 / static | req/s / static req/s |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    for name, r in results.items():
        sys.stdout.write(
            f"| {name} (`{urls[name]}`) | {r['requests']:.0f} | {r['median_ms']:.1f} "
            f"| {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['rps']:.0f} "
            f"| {r['median_ms'] / static['median_ms']:.2f} | {r['p95_ms'] / static['p95_ms']:.2f} "
            f"| {r['rps'] / static['rps']:.2f} |\n"
        )
        if r["errors"]:
            sys.stdout.write(f"  {r['errors']:.0f} answers were errors or not 2xx\n")
    sys.stdout.write(
        "\nfirst answer after the store changed (one request at a time, 5 times)\n"
        "| URL | after | median ms | max ms |\n| --- | --- | --- | --- |\n"
    )
    for (name, label), times in first.items():
        sys.stdout.write(
            f"| {name} (`{urls[name]}`) | {label} | {statistics.median(times):.0f} "
            f"| {max(times):.0f} |\n"
        )


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
