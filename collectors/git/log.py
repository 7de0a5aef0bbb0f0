"""One streaming ``git log`` per repository, parsed as it arrives into rows of ``commits``.

git prints, with ``-z``, one NUL-terminated header per commit (our ``--format``, starting with
a 0x1E byte) followed by its numstat entries, each NUL-terminated: ``added\\tdeleted\\tpath``,
or for a rename ``added\\tdeleted\\t`` then the old and the new path as two more entries.
Binary files show ``-`` for both counts. A merge shows its difference from its first parent
(what it brought in): its files are kept in the row's ``files`` for path rules, but its line and
file counts stay zero (the merged commits have them already). Nothing is kept per commit beyond
the row being built.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from collectors.base import CollectorError
from collectors.git import classify as classify_mod
from collectors.git.client import git_env

#: %ad/%cd in --date=raw: "<epoch seconds> <+hhmm>"
FORMAT = "%x1e%H%x1f%P%x1f%ae%x1f%ad%x1f%cd%x1f%B"

#: every option that changes what a commit's numstat is; the benchmark reuses them.
LOG_OPTIONS = [
    "-c",
    "i18n.logOutputEncoding=UTF-8",
    "-c",
    "log.showSignature=false",
    "-c",
    "diff.renames=true",
]
LOG_ARGS = [
    "log",
    "-z",
    "--numstat",
    "--root",
    "--find-renames",
    "--diff-merges=first-parent",
    "--no-ext-diff",
    "--no-textconv",
    "--date=raw",
    f"--format={FORMAT}",
]

# Upper-case project keys as Jira and most trackers make them (PAY-123); a few words that look
# like keys but name standards are left out.
_ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]{1,9}-[1-9][0-9]{0,6})(?![A-Za-z0-9-])")
_NOT_ISSUES = frozenset({"UTF", "SHA", "ISO", "RFC", "CVE", "PEP", "TLS", "SSL", "HTTP", "X509"})

_PIPE_SIZE = 1 << 20
_CHUNK = 1 << 16


def issue_keys(message: str) -> str | None:
    """The issue keys named in ``message``, in order of first mention, space separated."""
    found: dict[str, None] = {}
    for key in _ISSUE_KEY.findall(message):
        if key.split("-", 1)[0] not in _NOT_ISSUES:
            found[key] = None
    return " ".join(found) or None


def _parse_date(raw: bytes) -> tuple[dt.datetime, int]:
    seconds, _, zone = raw.partition(b" ")
    offset = 0
    if len(zone) == 5:
        offset = int(zone[1:3]) * 60 + int(zone[3:5])
        if zone[:1] == b"-":
            offset = -offset
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC), offset


@lru_cache(maxsize=65_536)
def _kinds(path: bytes) -> classify_mod.Kinds:
    return classify_mod.classify(path.decode("utf-8", "replace"))


class LogProcess:
    """A running ``git log`` read through a pipe enlarged to 1 MiB.

    git writes full buffers (``GIT_FLUSH=0``) and runs ahead of the parser by up to the pipe's
    size, so git and Python work at the same time on two cores without a thread between them.
    Its standard error goes to a file: a pipe nobody reads could fill up and stall git.
    """

    def __init__(self, repo: Path, include: list[str], exclude: list[str]) -> None:
        # Closed in close(): it lives as long as the process.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), *LOG_OPTIONS, *LOG_ARGS, "--stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            # GIT_FLUSH=0: git writes full buffers, not one small write (and wake-up) a commit.
            env={**git_env(repo), "GIT_FLUSH": "0"},
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # A bigger pipe lets git run further ahead; where refused, the default pipe works too.
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        revs = "".join(f"{sha}\n" for sha in include) + "".join(f"^{sha}\n" for sha in exclude)
        # git reads every revision before it prints anything, so this write cannot deadlock.
        self.proc.stdin.write(revs.encode())
        self.proc.stdin.close()
        self._closed = False
        self._eof = False

    def chunks(self) -> Iterator[bytes]:
        """git's output as it arrives, in pieces of at most 64 KiB."""
        stdout = self.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while True:
            # Below malloc's mmap threshold: a bigger request costs a fresh mapping a read.
            data = os.read(fd, _CHUNK)
            if not data:
                self._eof = True
                return
            yield data

    def close(self) -> None:
        """Wait for git; raise CollectorError if it failed. Kills it if not read to the end."""
        if self._closed:
            return
        self._closed = True
        if not self._eof and self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.seek(0)
        message = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        self._stderr.close()
        if code not in (0, -9):
            raise CollectorError(f"git log failed: {message[-1] if message else code}")


def tokens(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The NUL-terminated tokens of a byte stream."""
    rest = b""
    for data in chunks:
        parts = (rest + data).split(b"\0") if rest else data.split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def parse(
    chunks: Iterable[bytes],
    *,
    author_hash: Callable[[str], str],
    on_default: Callable[[str], bool | None],
) -> Iterator[dict[str, Any]]:
    """Rows of ``commits`` (without ``repository_id``) from ``git log`` output, as they arrive.

    Each row has ``files`` besides the columns of ``commits``: (path, added, deleted) of every
    file the commit changed (binary: 0 and 0; a rename: the new path, then the old with 0).
    """
    row: dict[str, Any] | None = None
    hashes: dict[bytes, str] = {}
    adds = dels = files = binary = tests = ci = infra = docs = 0
    changed: list[tuple[str, int, int]] = []
    rename_left = 0  # path entries still expected after an empty-path (rename) numstat entry
    rename_old = b""
    lines = (0, 0)
    merge = False
    for tok in tokens(chunks):
        if rename_left:
            rename_left -= 1
            if rename_left == 1:
                rename_old = tok
                continue
            changed.append((_path(tok), *lines))
            if rename_old != tok:
                changed.append((_path(rename_old), 0, 0))
            if rename_left == 0 and not merge:
                kinds = _kinds(tok)
                if kinds is not classify_mod.NONE:
                    tests += kinds.test
                    ci += kinds.ci
                    infra += kinds.infra
                    docs += kinds.docs
            continue
        if tok[:1] == b"\x1e":
            if row is not None:
                row.update(
                    additions=adds,
                    deletions=dels,
                    files_changed=files,
                    binary_files=binary,
                    test_files=tests,
                    ci_files=ci,
                    infra_files=infra,
                    docs_files=docs,
                    files=changed,
                )
                yield row
            adds = dels = files = binary = tests = ci = infra = docs = 0
            changed = []
            row = _header(tok, hashes, author_hash, on_default)
            merge = row["is_merge"]
            continue
        tok = tok.lstrip(b"\n")
        if not tok:
            continue
        if row is None:
            raise CollectorError("git log printed a file before any commit")
        added, deleted, path = tok.split(b"\t", 2)
        lines = (0, 0) if added == b"-" else (int(added), int(deleted))
        if not path:
            # A rename: the old and the new path follow; it is one file, judged by the new.
            rename_left = 2
        else:
            changed.append((_path(path), *lines))
        if merge:
            continue
        files += 1
        if added == b"-":
            binary += 1
        else:
            adds += lines[0]
            dels += lines[1]
        if not path:
            continue
        kinds = _kinds(path)
        if kinds is not classify_mod.NONE:
            tests += kinds.test
            ci += kinds.ci
            infra += kinds.infra
            docs += kinds.docs
    if row is not None:
        row.update(
            additions=adds,
            deletions=dels,
            files_changed=files,
            binary_files=binary,
            test_files=tests,
            ci_files=ci,
            infra_files=infra,
            docs_files=docs,
            files=changed,
        )
        yield row


@lru_cache(maxsize=65_536)
def _path(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _header(
    tok: bytes,
    hashes: dict[bytes, str],
    author_hash: Callable[[str], str],
    on_default: Callable[[str], bool | None],
) -> dict[str, Any]:
    try:
        sha_b, parents_b, email, adate, cdate, body_b = tok[1:].split(b"\x1f", 5)
    except ValueError:
        raise CollectorError("git log printed a commit header this parser does not know") from None
    sha = sha_b.decode("ascii")
    parents = parents_b.decode("ascii")
    who = hashes.get(email)
    if who is None:
        who = hashes[email] = author_hash(email.decode("utf-8", "replace"))
    authored_at, author_tz = _parse_date(adate)
    committed_at, committer_tz = _parse_date(cdate)
    body = body_b.decode("utf-8", "replace")
    subject = body.split("\n", 1)[0].strip()
    return {
        "sha": sha,
        "parents": parents,
        "author_hash": who,
        "authored_at": authored_at,
        "author_tz_offset": author_tz,
        "committed_at": committed_at,
        "committer_tz_offset": committer_tz,
        "is_merge": parents.count(" ") >= 1,
        "issue_keys": issue_keys(body),
        "subject": subject,
        "on_default_branch": on_default(sha),
    }
