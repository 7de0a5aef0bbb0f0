"""The git collector against real repositories: agreement with git, cursors, and survival."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import collectors.git as git_collector
from collectors.base import CollectContext, ScopeResult
from maturity import config as config_mod
from maturity import teams
from maturity.store import engine as engine_mod
from maturity.store import tables, write
from tests import clirun
from tests.gitrepo import GitRepo, build_rich_repo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def make_config(tmp_path: Path, repos: dict[str, list[str]]) -> config_mod.Config:
    lines = ['[settings]\ncache_dir = "cache"\n']
    for team, locations in repos.items():
        lines.append(
            f"[[teams]]\nname = {json.dumps(team)}\nrepositories = {json.dumps(locations)}\n"
        )
    path = tmp_path / "maturity.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return config_mod.load(path)


def run(
    sessions: sessionmaker[Session], cfg: config_mod.Config, *, full_refresh: bool = False
) -> list[ScopeResult]:
    with engine_mod.session_scope(sessions) as s:
        teams.sync(s, cfg)
    return git_collector.collect(CollectContext(cfg, sessions, full_refresh=full_refresh))


def dump(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every git table, in a stable order, without surrogate ids or cursor timestamps."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine_mod.session_scope(sessions) as s:
        for model in (tables.Commit, tables.Tag, tables.Branch, tables.Repository):
            table = write.table_of(model)
            cols = [c for c in table.c if c.name != "id"]
            rows = s.execute(select(*cols)).all()
            out[table.name] = sorted(tuple(r) for r in rows)
        out["cursors"] = sorted(
            tuple(r) for r in s.execute(select(tables.Cursor.scope, tables.Cursor.value)).all()
        )
    return out


def commits(sessions: sessionmaker[Session]) -> dict[str, tables.Commit]:
    with engine_mod.session_scope(sessions) as s:
        return {c.sha: c for c in s.scalars(select(tables.Commit))}


def git_numstat(repo: GitRepo, sha: str) -> tuple[int, int, int, int]:
    """(additions, deletions, files, binary files) of one commit, from ``git show``."""
    out = repo.git("show", "--numstat", "--format=", "-M", sha)
    adds = dels = files = binary = 0
    for line in out.splitlines():
        if not line.strip():
            continue
        a, d, _ = line.split("\t", 2)
        files += 1
        if a == "-":
            binary += 1
        else:
            adds, dels = adds + int(a), dels + int(d)
    return adds, dels, files, binary


def test_commits_agree_with_git_on_merges_renames_binaries_and_non_utf8(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    results = run(sessions, make_config(tmp_path, {"payments": [str(repo.path)]}))
    assert [r.status for r in results] == ["success"]
    stored = commits(sessions)
    assert len(stored) == int(repo.git("rev-list", "--all", "--count"))
    listing = repo.git("log", "--all", "--format=%H %P")
    for line in listing.splitlines():
        sha, *parents = line.split()
        row = stored[sha]
        assert row.parents == " ".join(parents)
        assert row.is_merge == (len(parents) > 1)
        expected = (0, 0, 0, 0) if row.is_merge else git_numstat(repo, sha)
        assert (row.additions, row.deletions, row.files_changed, row.binary_files) == expected
    main = set(repo.git("rev-list", "main").split())
    assert {sha for sha, c in stored.items() if c.on_default_branch} == main
    by_subject = {c.subject: c for c in stored.values()}
    assert by_subject["Rename app to main PAY-3"].files_changed == 1
    assert by_subject["Add tests and CI"].issue_keys == "PAY-2 OPS-17"
    assert by_subject["Add tests and CI"].author_tz_offset == -300
    assert by_subject["Hotfix on main"].author_tz_offset == 330
    assert "Café in latin-1 with header" in by_subject
    # Invalid UTF-8 survives as readable text (git or our decoder replaces the bad bytes).
    broken = [s for s in by_subject if s.startswith("Broken bytes ")]
    assert len(broken) == 1 and broken[0].endswith(" without header")
    kinds = by_subject["Add tests and CI"]
    assert (kinds.test_files, kinds.ci_files, kinds.infra_files, kinds.docs_files) == (1, 1, 1, 0)
    assert by_subject["Initial commit PAY-1"].docs_files == 1


def test_authors_are_stored_only_as_salted_hashes(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    run(sessions, make_config(tmp_path, {"payments": [str(repo.path)]}))
    text = json.dumps(dump(sessions), default=str).casefold()
    for secret in ("alice", "example.com", "jos", "garc", "ller", "releng", "committer bot"):
        assert secret not in text
    with engine_mod.session_scope(sessions) as s:
        authors = set(s.scalars(select(tables.Commit.author_hash)))
        tagger = s.scalar(select(tables.Tag.tagger_hash).where(tables.Tag.name == "v1.0.0"))
        salt = teams.author_salt(s)
    assert teams.hash_identity(salt, "alice@example.com") in authors
    assert len(authors) == 3
    assert tagger == teams.hash_identity(salt, "releng@example.com")


def test_tags_and_branches_agree_with_git(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    repo.checkout("side", new=True)
    repo.commit("side work", {"side.txt": "x\n"})
    repo.tag("v-side", annotated=True)
    repo.checkout("main")
    run(sessions, make_config(tmp_path, {"payments": [str(repo.path)]}))
    with engine_mod.session_scope(sessions) as s:
        tags = {t.name: t for t in s.scalars(select(tables.Tag))}
        branches = {b.name: b for b in s.scalars(select(tables.Branch))}
        default = s.scalar(select(tables.Repository.default_branch))
    listing = repo.git("for-each-ref", "--format=%(refname:strip=2) %(objecttype)", "refs/tags")
    expected = dict(line.split() for line in listing.splitlines())
    assert {n: ("tag" if t.is_annotated else "commit") for n, t in tags.items()} == expected
    for name, tag in tags.items():
        assert tag.sha == repo.head(f"{name}^{{commit}}")
        assert tag.tagged_at is not None
    assert tags["v1.0.0"].on_default_branch and tags["v1.1.0"].on_default_branch
    assert tags["v-side"].on_default_branch is False
    assert default == "main"
    heads = repo.git("for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads")
    assert {n: b.head_sha for n, b in branches.items()} == dict(
        line.split() for line in heads.splitlines()
    )
    assert [n for n, b in branches.items() if b.is_default] == ["main"]


def test_second_run_changes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    first = run(sessions, cfg)
    before = dump(sessions)
    second = run(sessions, cfg)
    assert first[0].records == len(before["commits"]) > 0
    assert second[0].records == 0 and second[0].status == "success"
    assert dump(sessions) == before


def test_full_refresh_reads_everything_again_and_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    run(sessions, cfg)
    before = dump(sessions)
    again = run(sessions, cfg, full_refresh=True)
    assert again[0].records == len(before["commits"])
    assert dump(sessions) == before


def test_rerun_reads_only_the_new_commits(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    run(sessions, cfg)
    new = {repo.commit("one more", {"a.txt": "a\n"}), repo.commit("and another", {"b.txt": "b\n"})}
    result = run(sessions, cfg)[0]
    assert result.counts["commits"] == 2
    stored = commits(sessions)
    assert new <= set(stored) and all(stored[sha].on_default_branch for sha in new)
    assert len(stored) == int(repo.git("rev-list", "--all", "--count"))


def test_merged_feature_commits_become_default_branch_commits(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    run(sessions, cfg)
    wip = repo.head("wip")
    assert commits(sessions)[wip].on_default_branch is False
    repo.merge("wip", "Merge wip")
    result = run(sessions, cfg)[0]
    assert result.counts["commits"] == 1  # only the merge commit is new
    assert commits(sessions)[wip].on_default_branch is True


def test_force_push_reads_the_rewrite_and_keeps_the_old_commits(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    dropped = [repo.commit("bad 1", {"x.txt": "1\n"}), repo.commit("bad 2", {"x.txt": "2\n"})]
    run(sessions, cfg)
    repo.git("reset", "-q", "--hard", "HEAD~2")
    rewrite = repo.commit("good", {"y.txt": "1\n"})
    result = run(sessions, cfg)[0]
    assert result.counts["commits"] == 1
    stored = commits(sessions)
    assert stored[rewrite].on_default_branch is True
    assert all(stored[sha].on_default_branch is False for sha in dropped)
    with engine_mod.session_scope(sessions) as s:
        head = s.scalar(select(tables.Branch.head_sha).where(tables.Branch.name == "main"))
    assert head == rewrite


def test_deleted_branch_is_removed_but_its_commits_stay(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    run(sessions, cfg)
    wip = repo.head("wip")
    repo.git("branch", "-q", "-D", "wip")
    repo.git("tag", "-d", "v1.1.0")
    result = run(sessions, cfg)[0]
    assert result.status == "success" and result.records == 0
    with engine_mod.session_scope(sessions) as s:
        names = set(s.scalars(select(tables.Branch.name)))
        tag_names = set(s.scalars(select(tables.Tag.name)))
    assert names == {"main", "feature/rename"}
    assert tag_names == {"v1.0.0"}
    assert wip in commits(sessions)


def test_empty_repository_is_collected_without_error(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    GitRepo(tmp_path / "empty")
    cfg = make_config(tmp_path, {"payments": [str(tmp_path / "empty")]})
    results = run(sessions, cfg)
    assert [(r.status, r.records) for r in results] == [("success", 0)]
    assert run(sessions, cfg)[0].status == "success"
    assert commits(sessions) == {}


def test_shallow_clone_is_collected(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(shallow)], check=True
    )
    results = run(sessions, make_config(tmp_path, {"payments": [str(shallow)]}))
    assert results[0].status == "success"
    count = subprocess.run(
        ["git", "-C", str(shallow), "rev-list", "--all", "--count"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert results[0].records == int(count) == len(commits(sessions))


def test_folder_that_is_not_a_repository_fails_alone(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("not a repo")
    cfg = make_config(
        tmp_path, {"payments": [str(plain)], "search": [str(repo.path), str(tmp_path / "gone")]}
    )
    results = {Path(r.scope.removeprefix("git:")).name: r for r in run(sessions, cfg)}
    assert results["plain"].status == "failed"
    assert results["plain"].error == f"{plain}: not a git repository"
    assert results["gone"].status == "failed" and "no such folder" in (results["gone"].error or "")
    assert results["svc"].status == "success" and results["svc"].records > 0
    with engine_mod.session_scope(sessions) as s:
        runs = {r.scope: r.status for r in s.scalars(select(tables.CollectorRun))}
    assert sorted(runs.values()) == ["failed", "failed", "success"]


def test_url_is_mirrored_into_the_cache_and_fetched_on_later_runs(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "origin")
    url = f"file://{repo.path}"
    cfg = make_config(tmp_path, {"payments": [url]})
    first = run(sessions, cfg)[0]
    assert first.status == "success"
    assert len(list((tmp_path / "cache").glob("origin-*.git"))) == 1
    repo.git("branch", "-q", "-D", "wip")
    new = repo.commit("after the clone", {"late.txt": "x\n"})
    second = run(sessions, cfg)[0]
    assert second.counts["commits"] == 1 and new in commits(sessions)
    with engine_mod.session_scope(sessions) as s:
        assert "wip" not in set(s.scalars(select(tables.Branch.name)))


def test_huge_commit_counts_every_file(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "huge")
    files: dict[str, str | bytes | None] = {f"gen/f{i:05}.txt": f"{i}\n" * 3 for i in range(6000)}
    sha = repo.commit("vendor everything", files)
    run(sessions, make_config(tmp_path, {"payments": [str(repo.path)]}))
    row = commits(sessions)[sha]
    assert (row.files_changed, row.additions, row.deletions) == (6000, 18000, 0)


def test_failed_batch_leaves_the_cursor_and_the_next_run_completes(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    for i in range(12):
        repo.commit(f"change {i}", {f"f{i}.txt": f"{i}\n"})
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    monkeypatch.setenv("MATURITY_GIT_BATCH_SIZE", "5")
    real_upsert = write.upsert
    calls = {"commits": 0}

    def failing_upsert(session: Session, model: Any, rows: Any, key: Any, **kw: Any) -> int:
        if write.table_of(model) is tables.Commit.__table__:  # the class or its table
            calls["commits"] += 1
            if calls["commits"] == 2:
                raise RuntimeError("disk full")
        return real_upsert(session, model, rows, key, **kw)

    monkeypatch.setattr(write, "upsert", failing_upsert)
    failed = run(sessions, cfg)[0]
    assert failed.status == "failed" and failed.error == "RuntimeError: disk full"
    assert len(commits(sessions)) == 5  # the first batch was committed, the second rolled back
    with engine_mod.session_scope(sessions) as s:
        assert write.get_cursor(s, source="git", scope=failed.scope, stream="refs") is None
    monkeypatch.setattr(write, "upsert", real_upsert)
    resumed = run(sessions, cfg)[0]
    assert resumed.status == "success"
    assert len(commits(sessions)) == int(repo.git("rev-list", "--all", "--count"))
    with engine_mod.session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(tables.Commit)) == len(commits(sessions))


def fast_import_repo(path: Path, n: int) -> None:
    """A linear history of ``n`` commits, written in one ``git fast-import``."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    parts = []
    for i in range(n):
        body = f"change {i}\n".encode()
        content = f"line {i}\n".encode()
        parts.append(
            b"commit refs/heads/main\n"
            + f"committer Dev <dev{i % 7}@example.com> {1_700_000_000 + i * 600} +0100\n".encode()
            + f"data {len(body)}\n".encode()
            + body
            + f"M 644 inline src/f{i % 50}.txt\ndata {len(content)}\n".encode()
            + content
            + b"\n"
        )
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(parts), check=True
    )


def test_killed_run_is_resumed_without_duplicates(store_url: str, tmp_path: Path) -> None:
    fast_import_repo(tmp_path / "big", 3000)
    config = tmp_path / "maturity.toml"
    config.write_text(f'[[teams]]\nname = "big"\nrepositories = ["{tmp_path / "big"}"]\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MATURITY_DATABASE_URL": store_url,
        "MATURITY_CONFIG": str(config),
        "MATURITY_GIT_BATCH_SIZE": "20",
    }
    eng = engine_mod.make_engine(store_url)
    factory = engine_mod.make_sessionmaker(eng)
    cmd = [sys.executable, "-m", "maturity", "collect", "--source", "git"]
    proc = clirun.popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and count < 200:
        with engine_mod.session_scope(factory) as s:
            count = s.scalar(select(func.count()).select_from(tables.Commit)) or 0
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with engine_mod.session_scope(factory) as s:
        halfway = s.scalar(select(func.count()).select_from(tables.Commit)) or 0
        cursor = write.get_cursor(s, source="git", scope=f"git:{tmp_path / 'big'}", stream="refs")
    assert 0 < halfway < 3000 and cursor is None
    with engine_mod.session_scope(factory) as s:
        killed = s.execute(select(tables.CollectorRun.status)).scalars().all()
    assert killed == ["running"]  # nothing could record its end
    clirun.run(cmd, env=env, check=True, capture_output=True)
    with engine_mod.session_scope(factory) as s:
        shas = list(s.scalars(select(tables.Commit.sha)))
        assert write.get_cursor(s, source="git", scope=f"git:{tmp_path / 'big'}", stream="refs")
        runs = s.execute(
            select(tables.CollectorRun.status, tables.CollectorRun.error).order_by(
                tables.CollectorRun.id
            )
        ).all()
    # the killed run no longer shows as running for ever: the next run of its scope says so
    assert [r.status for r in runs] == ["interrupted", "success"]
    assert runs[0].error == write.INTERRUPTED
    eng.dispose()
    assert len(shas) == len(set(shas)) == 3000


def test_export_and_weekly_counts_agree_with_git(store_url: str, tmp_path: Path) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    for i in range(30):
        repo.tick(90)
        repo.commit(f"weekly {i}", {f"w{i % 4}.bin": bytes([i, 0, 255]), f"w{i}.md": "doc\n"})
    config = tmp_path / "maturity.toml"
    config.write_text(f'[[teams]]\nname = "svc"\nrepositories = ["{repo.path}"]\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MATURITY_DATABASE_URL": store_url}
    base = [sys.executable, "-m", "maturity", "--config", str(config)]
    clirun.run([*base, "collect", "-s", "git"], env=env, check=True, capture_output=True)
    exported = clirun.run(
        [*base, "export", "commits", "--format", "jsonl"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = {r["sha"]: r for r in map(json.loads, exported.splitlines())}
    truth = repo.git("log", "--all", "--format=%H %aI %cI %P")
    assert len(rows) == int(repo.git("rev-list", "--all", "--count")) == len(truth.splitlines())
    weeks_git: dict[str, int] = {}
    weeks_store: dict[str, int] = {}
    for line in truth.splitlines():
        sha, authored, committed, *parents = line.split()
        row = rows[sha]
        assert (row["authored_at"], row["committed_at"]) == (authored, committed)
        assert row["repository"] == "svc" and row["is_merge"] == (len(parents) > 1)
        expected = (0, 0, 0, 0) if len(parents) > 1 else git_numstat(repo, sha)
        assert (row["additions"], row["deletions"], row["files_changed"]) == expected[:3]
    for line in repo.git(
        "log",
        "--all",
        "--format=%ad",
        "--date=format-local:%G-W%V",
        env={**repo.env(repo.clock), "TZ": "UTC"},
    ).splitlines():
        weeks_git[line] = weeks_git.get(line, 0) + 1
    import datetime as dt

    for row in rows.values():
        week = dt.datetime.fromisoformat(row["authored_at"]).astimezone(dt.UTC).strftime("%G-W%V")
        weeks_store[week] = weeks_store.get(week, 0) + 1
    assert weeks_store == weeks_git and len(weeks_git) > 10
    tags = subprocess.run(
        [*base, "export", "tags", "--format", "jsonl"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    stored_tags = {r["name"]: r["sha"] for r in map(json.loads, tags.splitlines())}
    listing = repo.git(
        "for-each-ref", "--format=%(refname:strip=2) %(*objectname)%(objectname)", "refs/tags"
    )
    git_tags = {}
    for line in listing.splitlines():
        name, ids = line.split()
        git_tags[name] = ids[:40]
    assert stored_tags == git_tags


def test_unreachable_url_fails_without_showing_its_credentials(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    url = "https://deploy:s3cr3t-token@127.0.0.1:9/acme/payments.git"
    results = run(sessions, make_config(tmp_path, {"payments": [url]}))
    assert results[0].status == "failed"
    assert results[0].error is not None and results[0].error.startswith("cannot clone https://")
    assert "s3cr3t" not in results[0].error and "\n" not in results[0].error
    with engine_mod.session_scope(sessions) as s:
        errors = list(s.scalars(select(tables.CollectorRun.error)))
    assert errors == [results[0].error]


def test_team_option_collects_only_that_teams_repositories(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    mine = build_rich_repo(tmp_path / "mine")
    theirs = build_rich_repo(tmp_path / "theirs")
    theirs.commit("only in theirs", {"theirs.txt": "x\n"})  # the same builder: tell them apart
    cfg = make_config(tmp_path, {"payments": [str(mine.path)], "search": [str(theirs.path)]})
    with engine_mod.session_scope(sessions) as s:
        teams.sync(s, cfg)
    results = git_collector.collect(CollectContext(cfg, sessions, team="payments"))
    assert [r.scope for r in results] == [f"git:{mine.path}"]
    assert set(commits(sessions)) == set(mine.git("rev-list", "--all").split())


def test_corrupt_repository_fails_without_moving_the_cursor(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    blob = repo.git("rev-parse", "HEAD:src/hot.py").strip()
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # loose, as git wrote it
    results = run(sessions, make_config(tmp_path, {"payments": [str(repo.path)]}))
    assert results[0].status == "failed"
    assert (results[0].error or "").startswith("git log failed: ")
    with engine_mod.session_scope(sessions) as s:
        assert write.get_cursor(s, source="git", scope=results[0].scope, stream="refs") is None


def test_rewritten_default_branch_whose_old_tip_is_gone_is_recomputed(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    repo = build_rich_repo(tmp_path / "svc")
    cfg = make_config(tmp_path, {"payments": [str(repo.path)]})
    dropped = repo.commit("bad", {"x.txt": "1\n"})
    run(sessions, cfg)
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    run(sessions, cfg)
    stored = commits(sessions)
    assert stored[dropped].on_default_branch is False
    assert {s for s, c in stored.items() if c.on_default_branch} == set(
        repo.git("rev-list", "main").split()
    )
