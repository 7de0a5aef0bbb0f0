"""A newcomer's install: ``pip install .`` with no extras into a fresh virtual environment, then
every command of README's command table as a person runs it, outside the checkout.

Each command works, or says in one line what to install; none ends in a traceback. The package
comes from this checkout's path, never from an index (its dependencies do, through pip's cache).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# pip installs every dependency (from its cache when it can), then about 30 commands run: minutes
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.timeout(1800),
]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MATURITY_TEST_CHROMIUM", "/usr/bin/chromium")
#: what a missing browser must say, in one line, on the command line and in the web's 503
INSTALL_LINE = re.compile(r"apt-get install chromium.*MATURITY_CHROMIUM")


def readme_commands() -> dict[tuple[str, ...], set[str]]:
    """The command table of README.md: (command, subcommand) -> the --format values it names."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    found: dict[tuple[str, ...], set[str]] = {}
    for cell in re.findall(r"^\| `maturity ([^`]+)` \|", table, flags=re.M):
        words = cell.replace("\\|", "|").split()
        formats = set()
        if "--format" in words:
            formats = set(words[words.index("--format") + 1].split("|"))
        subs = words[1].split("|") if len(words) > 1 and re.fullmatch(r"[a-z|]+", words[1]) else []
        for sub in subs or [""]:
            found[(words[0], sub) if sub else (words[0],)] = formats
    return found


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str


class Newcomer:
    """A shell in a work folder outside the checkout, with only the clean venv on PATH."""

    def __init__(self, venv: Path, work: Path) -> None:
        self.venv, self.work = venv, work
        self.env = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "LANG": "C.UTF-8",
            "COLUMNS": "200",
            "MATURITY_CHROMIUM": CHROMIUM,
        }
        self.ran: list[Result] = []

    def run(self, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
        proc = subprocess.run(
            [str(self.venv / "bin" / "maturity"), *args],
            cwd=self.work,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        result = Result(args, proc.returncode, proc.stdout, proc.stderr)
        self.ran.append(result)
        assert "Traceback" not in proc.stderr + proc.stdout, f"{args}: {proc.stderr}"
        if ok:
            assert proc.returncode == 0, f"maturity {' '.join(args)}: {proc.stderr}"
        return result


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    base = tmp_path_factory.mktemp("newcomer")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # From the checkout's path: pip never looks our name up in an index. --no-compile: the
    # same files installed, their bytecode written as the commands import them (pip's compiling
    # of every module of every dependency, plotly's thousands included, took 10 s of 25).
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            str(ROOT),
        ],
        check=True,
        timeout=900,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    work = base / "work"
    work.mkdir()
    yield Newcomer(venv, work)


def _git(repo: Path, *args: str, when: dt.datetime | None = None) -> str:
    stamp = (when or dt.datetime.now(dt.UTC)).isoformat()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _repository_with_deployments(work: Path) -> tuple[Path, Path]:
    """A repository with five weeks of commits up to now, and its production deployments."""
    repo = work / "payments-api"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events = []
    for i in range(30):
        when = now - dt.timedelta(days=35 - i, hours=3)
        (repo / f"module_{i}.py").write_text(f"X = {i}\n")
        (repo / "tests").mkdir(exist_ok=True)
        (repo / "tests" / f"test_{i}.py").write_text(f"def test_{i}(): pass\n")
        _git(repo, "add", "-A", when=when)
        _git(repo, "commit", "-q", "-m", f"PAY-{i} change {i}", when=when)
        sha = _git(repo, "rev-parse", "HEAD")
        events.append(
            {
                "kind": "deployment",
                "id": f"deploy-{i}",
                "service": "payments-api",
                "environment": "production",
                "commit_sha": sha,
                "status": "failure" if i % 9 == 4 else "success",
                "started_at": (when + dt.timedelta(hours=2 + i % 5)).isoformat(),
                "trigger": "automated",
            }
        )
    path = work / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return repo, path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serve(newcomer: Newcomer, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(newcomer.venv / "bin" / "maturity"), "serve", "--port", str(port)],
        cwd=newcomer.work,
        env={**newcomer.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if _get(base + "/")[0] == 200:
                return proc, base
        except OSError:
            time.sleep(0.2)
    raise AssertionError("maturity serve did not answer")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return err


def test_clean_install_runs_every_readme_command(newcomer: Newcomer) -> None:
    n = newcomer
    table = readme_commands()
    run = n.run
    done: set[tuple[str, ...]] = set()
    formats_done: dict[tuple[str, ...], set[str]] = {}

    # init, then edit the file as a person would: our repository and its service
    assert "edit the teams" in run("init").out
    repo, events = _repository_with_deployments(n.work)
    config = n.work / "maturity.toml"
    text = config.read_text().replace('["../payments-api"]', f'["{repo}"]')
    config.write_text(
        text.replace('name = "payments"', 'name = "payments"\nservices = ["payments-*"]')
    )
    done.add(("init",))

    run("db", "upgrade")
    done.add(("db", "upgrade"))
    collected = run("collect")
    assert "payments-api" in collected.out and "success" in collected.out
    assert "unknown source 'svn'" in run("collect", "--source", "svn", ok=False).err
    done.add(("collect",))
    assert "ingested" in run("ingest", str(events)).out
    assert '"deployment"' in run("ingest", "--schema").out
    done.add(("ingest",))
    scored = run("score", "--backfill", "6")
    assert "scored 7 week(s)" in scored.out
    done.add(("score",))
    status = run("status")
    assert "payments" in status.out and "per week" in status.out
    done.add(("status",))
    for fmt in ("csv", "jsonl"):
        exported = run("export", "commits", "--format", fmt)
        assert "PAY-29" in exported.out
        formats_done.setdefault(("export",), set()).add(fmt)
    done.add(("export",))
    assert "Source control" in run("model", "show").out
    mine = n.work / "our-model.toml"
    mine.write_text('extends = "default"\n')
    assert "valid" in run("model", "check", str(mine)).out
    done |= {("model", "show"), ("model", "check")}

    # surveys: open a round, list, results (hidden below k), close
    opened = run("survey", "open", "--team", "payments", "--links", "3", "--k", "3")
    links = [line for line in opened.out.splitlines() if "#token=" in line]
    assert len(links) == 3
    round_id = links[0].split("/survey/")[1].split("#")[0]
    assert round_id in run("survey", "list").out
    assert "more needed" in run("survey", "results", round_id).out
    assert "closed" in run("survey", "close", round_id).out
    done |= {("survey", s) for s in ("open", "close", "list", "results")}

    # reports in every format, with the system's Chromium for the charts and the PDF
    for fmt in ("html", "md", "pdf"):
        out = n.work / f"retro.{fmt}"
        run("report", "--team", "payments", "--format", fmt, "--out", str(out))
        assert out.stat().st_size > 1000
        formats_done.setdefault(("report",), set()).add(fmt)
    assert (n.work / "retro.pdf").read_bytes().startswith(b"%PDF-")
    assert list((n.work / "retro-charts").glob("*.png"))
    run("report", "--all-teams", "--format", "html", "--out", str(n.work / "all"))
    done.add(("report",))

    # without a browser: the PDF says in one line what to install; Markdown falls back to tables
    gone = {"MATURITY_CHROMIUM": str(n.work / "no-chromium")}
    pdf = run("report", "--team", "payments", "--format", "pdf", env=gone, ok=False)
    assert pdf.code == 2 and len(pdf.err.strip().splitlines()) == 1
    assert INSTALL_LINE.search(pdf.err), pdf.err
    md = run("report", "--team", "payments", "--format", "md", "--out", "t.md", env=gone)
    assert "charts are given as tables" in (n.work / "t.md").read_text()
    assert INSTALL_LINE.search(md.err)

    # serve: every page answers; the PDF link works, and answers 503 with that line without it
    for env in ({}, gone):
        proc, base = _serve(n, env)
        try:
            for page in ("/", "/overview", "/teams/payments", "/model", "/environments"):
                assert _get(base + page)[0] == 200, page
            status_code, body = _get(base + "/teams/payments/report?format=pdf")
        finally:
            _stop(proc)
        if env:
            assert status_code == 503
            assert INSTALL_LINE.search(body.decode()), body[:300]
        else:
            assert status_code == 200 and body.startswith(b"%PDF-")
    done.add(("serve",))

    # scale-out needs PostgreSQL: on the newcomer's SQLite store it is refused in one line
    for command in ("worker", "schedule"):
        refused = run(command, ok=False)
        assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused
        assert "PostgreSQL" in refused.err
        done.add((command,))

    # the demo, from an installed package (no checkout: its own team is left out, and says so)
    demo = run("demo", "--dir", str(n.work / "demo"))
    assert "sample retrospective report" in demo.out
    done.add(("demo",))

    missing = set(table) - done
    assert not missing, f"README commands not run here: {missing}"
    for command, formats in table.items():
        if formats:
            assert formats <= formats_done.get(command, set()), (command, formats)
