"""Benchmark: the organisation trend (``scores.score_trend``) on a store of realistic size.

Generates the store of ``bench/web_load.py`` (200 teams, two years of weekly snapshots; SQLite,
or MATURITY_BENCH_URL, an empty migrated PostgreSQL store) and times, interleaved in one run:
the trend before issue 19 (the mean over every snapshot, read from the covering index alone),
the trend that reads every snapshot's coverage (``WHERE coverage > 0``), and
``scores.score_trend`` (the coverage read only for scores of 0).

With ``--no-data 0.2`` one snapshot in five is rewritten as one without data (level 0, score 0,
coverage 0), as a dimension of a team that lacks one of its sources would be.

    PYTHONPATH=. python bench/trend.py [--teams 200] [--weeks 104] [--runs 9] [--no-data 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bench.web_load import generate
from maturity.context import AppContext
from maturity.store import scores, tables
from maturity.store.engine import session_scope

S = tables.Snapshot


def _rows(session: Session, stmt: Any) -> list[Any]:
    return list(
        session.execute(
            stmt.group_by(S.period_end, S.dimension).order_by(S.dimension, S.period_end)
        ).all()
    )


def every_snapshot(session: Session) -> list[Any]:
    """The trend before issue 19: no data counted as a score of 0."""
    return _rows(session, select(S.period_end, S.dimension, func.avg(S.score), func.count()))


def coverage_read(session: Session) -> list[Any]:
    """Only snapshots with data, the coverage of each read from its table row."""
    stmt = select(S.period_end, S.dimension, func.avg(S.score), func.count())
    return _rows(session, stmt.where(S.coverage > 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-data", type=float, default=0.0, help="share without data")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="maturity-trend-"))
    url = os.environ.get("MATURITY_BENCH_URL") or f"sqlite:///{tmp / 'trend.db'}"
    config = tmp / "maturity.toml"
    config.write_text(f"[store]\nurl = {json.dumps(url)}\n", encoding="utf-8")
    context = AppContext(config_path=config)
    generate(context, args.teams, args.weeks)
    if args.no_data > 0:
        # ids run team by team, week by week, dimension by dimension: 19 spreads the chosen
        # ones over every dimension and week (19 and 100 are coprime)
        cut = round(args.no_data * 100)
        with session_scope(context.sessions) as session:
            session.execute(
                update(S).where((S.id * 19) % 100 < cut).values(level=0, score=0.0, coverage=0.0)
            )
    variants: dict[str, Callable[[Session], Any]] = {
        "every snapshot (before)": every_snapshot,
        "WHERE coverage > 0": coverage_read,
        "scores.score_trend": scores.score_trend,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, variant in variants.items():
            with context.sessions() as session:
                t0 = time.perf_counter()
                found = variant(session)
                times[name].append(time.perf_counter() - t0)
            assert len(found) == args.weeks * 5, (name, len(found))
    with context.sessions() as session:
        total = session.scalar(select(func.count()).select_from(S))
        zero = session.scalar(select(func.count()).select_from(S).where(S.score <= 0))
    print(f"{args.teams} teams x {args.weeks} weeks, {url.split(':')[0]}, {args.runs} runs each")
    print(f"{total} snapshots, {zero} with score 0 (their coverage is read)")
    for name, spent in times.items():
        median, low = statistics.median(spent) * 1000, min(spent) * 1000
        print(f"{name:<26} median {median:7.1f} ms   min {low:7.1f} ms")
    context.close()


if __name__ == "__main__":
    main()
