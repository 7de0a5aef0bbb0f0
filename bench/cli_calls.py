"""What a test's ``python -m maturity`` call costs: a new interpreter against tests/zygote.py.

The suite runs the command line about 150 times. Each call runs once through
``subprocess.run`` (a new interpreter) and once through ``tests.clirun.run`` (a child forked from
the fork server, which has imported the third-party libraries), alternately, ``--runs`` times per
command, on a store with the demo organisation's schema. Reported per command and way: the
median wall time, and the median CPU time of the call (user + system of the process, or of the
forked child: the server's reaped children, read from the server's /proc entry).

    .venv/bin/python bench/cli_calls.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import clirun  # noqa: E402

COMMANDS = (["--help"], ["status"], ["survey", "list"], ["score"], ["model", "show"])


def _children_cpu_of(pid: int) -> float:
    """User + system seconds of the reaped children of ``pid`` (fields 16 and 17 of stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[13]) + int(fields[14])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="calls per command and way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = folder / "maturity.toml"
        cfg.write_text(f'[store]\nurl = "sqlite:///{folder / "m.db"}"\n', encoding="utf-8")
        base = [*clirun.MATURITY, "--config", str(cfg)]
        subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True)
        server = clirun._server()
        assert server is not None, "unset MATURITY_TEST_NO_ZYGOTE"
        print(f"{'command':<14} {'way':<12} {'wall median':>12} {'CPU median':>11}")
        for command in COMMANDS:
            results: dict[str, tuple[list[float], list[float]]] = {
                "interpreter": ([], []),
                "fork server": ([], []),
            }
            for _ in range(args.runs):
                for way in results:
                    if way == "interpreter":
                        before = resource.getrusage(resource.RUSAGE_CHILDREN)
                        start = time.perf_counter()
                        subprocess.run([*base, *command], capture_output=True, cwd=folder)
                        wall = time.perf_counter() - start
                        after = resource.getrusage(resource.RUSAGE_CHILDREN)
                        cpu = (after.ru_utime - before.ru_utime) + (
                            after.ru_stime - before.ru_stime
                        )
                    else:
                        cpu_before = _children_cpu_of(server.proc.pid)
                        start = time.perf_counter()
                        clirun.run([*base, *command], capture_output=True, cwd=folder)
                        wall = time.perf_counter() - start
                        cpu = _children_cpu_of(server.proc.pid) - cpu_before
                    results[way][0].append(wall)
                    results[way][1].append(cpu)
            for way, (walls, cpus) in results.items():
                name = " ".join(command)
                wall_ms = statistics.median(walls) * 1000
                cpu_ms = statistics.median(cpus) * 1000
                print(f"{name:<14} {way:<12} {wall_ms:>9.0f} ms {cpu_ms:>8.0f} ms")
        load = os.getloadavg()[0]
        print(f"load average (1 min) at the end: {load:.1f}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
