"""Start-up time of the command line: ``maturity --help`` and a no-op ``maturity collect``.

Like hyperfine: each command runs ``--warmup`` times unmeasured, then ``--runs`` times, and the
wall time of each whole process is reported (mean, standard deviation, min, max). The no-op
collect reads one small git repository that is already collected, so it writes nothing: what
it measures is the cost of starting, importing, opening the store and asking git.

    .venv/bin/python bench/startup.py
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/startup.py   # another version

It runs ``maturity`` from the interpreter's own folder (``.venv/bin/maturity``), which imports
the package from ``PYTHONPATH`` first, so the same script measures any checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _command() -> list[str]:
    script = Path(sys.executable).parent / "maturity"
    return [str(script)] if script.exists() else [sys.executable, "-m", "maturity"]


def _repository(where: Path) -> Path:
    repo = where / "repo"
    repo.mkdir()

    def git(*args: str, **env: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo), *args],
            check=True,
            capture_output=True,
            env={**os.environ, **env},
        )

    git("init", "-q", "-b", "main")
    for n in range(20):
        (repo / f"f{n}.txt").write_text(f"{n}\n", encoding="utf-8")
        git("add", ".")
        stamp = f"2026-01-{n + 1:02d}T12:00:00+00:00"
        git(
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
            "commit",
            "-q",
            "-m",
            f"change {n}",
            GIT_AUTHOR_DATE=stamp,
            GIT_COMMITTER_DATE=stamp,
        )
    return repo


def _time(argv: list[str], env: dict[str, str], cwd: Path, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maturity-startup-") as tmp:
        where = Path(tmp)
        repo = _repository(where)
        config = where / "maturity.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{where / "maturity.db"}"\n\n'
            f'[[teams]]\nname = "bench"\nrepositories = ["{repo}"]\n',
            encoding="utf-8",
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MATURITY_") and k != "VIRTUAL_ENV"
        }
        env["MATURITY_CONFIG"] = str(config)
        base = _command()
        subprocess.run([*base, "collect"], check=True, capture_output=True, env=env, cwd=where)
        cases = {
            "maturity --help": [*base, "--help"],
            "maturity collect (one repository, nothing new)": [*base, "collect"],
        }
        print(f"{sys.version.split()[0]}, {args.runs} runs after {args.warmup} warm-up runs")
        print("| command | mean (s) | sd (s) | min (s) | max (s) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, argv in cases.items():
            times = _time(argv, env, where, args.runs, args.warmup)
            print(
                f"| `{name}` | {statistics.mean(times):.3f} | {statistics.stdev(times):.3f} "
                f"| {min(times):.3f} | {max(times):.3f} |"
            )


if __name__ == "__main__":
    main()
