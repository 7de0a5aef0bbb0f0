"""The demo organisation: seven teams whose git histories differ the way real teams do; two of
them share one repository (a monorepo) and own their parts of it by path rules.

Everything is generated with ``git fast-import`` from a seeded random generator and fixed
dates, so the same seed always gives the same commits (the same shas) in a few seconds.
:func:`history` tells later steps (CI runs, deployments) exactly what was generated.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEED = 20_261_123
#: bump when the generator changes, so that existing demo folders are regenerated
VERSION = 2
#: the demo's history ends here (a fixed date keeps the shas identical on every machine)
END = dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.UTC)
WEEKS = 104
_MARKER = ".demo-generated.json"


@dataclass(frozen=True)
class Profile:
    """How a team works, as the generator plays it."""

    team: str
    repository: str
    key: str  # issue-tracker project key
    default_branch: str
    commits_per_week: float
    authors: int
    tz_hours: float
    feature_branches: float  # share of changes made on a branch and merged with a merge commit
    tests: float  # share of changes that touch tests
    ci: float  # share of changes that touch CI configuration
    infra: float  # share of changes that touch infrastructure code
    docs: float
    issue_keys: float  # share of messages that name an issue
    release_tags: str  # "every-merge", "monthly", "quarterly" or "none"
    has_ci: bool = True
    languages: tuple[str, ...] = ("py",)
    notes: str = ""
    #: a repository shared by several teams: (team, its path globs) each, ``team`` first; the
    #: generator changes files under every team's folder and under ``libs/`` (no team's)
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def teams(self) -> list[str]:
        """The teams that own the repository (or a part of it)."""
        return [t for t, _ in self.parts] or [self.team]


PROFILES: tuple[Profile, ...] = (
    Profile(
        "payments",
        "payments-api",
        "PAY",
        "main",
        14,
        7,
        1,
        0.85,
        0.8,
        0.12,
        0.1,
        0.1,
        0.95,
        "every-merge",
        notes="trunk-based with short feature branches, automated releases",
    ),
    Profile(
        "search",
        "search-service",
        "SRCH",
        "main",
        9,
        5,
        -5,
        0.6,
        0.55,
        0.06,
        0.05,
        0.08,
        0.6,
        "monthly",
        languages=("go",),
        notes="reviewed branches, monthly releases",
    ),
    Profile(
        "platform",
        "platform-infra",
        "OPS",
        "main",
        7,
        4,
        0,
        0.35,
        0.2,
        0.1,
        0.7,
        0.15,
        0.5,
        "quarterly",
        languages=("tf",),
        notes="Terraform, Dockerfiles and Ansible",
    ),
    Profile(
        "data",
        "data-pipelines",
        "DATA",
        "main",
        6,
        4,
        2,
        0.3,
        0.3,
        0.03,
        0.1,
        0.05,
        0.3,
        "quarterly",
        notes="some branches, tests now and then",
    ),
    Profile(
        "mobile",
        "mobile-app",
        "MOB",
        "master",
        8,
        3,
        5.5,
        0.0,
        0.04,
        0.0,
        0.0,
        0.02,
        0.0,
        "none",
        has_ci=False,
        languages=("kt",),
        notes="direct commits to master, no tags",
    ),
    Profile(
        "checkout",
        "shop-monorepo",
        "SHOP",
        "main",
        12,
        6,
        1,
        0.7,
        0.6,
        0.05,
        0.05,
        0.05,
        0.8,
        "monthly",
        notes="a monorepo: checkout and catalog own their services, libs/ is shared",
        parts=(("checkout", ("services/checkout/**",)), ("catalog", ("services/catalog/**",))),
    ),
)


def team_names() -> list[str]:
    """Every demo team (a shared repository's teams each), in the order of :data:`PROFILES`."""
    return [team for p in PROFILES for team in p.teams()]


_VERBS = ["Add", "Fix", "Update", "Refactor", "Remove", "Speed up", "Handle", "Document"]
_NOUNS = [
    "refund endpoint",
    "retry logic",
    "currency rounding",
    "search ranking",
    "index rebuild",
    "login flow",
    "push notifications",
    "cache invalidation",
    "rate limiter",
    "CSV export",
    "error messages",
    "pagination",
    "timeout handling",
    "audit log",
    "feature flag",
    "database migration",
    "health check",
    "metrics",
    "config loading",
    "dependency pins",
]


@dataclass
class GeneratedRepo:
    """What the generator made for one repository: enough to invent consistent CI and deploys."""

    team: str
    repository: str
    path: str
    default_branch: str
    #: (sha, committed_at ISO 8601) of every commit on the default branch's first-parent line
    default_commits: list[tuple[str, str]] = field(default_factory=list)
    #: (name, sha, tagged_at ISO 8601)
    tags: list[tuple[str, str, str]] = field(default_factory=list)
    #: (merge sha, merged_at, the branch's first commit at; ISO 8601) of every merged branch
    merges: list[tuple[str, str, str]] = field(default_factory=list)
    #: (sha, committed_at ISO 8601) of every commit of the merged branches
    branch_commits: list[tuple[str, str]] = field(default_factory=list)
    profile: dict[str, object] = field(default_factory=dict)


class _Writer:
    """Builds one fast-import stream; marks name commits until git gives them shas."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        self.p = profile
        self.rng = rng
        self.parts: list[bytes] = []
        self.mark = 0
        self.files: dict[str, list[str]] = {}
        self.touched: dict[str, bytes] = {}
        self.issue = 0
        self.tag_count = 0
        self.authors = [
            f"{profile.team.title()} Dev{i} <dev{i}@{profile.team}.example.com>"
            for i in range(1, profile.authors + 1)
        ]

    def _stamp(self, when: dt.datetime) -> str:
        offset = round(self.p.tz_hours * 60)
        sign = "+" if offset >= 0 else "-"
        return f"{int(when.timestamp())} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"

    def _source(self) -> str:
        ext = self.rng.choice(self.p.languages)
        folder = {"py": "src/app", "go": "internal/search", "tf": "modules", "kt": "app/src"}[ext]
        if self.p.parts:
            # a monorepo: mostly one team's service, now and then the shared libraries
            areas = [f"services/{team}/src" for team, _ in self.p.parts]
            folder = self.rng.choice([*areas, *areas, "libs/shared"])
        known = [f for f in self.files if f.startswith(folder) and "test" not in f.lower()]
        if known and self.rng.random() < 0.8:
            return self.rng.choice(known)
        return f"{folder}/{self.rng.choice(_NOUNS).replace(' ', '_')}.{ext}"

    def _test_for(self, source: str) -> str:
        stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        ext = source.rsplit(".", 1)[-1]
        if self.p.parts:  # next to the code, in the part of the team it belongs to
            base = source.rsplit("/src/", 1)[0] if "/src/" in source else source.rsplit("/", 1)[0]
            return f"{base}/tests/test_{stem}.py"
        return {
            "py": f"tests/test_{stem}.py",
            "go": f"internal/search/{stem}_test.go",
            "kt": f"app/src/test/{stem.title()}Test.kt",
        }.get(ext, f"tests/{stem}_test.py")

    def _paths(self) -> list[str]:
        rng, p = self.rng, self.p
        source = self._source()
        paths = [source]
        if rng.random() < 0.3:
            paths.append(self._source())
        if rng.random() < p.tests and not source.endswith(".tf"):
            paths.append(self._test_for(source))
        if p.has_ci and rng.random() < p.ci:
            paths.append(".github/workflows/ci.yml" if p.team != "search" else "Jenkinsfile")
        if rng.random() < p.infra:
            paths.append(
                rng.choice(
                    [
                        "Dockerfile",
                        "infra/main.tf",
                        "infra/variables.tf",
                        "helm/values.yaml",
                        "ansible/site.yml",
                        "docker-compose.yml",
                    ]
                    if p.team == "platform"
                    else ["Dockerfile", "docker-compose.yml"]
                )
            )
        if rng.random() < p.docs:
            paths.append(rng.choice(["README.md", "docs/architecture.md", "CHANGELOG.md"]))
        return list(dict.fromkeys(paths))

    def _content(self, path: str) -> bytes:
        rng = self.rng
        lines = self.files.setdefault(path, [])
        for _ in range(rng.randint(1, 6)):
            text = f"{rng.choice(_VERBS).lower()} {rng.choice(_NOUNS)} {rng.randint(1, 999)}\n"
            if lines and rng.random() < 0.4:
                lines[rng.randrange(len(lines))] = text
            else:
                lines.insert(rng.randint(0, len(lines)), text)
        while len(lines) > 120:
            del lines[rng.randrange(len(lines))]
        return "".join(lines).encode()

    def message(self) -> str:
        rng = self.rng
        text = f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)}"
        if rng.random() < self.p.issue_keys:
            self.issue += rng.randint(1, 3)
            text = f"{self.p.key}-{self.issue}: {text}"
        return text

    def commit(
        self,
        ref: str,
        when: dt.datetime,
        message: str,
        *,
        parent: int | None = None,
        merge: int | None = None,
        author: str | None = None,
    ) -> int:
        self.mark += 1
        who = author or self.rng.choice(self.authors)
        stamp = self._stamp(when)
        body = (message + "\n").encode()
        out = [
            f"commit {ref}\nmark :{self.mark}\nauthor {who} {stamp}\ncommitter {who} {stamp}\n"
            f"data {len(body)}\n".encode(),
            body,
        ]
        if parent is not None:
            out.append(f"from :{parent}\n".encode())
        changes: dict[str, bytes] = {}
        if merge is not None:
            out.append(f"merge :{merge}\n".encode())
            changes, self.touched = self.touched, {}
        else:
            for path in self._paths():
                changes[path] = self._content(path)
            if ref != f"refs/heads/{self.p.default_branch}":
                self.touched.update(changes)
        for path, data in changes.items():
            out += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
        out.append(b"\n")
        self.parts.append(b"".join(out))
        return self.mark

    def tag(self, name: str, mark: int, when: dt.datetime) -> None:
        body = f"Release {name}\n".encode()
        self.parts.append(
            f"tag {name}\nfrom :{mark}\ntagger Release Bot <release-bot@{self.p.team}.example.com>"
            f" {self._stamp(when)}\ndata {len(body)}\n".encode()
            + body
            + b"\n"
        )
        self.tag_count += 1


def _work_times(
    rng: random.Random, start: dt.datetime, weeks: int, per_week: float
) -> list[dt.datetime]:
    """Commit times on weekdays in working hours, busier in some weeks than in others."""
    times = []
    for week in range(weeks + 1):
        monday = start + dt.timedelta(weeks=week)
        count = max(0, round(rng.gauss(per_week, per_week / 3)))
        for _ in range(count):
            day = rng.randrange(5)
            minute = rng.randrange(9 * 60, 18 * 60)
            times.append(monday + dt.timedelta(days=day, minutes=minute))
    times.sort()
    return [t for t in times if t < END]


def _generate(profile: Profile, path: Path, seed: int) -> None:
    rng = random.Random(f"{seed}:{profile.team}")
    writer = _Writer(profile, rng)
    main_ref = f"refs/heads/{profile.default_branch}"
    start = (END - dt.timedelta(weeks=WEEKS)).replace(hour=0, minute=0)
    start -= dt.timedelta(days=start.weekday())
    start -= dt.timedelta(hours=profile.tz_hours)
    times = _work_times(rng, start, WEEKS, profile.commits_per_week)
    tip = writer.commit(main_ref, times[0] - dt.timedelta(days=1), "Initial commit")
    last_tag_period = None
    i = 0
    branch_no = 0
    merged: list[str] = []
    while i < len(times):
        if rng.random() < profile.feature_branches and i + 2 < len(times):
            branch_no += 1
            size = min(rng.randint(1, 4), len(times) - i - 1)
            name = f"refs/heads/feature/{profile.key.lower()}-{branch_no}"
            message = writer.message()
            author = rng.choice(writer.authors)
            ftip = None
            for k in range(size):
                ftip = writer.commit(
                    name,
                    times[i],
                    message if k == 0 else f"{message} (part {k + 1})",
                    parent=tip if k == 0 else None,
                    author=author,
                )
                i += 1
            open_branch = i > len(times) - 4  # the last branches are still open at the end
            if open_branch:
                continue
            assert ftip is not None
            tip = writer.commit(
                main_ref,
                times[i],
                f"Merge branch 'feature/{profile.key.lower()}-{branch_no}'\n\n{message}",
                merge=ftip,
            )
            merged.append(name)
        else:
            tip = writer.commit(main_ref, times[i], writer.message())
        when = times[i]
        i += 1
        if profile.release_tags == "every-merge" and rng.random() < 0.5:
            writer.tag(f"v1.{writer.tag_count}.0", tip, when + dt.timedelta(minutes=12))
        elif profile.release_tags in ("monthly", "quarterly"):
            period = (
                when.year,
                when.month if profile.release_tags == "monthly" else (when.month - 1) // 3,
            )
            if last_tag_period is not None and period != last_tag_period:
                writer.tag(f"{when:%Y.%m}.{writer.tag_count}", tip, when + dt.timedelta(hours=2))
            last_tag_period = period
    writer.parts.append(b"done\n")
    subprocess.run(
        ["git", "init", "-q", "-b", profile.default_branch, str(path)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet", "--done"],
        input=b"".join(writer.parts),
        check=True,
        capture_output=True,
    )
    # A merged branch is deleted, as hosting services do after a pull request.
    subprocess.run(
        ["git", "-C", str(path), "update-ref", "--stdin"],
        input="".join(f"delete {name}\n" for name in merged).encode(),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["git", "-C", str(path), "checkout", "-q", "-f", profile.default_branch],
        check=True,
        capture_output=True,
    )


def _git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(path), *args], check=True, capture_output=True, text=True
    ).stdout


def project_checkout() -> Path | None:
    """This project's own git checkout, or None when installed outside one."""
    here = Path(__file__).resolve().parent
    proc = subprocess.run(
        ["git", "-C", str(here), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return Path(proc.stdout.strip())


#: the team that owns this project's own checkout in the demo
CHECKOUT_TEAM = "devops-maturity"


def checkout_weeks(checkout: Path, *, today: dt.date) -> tuple[dt.date, int] | None:
    """The weeks to score the checkout's team on: its own dates, not the demo's.

    The demo's clock stops at :data:`END`, but this checkout's commits are real and may all be
    later; scored on the demo's weeks its team would show no data anywhere. Returns the day of
    its newest commit and how many weeks before it to score (back to its first commit, at most
    the demo's two years), or None for a checkout without commits.
    """
    line = _git(checkout, "log", "--all", "--format=%cI", "--no-merges").split()
    if not line:
        return None
    days = [dt.datetime.fromisoformat(d).astimezone(dt.UTC).date() for d in line]
    newest, oldest = min(max(days), today), min(days)
    last_week = newest + dt.timedelta(days=6 - newest.weekday())
    first_week = oldest + dt.timedelta(days=6 - oldest.weekday())
    return newest, min(WEEKS - 1, max(0, (last_week - first_week).days // 7))


def generate(root: Path, seed: int = SEED) -> tuple[list[Path], bool]:
    """Create the demo repositories under ``root/repos`` unless they exist for this seed.

    Returns:
        The repository folders, in the order of :data:`PROFILES`, and whether they were
        (re)generated now.
    """
    repos = root / "repos"
    marker = repos / _MARKER
    wanted = {"seed": seed, "version": VERSION}
    paths = [repos / p.repository for p in PROFILES]
    if (
        marker.exists()
        and json.loads(marker.read_text()) == wanted
        and all(p.exists() for p in paths)
    ):
        return paths, False
    shutil.rmtree(repos, ignore_errors=True)
    repos.mkdir(parents=True)
    for profile, path in zip(PROFILES, paths, strict=True):
        _generate(profile, path, seed)
    marker.write_text(json.dumps(wanted))
    return paths, True


def history(root: Path) -> list[GeneratedRepo]:
    """What the generated repositories under ``root`` hold, read back from git.

    Later generators (CI runs, deployments) use it to stay consistent with the commits: each
    entry has the default branch's first-parent commits with their dates, and the tags.
    """
    found = []
    for profile in PROFILES:
        path = root / "repos" / profile.repository
        if not path.exists():
            continue
        line = _git(path, "log", "--first-parent", "--format=%H %cI", profile.default_branch)
        commits = [tuple(entry.split(" ", 1)) for entry in reversed(line.splitlines())]
        tag_lines = _git(
            path,
            "for-each-ref",
            "--format=%(refname:strip=2) %(*objectname) %(taggerdate:iso-strict)",
            "--sort=taggerdate",
            "refs/tags",
        )
        tags = [tuple(entry.split(" ", 2)) for entry in tag_lines.splitlines()]
        merges, branch_commits = _merges(path, profile.default_branch, {c[0] for c in commits})
        found.append(
            GeneratedRepo(
                team=profile.team,
                repository=profile.repository,
                path=str(path),
                default_branch=profile.default_branch,
                default_commits=[(c[0], c[1]) for c in commits],
                tags=[(t[0], t[1], t[2]) for t in tags],
                merges=merges,
                branch_commits=branch_commits,
                profile=asdict(profile),
            )
        )
    return found


def _merges(
    path: Path, branch: str, mainline: set[str]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Each merge on the first-parent line with the time of its branch's first commit, and the
    commits of the merged branches (one ``git log``: each branch is walked back along first
    parents until the mainline)."""
    parents: dict[str, list[str]] = {}
    when: dict[str, str] = {}
    for line in _git(path, "log", "--format=%H %cI %P", branch).splitlines():
        sha, at, *rest = line.split(" ")
        parents[sha], when[sha] = rest, at
    found, on_branches = [], []
    for sha in sorted(mainline, key=lambda c: when[c]):
        if len(parents.get(sha, [])) < 2:
            continue
        first = cur = parents[sha][1]
        while cur not in mainline and cur in parents:
            first = cur
            on_branches.append((cur, when[cur]))
            cur = parents[cur][0] if parents[cur] else ""
        found.append((sha, when[sha], when[first]))
    return found, sorted(on_branches, key=lambda c: c[1])


def write_config(root: Path, own_checkout: Path | None) -> Path:
    """Write ``root/maturity.toml`` for the demo teams (and this project, when in a checkout)."""
    lines = [
        "# The demo organisation, written by 'maturity demo'. Paths are relative to this file.",
        "[store]",
        'url = "sqlite:///maturity.db"',
        "",
        "[settings]",
        'cache_dir = ".maturity/cache"',
        "",
    ]
    for profile in PROFILES:
        spec = (
            f"location = {json.dumps('repos/' + profile.repository)}, "
            f"default_branch = {json.dumps(profile.default_branch)}"
        )
        if profile.parts:
            # A monorepo: each team owns its part by path. Its CI runs and deployments name
            # a service no team owns, so they follow the paths of the commit they carry.
            lines.append(f"# {profile.repository} is shared: each team owns its paths")
            for team, globs in profile.parts:
                lines += [
                    "[[teams]]",
                    f"name = {json.dumps(team)}",
                    f"repositories = [{{ {spec}, paths = {json.dumps(list(globs))} }}]",
                    "",
                ]
            continue
        lines += [
            "[[teams]]",
            f"name = {json.dumps(profile.team)}",
            f"repositories = [{{ {spec} }}]",
            # CI runs, deployments and incidents of the demo arrive as events per service.
            f"services = [{json.dumps(profile.repository)}]",
            "",
        ]
    if own_checkout is not None:
        spec = f'location = {json.dumps(str(own_checkout))}, name = "devops-maturity"'
        branches = _git(own_checkout, "for-each-ref", "--format=%(refname:strip=2)", "refs/heads")
        if "main" in branches.split():
            spec += ', default_branch = "main"'
        lines += [
            "[[teams]]",
            f"name = {json.dumps(CHECKOUT_TEAM)}",
            f"repositories = [{{ {spec} }}]",
            "",
        ]
    path = root / "maturity.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
