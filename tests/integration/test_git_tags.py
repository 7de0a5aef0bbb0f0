"""Tags that peel through several tag objects to a commit are kept; tags of trees and blobs are
skipped on purpose (collectors/git ``list_refs``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import collectors.git as git_collector
from collectors.base import CollectContext
from collectors.git import client
from maturity import config, teams
from maturity.store import tables
from maturity.store.engine import session_scope
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration


def tagged_repo(path: Path) -> tuple[GitRepo, str]:
    repo = GitRepo(path)
    repo.commit("first", {"README.md": "# api\n"})
    head = repo.head()
    repo.tag("v1.0", annotated=True)
    # git.git's v1.0rc1 is a tag of a tag: peel twice to reach the commit
    repo.git("tag", "-a", "v1.0rc1", "-m", "tag of a tag", "v1.0")
    repo.git("tag", "-a", "v1.0rc0", "-m", "tag of a tag of a tag", "v1.0rc1")
    # git.git's v2.6.11-tree is a tag of a tree; a blob can be tagged too
    repo.git("tag", "-a", "tree-tag", "-m", "a tree", "HEAD^{tree}")
    repo.git("tag", "-a", "blob-tag", "-m", "a blob", "HEAD:README.md")
    repo.git("tag", "-a", "tag-of-tree-tag", "-m", "peels to a tree", "tree-tag")
    repo.git("tag", "light-tree", "HEAD^{tree}")
    return repo, head


def test_list_refs_peels_tags_of_tags_and_skips_trees_and_blobs(tmp_path: Path) -> None:
    repo, head = tagged_repo(tmp_path / "api")
    refs = {r.name: r for r in client.list_refs(repo.path)}
    tags = sorted(n.removeprefix("refs/tags/") for n in refs if n.startswith("refs/tags/"))
    assert tags == ["v1.0", "v1.0rc0", "v1.0rc1"]
    for name in ("v1.0", "v1.0rc1", "v1.0rc0"):
        ref = refs[f"refs/tags/{name}"]
        assert (ref.sha, ref.object_type) == (head, "tag")
        assert ref.committed_at is not None and ref.tagged_at is not None
    # the tag of a tag is dated by its own tag object, the commit by the commit
    rc = refs["refs/tags/v1.0rc1"]
    assert rc.committed_at == refs["refs/tags/v1.0"].committed_at


def test_the_git_collector_stores_a_tag_of_a_tag(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    repo, head = tagged_repo(tmp_path / "api")
    cfg = config.Config.model_validate(
        {
            "settings": {"cache_dir": str(tmp_path / "cache")},
            "teams": [{"name": "payments", "repositories": [str(repo.path)]}],
        }
    )
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    results = git_collector.collect(CollectContext(cfg, sessions))
    assert all(r.status == "success" for r in results), results
    with session_scope(sessions) as session:
        stored = sorted(tuple(r) for r in session.execute(select(tables.Tag.name, tables.Tag.sha)))
    assert stored == [("v1.0", head), ("v1.0rc0", head), ("v1.0rc1", head)]
