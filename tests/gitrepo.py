"""A small factory for real git repositories with fixed identities and dates."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

_START = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


class GitRepo:
    """A repository under ``path``; every commit gets the next fixed date and a known author."""

    def __init__(self, path: Path, branch: str = "main", *, bare: bool = False) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.clock = _START
        self.git("init", "-q", "-b", branch, *(["--bare"] if bare else []))

    def env(
        self,
        when: dt.datetime,
        name: str | bytes = "Alice Example",
        email: str = "alice@example.com",
    ) -> dict[str, str | bytes]:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S%z")
        env: dict[str, str | bytes] = {k: v for k, v in os.environ.items()}
        env.update(
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_AUTHOR_DATE=stamp,
            GIT_COMMITTER_NAME="Committer Bot",
            GIT_COMMITTER_EMAIL="bot@example.com",
            GIT_COMMITTER_DATE=stamp,
        )
        return env

    def git(
        self, *args: str, env: dict[str, str | bytes] | None = None, input: bytes | None = None
    ) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            env=env or self.env(self.clock),  # type: ignore[arg-type]
            input=input,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode("utf-8", "replace")

    def tick(self, hours: float = 7) -> dt.datetime:
        self.clock += dt.timedelta(hours=hours)
        return self.clock

    def commit(
        self,
        message: str | bytes,
        files: dict[str, str | bytes | None] | None = None,
        *,
        name: str | bytes = "Alice Example",
        email: str = "alice@example.com",
        tz_hours: float | None = None,
        encoding: str | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Write ``files`` (None deletes), commit everything, return the new sha."""
        for rel, content in (files or {}).items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        self.git("add", "-A")
        when = self.tick()
        if tz_hours is not None:
            when = when.astimezone(dt.timezone(dt.timedelta(hours=tz_hours)))
        msg = message if isinstance(message, bytes) else message.encode()
        extra = ["-c", f"i18n.commitEncoding={encoding}"] if encoding else []
        self.git(
            *extra,
            "commit",
            "-q",
            "--no-verify",
            "-F",
            "-",
            *(["--allow-empty"] if allow_empty else []),
            env=self.env(when, name, email),
            input=msg,
        )
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", ref).strip()

    def checkout(self, branch: str, *, new: bool = False) -> None:
        self.git("checkout", "-q", *(["-b"] if new else []), branch)

    def merge(self, branch: str, message: str) -> str:
        when = self.tick()
        self.git("merge", "-q", "--no-ff", "-m", message, branch, env=self.env(when))
        return self.head()

    def tag(self, name: str, *, annotated: bool = False, ref: str = "HEAD") -> None:
        when = self.tick(1)
        if annotated:
            # git takes the tagger from the committer identity.
            env = self.env(when)
            env.update(GIT_COMMITTER_NAME="Rel Eng", GIT_COMMITTER_EMAIL="releng@example.com")
            self.git("tag", "-a", name, "-m", f"release {name}", ref, env=env)
        else:
            self.git("tag", name, ref, env=self.env(when))


def build_rich_repo(path: Path) -> GitRepo:
    """A repository with merges, renames, binary files, non-UTF-8 text, tags and time zones."""
    repo = GitRepo(path)
    repo.commit("Initial commit PAY-1", {"README.md": "# svc\n", "src/app.py": "print(1)\n" * 20})
    repo.commit(
        "Add tests and CI\n\nRefs PAY-2 and OPS-17, see UTF-8 docs",
        {
            "tests/test_app.py": "def test(): pass\n",
            ".github/workflows/ci.yml": "on: push\n",
            "Dockerfile": "FROM python\n",
        },
        tz_hours=-5,
    )
    repo.commit("Add logo", {"assets/logo.png": bytes(range(256)) * 8})
    repo.tag("v1.0.0", annotated=True)
    repo.checkout("feature/rename", new=True)
    repo.git("mv", "src/app.py", "src/main.py")
    repo.commit("Rename app to main PAY-3", {"src/main.py": "print(1)\n" * 20 + "print(2)\n"})
    repo.commit(
        "Caf\xe9 in latin-1 with header".encode("latin-1"),
        {"docs/guide.rst": "Guide\n=====\n"},
        name="Jos\xe9 Garc\xeda".encode("latin-1"),
        email="jose@example.com",
        encoding="ISO-8859-1",
    )
    repo.commit(
        b"Broken bytes \xff\xfe without header",
        {"infra/main.tf": 'resource "x" "y" {}\n'},
        name=b"M\xfcller",
        email="mueller@example.com",
    )
    repo.checkout("main")
    repo.commit("Hotfix on main", {"src/hot.py": "x = 1\n"}, tz_hours=5.5)
    repo.merge("feature/rename", "Merge branch 'feature/rename' PAY-3")
    repo.commit("Swap logo", {"assets/logo.png": bytes(reversed(range(256))) * 8})
    repo.tag("v1.1.0")
    repo.checkout("wip", new=True)
    repo.commit("WIP experiment", {"k8s/deploy.yaml": "kind: Deployment\n"})
    repo.checkout("main")
    return repo
