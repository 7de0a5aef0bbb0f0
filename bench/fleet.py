"""Benchmark distributed mode on a simulated fleet: collection with 1 worker process against
concurrency 2, 4 and 8 (ratios from one run), the overhead per task, and scoring teams in
partitions with the peak memory of each worker process. Real parts: our own redis-server,
PostgreSQL, ``maturity worker`` processes, generated git repositories (git fast-import) and the
local GitHub server (tests/servers/github.py) answering every request 50 ms late.

    python bench/fleet.py                          # the defaults recorded in docs/benchmarks.md
    python bench/fleet.py --git 40 --api 24 --teams 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import gen_repo, gen_store
from maturity import wiring
from tests.cluster import RedisServer, Worker
from tests.servers.github import GitHubServer

PG_ADMIN = os.environ.get(
    "MATURITY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TOKEN = "bench-token"
T0 = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)
CONCURRENCY = (1, 2, 4, 8)


def db_url(name: str) -> str:
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def create_db(name: str, template: str | None = None) -> str:
    admin = create_engine(
        gen_store.engine_mod.normalize_url(PG_ADMIN), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        extra = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{extra}'))
    admin.dispose()
    return db_url(name)


def drop_db(name: str) -> None:
    gen_store.drop_postgres_database(db_url(name))


def write_config(folder: Path, store: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "maturity.toml"
    cfg.write_text(f'[store]\nurl = "{store}"\n\n[distributed]\nlease_s = 60\n{body}')
    return cfg


def collect_embedded(cfg: Path) -> float:
    """The single-process path in a child process: seconds of runner.collect alone."""
    code = (
        "import sys, time\n"
        "from collectors import runner\n"
        "from collectors.base import CollectContext\n"
        "from maturity import teams\n"
        "from maturity.context import AppContext\n"
        "from maturity.store.engine import session_scope\n"
        "from maturity import wiring\n"
        "wiring.wire()\n"
        f"ctx = AppContext(config_path=__import__('pathlib').Path({str(cfg)!r}))\n"
        "with session_scope(ctx.sessions) as s: teams.sync(s, ctx.config)\n"
        "t = time.perf_counter()\n"
        "results = runner.collect(CollectContext(config=ctx.config, sessions=ctx.sessions))\n"
        "ok = sum(r.status == 'success' for r in results)\n"
        "print(time.perf_counter() - t, len(results), ok)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, scopes, ok = out.stdout.split()
    assert scopes == ok, out.stdout
    return float(seconds)


def task_seconds(log: str) -> tuple[float, float]:
    """The sums of the tasks' run times and of the collections inside them (collect_one), as
    the worker logs them."""
    tasks = sum(float(m) for m in re.findall(r"succeeded in ([0-9.]+)s", log))
    inside = sum(float(m) for m in re.findall(r": collected in ([0-9.]+)s", log))
    return tasks, inside


def collect_distributed(cfg: Path, concurrency: int) -> tuple[float, int, tuple[float, float]]:
    """A worker with ``concurrency`` processes; seconds from the scopes' listing and the first
    task sent to the last result (the worker started and ready before), and the seconds the
    tasks themselves ran."""
    from maturity import teams
    from maturity.context import AppContext
    from maturity.distributed import commands
    from maturity.store.engine import session_scope

    worker = Worker(
        cfg, {}, name=f"bench{concurrency}", concurrency=concurrency, queues=("collect",)
    )
    try:
        worker.wait_ready(timeout=180)
        ctx = AppContext(config_path=cfg)
        with session_scope(ctx.sessions) as s:
            teams.sync(s, ctx.config)
        quiet = Console(stderr=True, quiet=True)
        t = time.perf_counter()
        results = commands.collect(
            ctx, ["git", "github"], team=None, full_refresh=False, console=quiet
        )
        seconds = time.perf_counter() - t
        ctx.close()
        assert all(r.status == "success" for r in results), [r.error for r in results]
    finally:
        worker.stop()
    return seconds, len(results), task_seconds(worker.text())


def build_fleet(work: Path, n_git: int, n_api: int, commits: int) -> tuple[str, str]:
    """Generated git repositories and a GitHub body; returns (git teams, api teams) TOML."""
    git_body, api_body = [], []
    for i in range(n_git):
        path = work / "repos" / f"repo-{i:04d}"
        if not path.exists():
            gen_repo.generate(path, commits, seed=i)
        git_body.append(f'[[teams]]\nname = "git-{i:04d}"\nrepositories = ["{path}"]\n')
    for i in range(n_api):
        api_body.append(f'[[teams]]\nname = "api-{i:04d}"\ngithub = ["acme/svc-{i:04d}"]\n')
    return "\n".join(git_body), "\n".join(api_body)


def score_single(url: str, ends: list[dt.date]) -> tuple[float, float]:
    """Every team in one process (as 'maturity score'): seconds and peak MB of that process."""
    code = (
        "import datetime as dt, time\n"
        "from maturity import model, pipeline\n"
        "from maturity.config import Config\n"
        "from maturity.store.engine import make_engine, make_sessionmaker\n"
        "from maturity.distributed import tasks\n"
        f"s = make_sessionmaker(make_engine({url!r}))\n"
        "tasks._reset_peak()  # as a scoring task does: its own peak, not its parent's\n"
        "t = time.perf_counter()\n"
        f"pipeline.score(s, Config(), model.load(), week=dt.date.fromisoformat("
        f"{ends[-1].isoformat()!r}), backfill={len(ends) - 1}, today=dt.date.fromisoformat("
        f"{ends[-1].isoformat()!r}))\n"
        "peak = tasks.peak_mb()\n"
        "print(time.perf_counter() - t, peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def score_partitioned(
    work: Path, url: str, ends: list[dt.date], size: int, concurrency: int
) -> dict[str, Any]:
    from maturity.context import AppContext
    from maturity.distributed import commands

    cfg = write_config(work / f"score-{size}", url, f"partition_size = {size}\n")
    worker = Worker(cfg, {}, name=f"score{size}", concurrency=concurrency, queues=("score",))
    try:
        worker.wait_ready(timeout=180)
        ctx = AppContext(config_path=cfg)
        t = time.perf_counter()
        done = commands.score(
            ctx,
            team=None,
            week=ends[-1],
            backfill=len(ends) - 1,
            partition_size=size,
            console=Console(stderr=True, quiet=True),
        )
        done["seconds"] = time.perf_counter() - t
        ctx.close()
        return done
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git", type=int, default=40, help="generated git repositories")
    parser.add_argument("--commits", type=int, default=300, help="commits per git repository")
    parser.add_argument("--api", type=int, default=24, help="repositories on the 50 ms API")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per API request")
    parser.add_argument(
        "--store-scale",
        type=float,
        default=0.05,
        help="gen_store scale of the scoring store (its 200 teams stay)",
    )
    parser.add_argument("--weeks", type=int, default=4, help="weeks scored")
    parser.add_argument("--partition", type=int, default=25, help="teams per scoring task")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=list(CONCURRENCY),
        help="worker processes to collect with (1 must be among them: the ratios are to it)",
    )
    parser.add_argument(
        "--no-score", action="store_true", help="collection only: skip scoring in partitions"
    )
    args = parser.parse_args()
    if 1 not in args.concurrency:
        parser.error("--concurrency must include 1")
    wiring.wire()  # configurations name the collectors' sources

    work = Path(__file__).resolve().parent / ".work" / "fleet"
    work.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="fleet-redis-")))
    os.environ["MATURITY_BROKER_URL"] = redis.url(0)
    os.environ["GITHUB_TOKEN"] = TOKEN
    os.environ["MATURITY_AUTHOR_SALT"] = "bench"
    report: dict[str, Any] = {"args": vars(args)}
    template = f"fleet_template_{os.getpid()}"
    create_db(template)
    gen_store.migrate.upgrade(gen_store.engine_mod.normalize_url(db_url(template)))
    try:
        with GitHubServer(token=TOKEN) as gh:
            for i in range(args.api):
                gh.add_repo("acme", f"svc-{i:04d}").populate(
                    pulls=4, runs=4, commits=4, deployments=1, issues=2, releases=1, start=T0
                )
            gh.latency_s = args.latency
            t = time.perf_counter()
            git_teams, api_teams = build_fleet(work, args.git, args.api, args.commits)
            report["fleet_generated_s"] = round(time.perf_counter() - t, 1)
            github = (
                f'[sources.github]\nbase_url = "{gh.url}"\nmin_request_interval_s = 0\n'
                "timeout_s = 10\n"
            )
            for kind, body in (("git", git_teams), ("api", github + api_teams)):
                scopes = args.git if kind == "git" else args.api
                runs: dict[str, Any] = {"scopes": scopes}
                name = f"fleet_{kind}_embedded_{os.getpid()}"
                cfg = write_config(work / f"{kind}-embedded", create_db(name, template), body)
                gh.reset_counts()
                runs["embedded_s"] = round(collect_embedded(cfg), 2)
                runs["requests_per_scope"] = round(gh.total() / scopes, 1) if kind == "api" else 0
                drop_db(name)
                for c in args.concurrency:
                    name = f"fleet_{kind}_{c}_{os.getpid()}"
                    cfg = write_config(work / f"{kind}-{c}", create_db(name, template), body)
                    seconds, n, in_tasks = collect_distributed(cfg, c)
                    assert n == scopes
                    runs[f"c{c}_s"] = round(seconds, 2)
                    if c == 1:
                        runs["c1_in_tasks_s"] = round(in_tasks[0], 2)
                        runs["c1_in_collect_one_s"] = round(in_tasks[1], 2)
                    drop_db(name)
                base = runs["c1_s"]
                runs["speedup"] = {
                    f"c{c}": round(base / runs[f"c{c}_s"], 2) for c in args.concurrency
                }
                # one worker process against the single process, per scope: all of it, the
                # part inside the task (lease, opening the source for one scope, the run row),
                # and the rest (listing the scopes, queue, acknowledgements, the follower)
                runs["overhead_per_task_ms"] = round(
                    (runs["c1_s"] - runs["embedded_s"]) / scopes * 1000, 1
                )
                # the same split inside one run: a task's own cost around collect_one (lease,
                # heartbeat, result), and the queue's between tasks (dispatch, acknowledgement,
                # result backend, the listing of scopes and the follower's last poll)
                runs["task_overhead_ms"] = round(
                    (runs["c1_in_tasks_s"] - runs["c1_in_collect_one_s"]) / scopes * 1000, 1
                )
                runs["queue_overhead_ms"] = round(
                    (runs["c1_s"] - runs["c1_in_tasks_s"]) / scopes * 1000, 1
                )
                runs["per_scope_c1_s"] = round(runs["c1_s"] / scopes, 3)
                report[kind] = runs
                print(kind, json.dumps(runs), flush=True)

        # scoring in partitions
        if not args.no_score:
            name = f"fleet_score_{os.getpid()}"
            url = db_url(name)
            gen_store.build_store(url, scale=args.store_scale, create=True)
            end = dt.date(2026, 11, 22)
            ends = [end - dt.timedelta(weeks=i) for i in range(args.weeks - 1, -1, -1)]
            single_s, single_mb = score_single(url, ends)
            report["score"] = {
                "teams": 200,
                "weeks": args.weeks,
                "single_s": round(single_s, 2),
                "single_peak_mb": round(single_mb),
            }
            # the peak of a process follows its partition: the same partitions on 1 and 2
            # processes, then partitions four times larger
            for size, conc in ((args.partition, 1), (args.partition, 2), (args.partition * 4, 2)):
                done = score_partitioned(work, url, ends, size, conc)
                report["score"][f"p{size}_c{conc}"] = {
                    "partitions": done["partitions"],
                    "seconds": round(done["seconds"], 2),
                    "peak_mb_per_worker_process": round(done["peak_rss_mb"]),
                }
            drop_db(name)
            print("score", json.dumps(report["score"]), flush=True)
    finally:
        drop_db(template)
        redis.stop()
    api = report["api"]
    per_scope = api["per_scope_c1_s"]
    # workers (processes) for 10,000 API scopes an hour at the measured cost per scope, with
    # half the hour as headroom
    need = 10_000 * per_scope / 1800
    report["estimate_processes_10000_hourly"] = round(need, 1)
    report["self_rusage_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
