"""Start-up time of the command line: ``maturity --help`` and a no-op ``maturity collect``.

Like hyperfine: each command runs ``--warmup`` times unmeasured, then ``--runs`` times, and the
wall time of each whole process is reported (median, mean, standard deviation, min, max), with
its CPU time (user + system), which a machine busy with other work inflates less. The no-op
collect (``maturity collect`` with ``MATURITY_CONFIG`` naming a configuration of one team and
one local git repository of 20 commits, SQLite store) reads a repository that is already
collected, so it writes nothing: what it measures is the cost of starting, importing, opening
the store and asking git.

The commands run as installed: ``PYTHONDONTWRITEBYTECODE`` is dropped from their environment, so
that the set-up run and the warm-up runs leave the bytecode caches that pip leaves on an install,
and no measured run compiles the sources again.

    .venv/bin/python bench/startup.py
    .venv/bin/python bench/startup.py --checkout before=/path/to/older/checkout

It runs ``maturity`` from the interpreter's own folder (``.venv/bin/maturity``); with
``--checkout`` it also runs it with that checkout on ``PYTHONPATH`` (imported first), the runs
of every checkout interleaved, so that a ratio is measured under one and the same load.
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


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="Also time the package of this checkout (on PYTHONPATH), runs interleaved with "
        "this one's so that both see the same load; repeatable.",
    )
    args = parser.parse_args()
    checkouts = {"this checkout": None, **dict(c.split("=", 1) for c in args.checkout)}
    base = _command()
    cases = {
        "maturity --help": ["--help"],
        "maturity collect (one repository, nothing new)": ["collect"],
    }
    with tempfile.TemporaryDirectory(prefix="maturity-startup-") as tmp:
        where = Path(tmp)
        repo = _repository(where)
        setups = {}
        for n, (label, path) in enumerate(checkouts.items()):
            folder = where / f"checkout{n}"
            folder.mkdir()
            config = folder / "maturity.toml"
            config.write_text(
                f'[store]\nurl = "sqlite:///{folder / "maturity.db"}"\n\n'
                f'[[teams]]\nname = "bench"\nrepositories = ["{repo}"]\n',
                encoding="utf-8",
            )
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith("MATURITY_")
                and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
            }
            env["MATURITY_CONFIG"] = str(config)
            if path is not None:
                env["PYTHONPATH"] = str(Path(path).resolve())
            subprocess.run([*base, "collect"], check=True, capture_output=True, env=env, cwd=folder)
            setups[label] = (env, folder)
        print(
            f"Python {sys.version.split()[0]}, {args.runs} runs after {args.warmup} warm-up runs, "
            f"load average {os.getloadavg()[0]:.1f} at the start; command: {' '.join(base)}"
        )
        print(
            "| command | checkout | median (s) | mean (s) | sd (s) | min (s) | max (s) "
            "| CPU median (s) |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, extra in cases.items():
            times: dict[str, list[tuple[float, float]]] = {label: [] for label in setups}
            for n in range(args.warmup + args.runs):
                for label, (env, folder) in setups.items():
                    took = _timed([*base, *extra], env, folder)
                    if n >= args.warmup:
                        times[label].append(took)
            for label, found in times.items():
                wall = [w for w, _ in found]
                cpu = statistics.median(c for _, c in found)
                print(
                    f"| `{name}` | {label} | {statistics.median(wall):.3f} "
                    f"| {statistics.mean(wall):.3f} | {statistics.stdev(wall):.3f} "
                    f"| {min(wall):.3f} | {max(wall):.3f} | {cpu:.3f} |"
                )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
