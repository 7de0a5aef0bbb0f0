"""Time git collection against its physical limit and against PyDriller, in one run.

On one repository, one after another: the plain ``git log`` the collector runs (same options,
read through a pipe and thrown away), ``maturity collect`` into a fresh SQLite store, a second
collection with nothing new (as a whole command, and in-process for the repository alone),
and PyDriller reading the same commits with their insertions and deletions. PyDriller runs for
at most ``--pydriller-budget`` seconds; if it does not finish, its per-commit rate is measured
on the commits it read and the full time is extrapolated (said so in the output).

    python bench/git_collect.py --repo bench/.work/repo100k
    python bench/git_collect.py --repo /work/.mirror/psf+requests/...  --label requests
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.git import log as git_log  # noqa: E402
from maturity import wiring  # noqa: E402

#: the refs the collector walks (a GitHub mirror's refs/pull/* are not branches)
WALKED = ["--branches", "--tags", "--remotes"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def plain_git_log(repo: Path) -> tuple[float, float, int]:
    """Seconds for the collector's own git log over the same refs, output read and discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["git", "-C", str(repo), *git_log.LOG_OPTIONS, *git_log.LOG_ARGS, *WALKED],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    while proc.stdout.read(1 << 20):
        pass
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def _own_peak_mb(pid: int, peak: list[int], done: threading.Event) -> None:
    """Poll the process's own high-water mark (VmHWM): its children's memory is not in it."""
    while not done.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) // 1024)
        except (OSError, ValueError):
            pass
        done.wait(0.05)


def timed_child(cmd: list[str], env: dict[str, str]) -> tuple[float, int, float, int]:
    """Wall seconds, peak RSS in MB of the whole tree (git included), CPU seconds of the tree,
    and the peak RSS in MB of the child process alone (the Python collector)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    own = [0]
    done = threading.Event()
    watcher = threading.Thread(target=_own_peak_mb, args=(proc.pid, own, done), daemon=True)
    watcher.start()
    err = proc.stderr.read()
    done.set()
    watcher.join()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime, own[0]


def in_process_recollect(config: Path, db: Path) -> float:
    """Seconds of ``collectors.git.collect`` alone with nothing new (no interpreter start-up)."""
    import collectors.git
    from collectors.base import CollectContext
    from maturity import config as config_mod
    from maturity.store import engine as engine_mod

    cfg = config_mod.load(config)
    eng = engine_mod.make_engine(f"sqlite:///{db}")
    sessions = engine_mod.make_sessionmaker(eng)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        results = collectors.git.collect(CollectContext(cfg, sessions))
        best = min(best, time.perf_counter() - started)
        assert results[0].status == "success" and results[0].records == 0, results
    eng.dispose()
    return best


def in_process_full(repo: Path, work: Path) -> float:
    """Seconds of ``collectors.git.collect`` reading everything into a fresh, migrated store
    in the new folder ``work``."""
    import collectors.git
    from collectors.base import CollectContext
    from maturity import config as config_mod
    from maturity import teams
    from maturity.store import engine as engine_mod
    from maturity.store import migrate

    folder = work
    folder.mkdir()
    config = folder / "maturity.toml"
    config.write_text(f'[[teams]]\nname = "bench"\nrepositories = [{json.dumps(str(repo))}]\n')
    cfg = config_mod.load(config)
    url = f"sqlite:///{folder / 'maturity.db'}"
    migrate.upgrade(url)
    eng = engine_mod.make_engine(url)
    sessions = engine_mod.make_sessionmaker(eng)
    with engine_mod.session_scope(sessions) as s:
        teams.sync(s, cfg)
    started = time.perf_counter()
    results = collectors.git.collect(CollectContext(cfg, sessions))
    elapsed = time.perf_counter() - started
    assert results[0].status == "success", results
    eng.dispose()
    return elapsed


def pydriller_rate(repo: Path, budget_s: float, total: int) -> tuple[int, float, bool]:
    """(commits read, seconds, finished) of PyDriller reading insertions and deletions."""
    from pydriller import Repository

    started = time.perf_counter()
    n = 0
    for commit in Repository(str(repo), include_refs=True).traverse_commits():
        _ = commit.insertions, commit.deletions
        n += 1
        if time.perf_counter() - started > budget_s:
            return n, time.perf_counter() - started, n >= total
    return n, time.perf_counter() - started, True


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{_git(ROOT, '--version').strip()}, load average {load:.1f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--label", default=None)
    parser.add_argument("--pydriller-budget", type=float, default=120.0)
    args = parser.parse_args()
    repo = args.repo.resolve()
    label = args.label or repo.name
    total = int(_git(repo, "rev-list", *WALKED, "--count"))
    print(f"# {label}: {total} commits; {machine()}", flush=True)

    plain_git_log(repo)  # warm the page cache, so every contender reads from memory
    # Best of three for both contenders, taken in turns so that both meet the same load: the
    # machine is shared, and the least disturbed run of each counts.
    work = Path(tempfile.mkdtemp(prefix="bench-git-", dir=ROOT / "bench" / ".work"))
    cmd = [sys.executable, "-m", "maturity", "collect", "--source", "git"]
    plains, fulls_in, fulls = [], [], []
    for i in range(3):
        plains.append(plain_git_log(repo))
        fulls_in.append(in_process_full(repo, work / f"in-process-{i}"))
        config = work / f"cli-{i}" / "maturity.toml"
        config.parent.mkdir()
        config.write_text(
            f'[store]\nurl = "sqlite:///maturity.db"\n[[teams]]\nname = "bench"\n'
            f"repositories = [{json.dumps(str(repo))}]\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MATURITY_CONFIG": str(config)}
        env.pop("MATURITY_DATABASE_URL", None)
        fulls.append(timed_child(cmd, env))
        print(
            f"round {i + 1}: git log {plains[-1][0]:.2f}s, in-process {fulls_in[-1]:.2f}s, "
            f"command {fulls[-1][0]:.2f}s",
            flush=True,
        )
    plain, plain_cpu, git_rss = min(plains)
    full_in = min(fulls_in)
    full, _, full_cpu, _ = min(fulls)
    rss = max(f[1] for f in fulls)
    own_rss = max(f[3] for f in fulls)
    print(f"plain git log: {plain:.2f}s, CPU {plain_cpu:.2f}s, peak RSS {git_rss} MB", flush=True)
    print(
        f"maturity collect (full): {full:.2f}s, CPU {full_cpu:.2f}s, "
        f"peak RSS {own_rss} MB (Python), {rss} MB (largest of the tree, git log's)",
        flush=True,
    )
    again, _, _, _ = timed_child(cmd, env)
    print(f"maturity collect (nothing new, whole command): {again:.2f}s", flush=True)
    in_proc = in_process_recollect(config, config.parent / "maturity.db")
    print(f"full collection in-process: {full_in:.2f}s", flush=True)
    print(f"re-collection in-process (per repository): {in_proc:.3f}s", flush=True)
    startup, _, _, _ = timed_child([sys.executable, "-m", "maturity", "--help"], env)

    n, seconds, finished = pydriller_rate(repo, args.pydriller_budget, total)
    rate = n / seconds
    # PyDriller walks --all (a mirror's pull-request refs too): compare per commit.
    pyd_full = total / rate
    how = (
        f"all {n} commits in {seconds:.0f}s"
        if finished
        else f"{n} commits in {seconds:.0f}s, extrapolated"
    )
    print(f"pydriller: {rate:.0f} commits/s ({how}): {pyd_full:.0f}s for all", flush=True)

    print()
    print(f"| {label} ({total:,} commits) | wall s | ratio | CPU s |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| plain `git log`, the collector's options and refs | {plain:.2f} | 1.00 "
        f"| {plain_cpu:.2f} |"
    )
    print(
        f"| `maturity collect` full, fresh SQLite | {full:.2f} | {full / plain:.2f} x git log "
        f"| {full_cpu:.2f} |"
    )
    print(
        f"| full collection in-process (no interpreter start-up) | {full_in:.2f} | "
        f"{full_in / plain:.2f} x git log | |"
    )
    print(
        f"| PyDriller, insertions + deletions ({how}) | {pyd_full:.0f} | "
        f"{pyd_full / full:.0f} x the command, {pyd_full / full_in:.0f} x in-process | |"
    )
    print(f"| re-collection, nothing new: whole command | {again:.2f} | start-up {startup:.2f} | |")
    print(f"| re-collection, nothing new: per repository in-process | {in_proc:.3f} | | |")
    print(f"| peak RSS of the collector (the Python process) | {own_rss} MB | | |")
    print(f"| peak RSS of its `git log` (= plain git log's {git_rss} MB) | {rss} MB | | |")


if __name__ == "__main__":
    wiring.wire()  # configurations name the collectors' sources
    main()
