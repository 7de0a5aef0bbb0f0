"""Generate a large git repository quickly with ``git fast-import``, for the git benchmark.

Realistic enough for numstat: every commit edits a few text files (lines changed, added and
removed), some add files, about one in a hundred renames one, about one in fifty rewrites a
binary file, and every twentieth change goes through a feature branch merged with a merge
commit. Tags mark every 500th commit on the main branch.

    python bench/gen_repo.py bench/.work/repo100k --commits 100000
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "request",
    "response",
    "handler",
    "service",
    "client",
    "config",
    "cache",
    "retry",
    "timeout",
    "payload",
    "token",
    "session",
    "user",
    "order",
    "invoice",
    "payment",
    "account",
    "ledger",
    "report",
]
DIRS = ["src/api", "src/core", "src/db", "src/web", "tests", "tests/api", "docs", "infra", "lib"]
EXTS = {"src": ".py", "tests": ".py", "docs": ".md", "infra": ".tf", "lib": ".go"}


def _line(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "\n"


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.files: dict[str, list[str]] = {}
        self.keys: list[str] = []  # the paths of ``files``, for cheap random picks
        self.touched: dict[str, bytes] = {}  # what the open feature branch changed
        self.mark = 0
        self.when = 1_500_000_000
        self.out: list[bytes] = []
        self.authors = [f"Dev {i} <dev{i}@example.com>" for i in range(40)]

    def _new_path(self) -> str:
        folder = self.rng.choice(DIRS)
        top = folder.split("/")[0]
        stem = f"{self.rng.choice(WORDS)}_{len(self.files)}"
        if top == "tests":
            stem = "test_" + stem
        # Modules of a few dozen files each, as in real trees (and cheap for fast-import).
        module = f"m{len(self.files) // 40}"
        return f"{folder}/{module}/{stem}{EXTS[top]}"

    def _edit(self, path: str) -> bytes:
        lines = self.files.get(path)
        if lines is None:
            lines = self.files[path] = []
            self.keys.append(path)
        rng = self.rng
        if not lines:
            lines.extend(_line(rng) for _ in range(rng.randint(5, 30)))
        else:
            for _ in range(rng.randint(1, 3)):
                lines[rng.randrange(len(lines))] = _line(rng)
            for _ in range(rng.randint(0, 3)):
                lines.insert(rng.randint(0, len(lines)), _line(rng))
            if len(lines) > 8 and rng.random() < 0.5:
                del lines[rng.randrange(len(lines))]
            while len(lines) > 80:  # files stay source-sized
                del lines[rng.randrange(len(lines))]
        return "".join(lines).encode()

    def commit(self, ref: str, parent: int | None, merge: int | None, message: str) -> int:
        rng = self.rng
        self.mark += 1
        self.when += rng.randint(60, 7200)
        author = rng.choice(self.authors)
        body = message.encode()
        head = [
            f"commit {ref}\nmark :{self.mark}\n",
            f"author {author} {self.when} +0100\ncommitter {author} {self.when} +0100\n",
            f"data {len(body)}\n",
        ]
        parts = ["".join(head).encode(), body, b"\n"]
        if parent is not None:
            parts.append(f"from :{parent}\n".encode())
        on_feature = ref != "refs/heads/main"
        if merge is not None:
            # fast-import takes the first parent's tree: bring the feature's files over.
            parts.append(f"merge :{merge}\n".encode())
            for path, data in self.touched.items():
                parts += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
            self.touched = {}
        else:
            changes = rng.randint(1, 6)
            for _ in range(changes):
                path = self._new_path() if not self.files or rng.random() < 0.05 else self._pick()
                data = self._edit(path)
                parts += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
                if on_feature:
                    self.touched[path] = data
            if not on_feature and len(self.files) > 10 and rng.random() < 0.01:
                old = self._pick()
                new = self._new_path()
                self.files[new] = self.files.pop(old)
                self.keys[self.keys.index(old)] = new
                parts.append(f"R {old} {new}\n".encode())
            if rng.random() < 0.02:
                blob = rng.randbytes(rng.randint(200, 4000))
                name = f"assets/img_{rng.randint(0, 30)}.png"
                parts += [f"M 100644 inline {name}\ndata {len(blob)}\n".encode(), blob, b"\n"]
                if on_feature:
                    self.touched[name] = blob
        parts.append(b"\n")
        self.out.append(b"".join(parts))
        return self.mark

    def _pick(self) -> str:
        # Newer files are edited more often, as in real projects.
        n = len(self.keys)
        return self.keys[min(n - 1, int(n * (1 - self.rng.random() ** 3)))]


def generate(path: Path, commits: int, seed: int = 7) -> float:
    """Create the repository at ``path``; returns the seconds it took."""
    started = time.perf_counter()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    gen = Generator(seed)
    proc = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    tip = None
    made = 0
    issue = 0
    while made < commits:
        if made % 20 == 19 and tip is not None and commits - made >= 4:
            branch = f"refs/heads/feature/f{made % 50}"
            ftip = None
            for k in range(2):
                issue += 1
                ftip = gen.commit(branch, tip if k == 0 else None, None, f"PAY-{issue} work {k}")
                made += 1
            tip = gen.commit("refs/heads/main", None, ftip, f"Merge {branch} PAY-{issue}")
            made += 1
        else:
            tip = gen.commit("refs/heads/main", None, None, f"change {made}: {_line(gen.rng)}")
            made += 1
            if made % 500 == 0:
                gen.out.append(f"reset refs/tags/v{made // 500}.0\nfrom :{tip}\n\n".encode())
        if len(gen.out) >= 2000:
            proc.stdin.write(b"".join(gen.out))
            gen.out.clear()
    gen.out.append(b"done\n")
    proc.stdin.write(b"".join(gen.out))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.path.exists():
        sys.exit(f"{args.path} exists; remove it first")
    seconds = generate(args.path, args.commits, args.seed)
    count = subprocess.run(
        ["git", "-C", str(args.path), "rev-list", "--all", "--count"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"generated {count} commits in {seconds:.1f}s at {args.path}")


if __name__ == "__main__":
    main()
