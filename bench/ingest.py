"""``maturity ingest`` of a generated file of events: peak memory and events per second.

Writes a JSON-lines file of builds, deployments, incidents and pull requests (60/25/5/10 %),
then runs ``maturity ingest`` on it in a process of its own, into a fresh store, and reports
that process's peak resident memory and throughput. Run with two sizes to see that memory stays
flat in the size of the file, and ``--compare`` a checkout of an earlier version::

    PYTHONPATH=. .venv/bin/python bench/ingest.py --events 100000 --events 1000000
    git archive main | tar -x -C /tmp/main-code
    PYTHONPATH=. .venv/bin/python bench/ingest.py --events 100000 --compare /tmp/main-code
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _time(i: int, minutes: int = 0) -> str:
    return (START + dt.timedelta(seconds=20 * i, minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(i: int) -> dict[str, object]:
    """The i-th event of the file; its kind cycles through 20 slots (12 builds, 5 deployments,
    1 incident, 2 pull requests)."""
    slot = i % 20
    service = f"svc-{i % 50}"
    if slot < 12:
        return {
            "kind": "build",
            "id": f"b{i}",
            "pipeline": f"{service}-ci",
            "number": i,
            "commit_sha": f"{i:040x}",
            "branch": "main",
            "result": "failure" if i % 7 == 0 else "success",
            "stage": "test",
            "started_at": _time(i),
            "duration_s": 60.0 + i % 300,
            "tests": {"total": 200, "failed": i % 3, "skipped": 1},
        }
    if slot < 17:
        return {
            "kind": "deployment",
            "id": f"d{i}",
            "service": service,
            "environment": "production" if i % 2 else "staging",
            "version": f"1.{i}",
            "commit_sha": f"{i:040x}",
            "started_at": _time(i),
            "finished_at": _time(i, 5),
            "status": "success",
            "trigger": "automated",
        }
    if slot < 18:
        return {
            "kind": "incident",
            "id": f"i{i}",
            "service": service,
            "title": f"Errors on {service} after release {i}",
            "started_at": _time(i),
            "resolved_at": _time(i, 90),
            "priority": "P2",
        }
    return {
        "kind": "pull_request",
        "id": f"p{i}",
        "repository": f"acme/{service}",
        "number": i + 1,
        "title": f"Change {i}",
        "state": "merged",
        "created_at": _time(i),
        "first_review_at": _time(i, 30),
        "approved_at": _time(i, 60),
        "merged_at": _time(i, 90),
        "reviews": 2,
        "approvals": 1,
    }


def write_file(path: Path, n: int) -> int:
    """Write ``n`` events as JSON lines; the file's size in bytes."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(event(i), separators=(",", ":")) + "\n")
    return path.stat().st_size


def run(n: int, folder: Path, code: Path | None = None) -> dict[str, float]:
    """Ingest ``n`` generated events into a fresh SQLite store; figures of the child process.

    ``code``: a checkout whose ``maturity`` the child runs instead of this one (to compare).
    """
    env = {**os.environ, "PYTHONPATH": str(code)} if code else None
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "maturity.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///maturity.db"\n\n[[teams]]\nname = "all"\nservices = ["*"]\n',
        encoding="utf-8",
    )
    events_file = folder / "events.jsonl"
    size = write_file(events_file, n)
    # Migrate first, so that the measured run is the ingestion alone.
    subprocess.run(
        [sys.executable, "-m", "maturity", "--config", str(config), "db", "upgrade"],
        check=True,
        capture_output=True,
        cwd=folder,
        env=env,
    )
    script = (
        "import resource, sys\n"
        "from maturity import cli\n"
        "sys.argv = ['maturity', '--config', sys.argv[1], 'ingest', sys.argv[2]]\n"
        "try:\n    cli.app()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script, str(config), str(events_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
        env=env,
    )
    seconds = time.perf_counter() - start
    if "ingested" not in proc.stdout:
        raise SystemExit(f"ingest failed: {proc.stderr}")
    peak_kib = int(proc.stderr.split("peak")[-1].split()[0])
    return {
        "events": n,
        "file_mb": size / 1e6,
        "seconds": seconds,
        "events_per_s": n / seconds,
        "peak_mb": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="events per file (repeat)")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--compare", type=Path, help="also run each size with the maturity of this checkout"
    )
    args = parser.parse_args()
    sizes = args.events or [1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        print("| code | events | file (MB) | seconds | events/s | peak memory (MB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for n in sizes:
            for label, code in [("this", None), ("compared", args.compare)]:
                if label == "compared" and code is None:
                    continue
                r = run(n, base / f"ingest-{label}-{n}", code)
                print(
                    f"| {label} | {n:,} | {r['file_mb']:.0f} | {r['seconds']:.0f} "
                    f"| {r['events_per_s']:,.0f} | {r['peak_mb']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
