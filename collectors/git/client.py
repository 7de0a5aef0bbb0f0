"""Open a repository for collection: a local path as it is, a URL as a mirror in the cache.

Also reads the refs (branches, tags, remote-tracking branches) and the default branch, each
with one ``git`` process, so that what the log walks is exactly what the refs point at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from collectors.base import CollectorError

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/]+@[^/]+:")
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def redact(url: str) -> str:
    """A URL as it may be shown: any user or token before the host is masked."""
    return _USERINFO.sub(r"\1***@", url)


def git_env(location: Path | None = None) -> dict[str, str]:
    """The environment of every git process: no prompts, no pager, no discovery above the repo."""
    env = dict(os.environ)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_PAGER="cat",
        LC_ALL="C",
        GIT_OPTIONAL_LOCKS="0",
    )
    # ssh must fail rather than ask about a host key or a passphrase.
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if location is not None:
        # A folder that is not a repository must fail, not silently use a repository above it.
        env["GIT_CEILING_DIRECTORIES"] = str(location.parent)
    return env


def run_git(repo: Path, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
    """Run one git command in ``repo`` and return its standard output as bytes."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=input,
        capture_output=True,
        env=git_env(repo),
        check=False,
    )
    if check and proc.returncode != 0:
        raise CollectorError(f"git {args[0]} failed in {repo}: {_first_line(proc.stderr)}")
    return proc.stdout


def _first_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].removeprefix("fatal: ").strip() if lines else "no message"


def is_url(location: str) -> bool:
    return bool(_URL.match(location))


def cache_path(cache_dir: Path, url: str) -> Path:
    """Where the mirror of ``url`` lives: a readable name plus a hash of the whole URL."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "-", tail) or "repo"
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return cache_dir / f"{tail}-{digest}.git"


def open_repository(location: str, cache_dir: Path) -> Path:
    """A local git directory to read ``location`` from, cloning or fetching a URL first.

    Raises:
        CollectorError: the path is not a repository, or the URL cannot be cloned or fetched.
    """
    if is_url(location):
        return _mirror(location, cache_dir)
    path = Path(location)
    if not path.exists():
        raise CollectorError(f"{location}: no such folder")
    if not path.is_dir():
        raise CollectorError(f"{location}: not a folder, so not a git repository")
    proc = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--git-dir"],
        capture_output=True,
        env=git_env(path),
        check=False,
    )
    if proc.returncode != 0:
        raise CollectorError(f"{location}: not a git repository")
    return path


def _mirror(url: str, cache_dir: Path) -> Path:
    target = cache_path(cache_dir, url)
    if target.exists():
        proc = subprocess.run(
            ["git", "-C", str(target), "fetch", "--prune", "--quiet", "origin"],
            capture_output=True,
            env=git_env(target),
            check=False,
        )
        if proc.returncode != 0:
            raise CollectorError(f"cannot fetch {redact(url)}: {redact(_first_line(proc.stderr))}")
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Clone beside the target and rename: a clone killed halfway never looks like a mirror.
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run(
        ["git", "clone", "--mirror", "--quiet", url, str(partial)],
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise CollectorError(f"cannot clone {redact(url)}: {redact(_first_line(proc.stderr))}")
    partial.rename(target)
    return target


@dataclass(frozen=True)
class Ref:
    name: str  # full ref name: refs/heads/main
    sha: str  # the commit it points at (tags peeled)
    object_type: str  # commit or tag (annotated)
    committed_at: dt.datetime | None
    tagged_at: dt.datetime | None
    tagger_email: str | None


def _raw_date(value: str) -> dt.datetime | None:
    """``1700000000 +0100`` (git's raw date) as an aware UTC datetime."""
    if not value.strip():
        return None
    return dt.datetime.fromtimestamp(int(value.split()[0]), dt.UTC)


_REF_FORMAT = "%00".join(
    [
        "%(refname)",
        "%(objecttype)",
        "%(objectname)",
        "%(*objecttype)",
        "%(*objectname)",
        "%(committerdate:raw)",
        "%(*committerdate:raw)",
        "%(taggerdate:raw)",
        "%(taggeremail)",
    ]
)


def list_refs(repo: Path) -> list[Ref]:
    """Every branch, tag and remote-tracking branch that points (perhaps via a tag) at a commit."""
    out = run_git(
        repo,
        "for-each-ref",
        f"--format={_REF_FORMAT}",
        "refs/heads",
        "refs/tags",
        "refs/remotes",
    )
    refs = []
    deep: list[tuple[str, str, str, str]] = []  # tags of tags: name, tag object, date, tagger
    for line in out.decode("utf-8", "replace").splitlines():
        fields = line.split("\0")
        if len(fields) != 9:
            continue
        name, otype, oid, ptype, poid, cdate, pcdate, tdate, temail = fields
        if name.startswith("refs/remotes/") and name.endswith("/HEAD"):
            continue  # a symbolic pointer to another remote branch
        if otype == "commit":
            refs.append(Ref(name, oid, otype, _raw_date(cdate), None, None))
        elif otype == "tag" and ptype == "commit":
            refs.append(
                Ref(name, poid, otype, _raw_date(pcdate), _raw_date(tdate), temail.strip("<>"))
            )
        elif otype == "tag" and ptype == "tag":
            deep.append((name, oid, tdate, temail))
        # a tag of a tree or a blob (git.git's v2.6.11-tree) names no commit: skipped on purpose
    if deep:
        commits = _peel_to_commits([oid for _, oid, _, _ in deep], repo)
        for name, oid, tdate, temail in deep:
            found = commits.get(oid)
            if found is not None:  # else it ends at a tree or a blob: skipped as above
                sha, peeled_at = found
                refs.append(Ref(name, sha, "tag", peeled_at, _raw_date(tdate), temail.strip("<>")))
    return refs


def _peel_to_commits(tags: list[str], repo: Path) -> dict[str, tuple[str, dt.datetime | None]]:
    """Tag objects peeled through every tag they name: those that end at a commit, with the
    commit and its committer date (git.git's ``v1.0rc1`` is a tag of a tag of a commit)."""
    out = run_git(
        repo,
        "cat-file",
        "--batch-check=%(objectname) %(objecttype)",
        input="".join(f"{oid}^{{}}\n" for oid in tags).encode(),
    )
    peeled: dict[str, str] = {}
    for oid, line in zip(tags, out.decode().splitlines(), strict=False):
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            peeled[oid] = parts[0]
    if not peeled:
        return {}
    dates = run_git(
        repo,
        "log",
        "--no-walk=unsorted",
        "--format=%H %cd",
        "--date=raw",
        *sorted(set(peeled.values())),
    )
    when: dict[str, dt.datetime | None] = {}
    for line in dates.decode().splitlines():
        sha, _, raw = line.partition(" ")
        when[sha] = _raw_date(raw)
    return {oid: (sha, when.get(sha)) for oid, sha in peeled.items()}


def default_branch(repo: Path, heads: set[str], configured: str | None) -> str | None:
    """The default branch: as configured, else where HEAD points, else main or master."""
    if configured:
        return configured
    proc = subprocess.run(
        ["git", "-C", str(repo), "symbolic-ref", "--quiet", "HEAD"],
        capture_output=True,
        env=git_env(repo),
        check=False,
    )
    head = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode == 0 and head.startswith("refs/heads/"):
        return head.removeprefix("refs/heads/")
    for name in ("main", "master"):
        if name in heads:
            return name
    return None


def existing_commits(repo: Path, shas: list[str]) -> list[str]:
    """The shas among ``shas`` that are still commits in ``repo`` (one ``cat-file`` process)."""
    if not shas:
        return []
    out = run_git(
        repo,
        "cat-file",
        "--batch-check=%(objectname) %(objecttype)",
        input=("\n".join(shas) + "\n").encode(),
    )
    found = []
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            found.append(parts[0])
    return found


def rev_list(repo: Path, include: list[str], exclude: list[str]) -> list[str]:
    """Commits reachable from ``include`` and not from ``exclude`` (revisions on stdin)."""
    if not include:
        return []
    # git 2.39 takes no options on stdin, so exclusions are written as ^sha.
    revs = "".join(f"{sha}\n" for sha in include) + "".join(f"^{sha}\n" for sha in exclude)
    out = run_git(repo, "rev-list", "--stdin", input=revs.encode())
    return out.decode().split()
