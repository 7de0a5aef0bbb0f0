"""Benchmark scoring on a generated store (bench/gen_store.py): the floor (reading the needed
columns into pandas), scoring one new week, and backfilling two years of weekly snapshots, with
peak memory, on SQLite and PostgreSQL. Every step runs in its own process, so that its peak
resident memory is its own. Usage:

    python bench/scoring.py                      # both stores, full size (generates them)
    python bench/scoring.py --scale 0.1 --only sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

END = dt.date(2026, 11, 22)  # the newest week of the generated store (a Sunday)
WEEKS = 104  # two years
PG_ADMIN = os.environ.get(
    "MATURITY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def run_step(step: str, url: str) -> dict[str, float]:
    """One measurement in this process; prints nothing, returns seconds and peak MB."""
    from maturity import model as model_mod
    from maturity import pipeline, snapshots
    from maturity.config import Config, StoreConfig
    from maturity.store import engine as engine_mod
    from maturity.store import scores

    config = Config(store=StoreConfig(url=url))
    eng = engine_mod.make_engine(url)
    sessions = engine_mod.make_sessionmaker(eng)
    model = model_mod.load()
    ends = snapshots.period_ends(END, WEEKS - 1 if "backfill" in step else 0, today=END)
    t0 = time.perf_counter()
    if step.startswith("floor"):
        with engine_mod.session_scope(sessions) as s:
            teams = [int(t) for t in scores.team_names(s)["team_id"]]
            frames = snapshots.load_frames(s, ends, window_days=90, tz="UTC", team_ids=teams)
            rows = sum(len(f) for f in (frames.commits, frames.builds, frames.deployments))
    else:
        run = pipeline.score(sessions, config, model, week=END, backfill=len(ends) - 1, today=END)
        rows = len(run.snapshots)
    seconds = time.perf_counter() - t0
    eng.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, "rows": rows}


def _subprocess(step: str, url: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--step", step, "--url", url],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_store(name: str, url: str) -> dict[str, dict[str, float]]:
    results = {}
    # the backfill first (it fills the snapshots), then one new week on top of that history
    for step in ("floor_backfill", "backfill", "floor_week", "week"):
        results[step] = _subprocess(step, url)
        print(
            f"{name:10} {step:15} {results[step]['seconds']:8.2f} s "
            f"peak {results[step]['peak_mb']:7.0f} MB",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one store only")
    parser.add_argument("--dir", default="/tmp", help="where the SQLite store is generated")
    parser.add_argument("--keep", action="store_true", help="keep the generated stores")
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.url)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import gen_store
    from sqlalchemy.engine import make_url

    stores = []
    if args.only in (None, "sqlite"):
        path = Path(args.dir) / f"maturity_bench_{args.scale:g}.db"
        stores.append(("sqlite", f"sqlite:///{path}", path))
    if args.only in (None, "postgres"):
        pg = make_url(PG_ADMIN).set(database=f"maturity_bench_{os.getpid()}")
        stores.append(("postgres", pg.render_as_string(hide_password=False), None))
    summary = {}
    for name, url, path in stores:
        if path is not None and path.exists():
            path.unlink()
        # generated in its own process: Linux keeps a process's peak memory across exec, so a
        # step started from a process that held the generated data would report that peak
        gen = [
            sys.executable,
            str(Path(__file__).parent / "gen_store.py"),
            url,
            "--scale",
            str(args.scale),
        ] + (["--create"] if name == "postgres" else [])
        info = subprocess.run(gen, capture_output=True, text=True, check=True).stdout.strip()
        print(f"{name}: generated {info}", flush=True)
        try:
            summary[name] = bench_store(name, url)
        finally:
            if not args.keep:
                if path is not None:
                    path.unlink(missing_ok=True)
                else:
                    gen_store.drop_postgres_database(url)
    print()
    print("| store | step | seconds | peak memory | ratio to its floor |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, r in summary.items():
        for step, floor in (
            ("floor_week", None),
            ("week", "floor_week"),
            ("floor_backfill", None),
            ("backfill", "floor_backfill"),
        ):
            ratio = f"{r[step]['seconds'] / r[floor]['seconds']:.1f} x" if floor else "1 (floor)"
            print(
                f"| {name} | {step} | {r[step]['seconds']:.1f} | "
                f"{r[step]['peak_mb']:.0f} MB | {ratio} |"
            )


if __name__ == "__main__":
    main()
