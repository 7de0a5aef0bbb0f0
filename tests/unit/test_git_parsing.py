"""Parsing git log output, file kinds and issue keys, without a repository."""

from __future__ import annotations

import datetime as dt

import pytest

from collectors.git import log
from collectors.git.classify import classify


@pytest.mark.parametrize(
    ("path", "kinds"),
    [
        ("tests/test_api.py", (True, False, False, False)),
        ("pkg/test_api.py", (True, False, False, False)),
        ("server/handler_test.go", (True, False, False, False)),
        ("web/src/app.spec.ts", (True, False, False, False)),
        ("src/main/java/FooTest.java", (True, False, False, False)),
        (".github/workflows/ci.yml", (False, True, False, False)),
        ("Jenkinsfile", (False, True, False, False)),
        (".gitlab-ci.yml", (False, True, False, False)),
        (".circleci/config.yml", (False, True, False, False)),
        ("infra/main.tf", (False, False, True, False)),
        ("Dockerfile", (False, False, True, False)),
        ("services/api/Dockerfile.prod", (False, False, True, False)),
        ("helm/api/values.yaml", (False, False, True, False)),
        ("k8s/deploy.yaml", (False, False, True, False)),
        ("ansible/site.yml", (False, False, True, False)),
        ("docker-compose.override.yml", (False, False, True, False)),
        ("README.md", (False, False, False, True)),
        ("docs/index.html", (False, False, False, True)),
        ("guide.rst", (False, False, False, True)),
        ("src/app.py", (False, False, False, False)),
        ("src/latest.py", (False, False, False, False)),
        ("contest/entry.py", (False, False, False, False)),
    ],
)
def test_paths_are_classified_by_kind(path: str, kinds: tuple[bool, ...]) -> None:
    assert tuple(classify(path)) == kinds


def test_issue_keys_are_found_in_order_without_standards_names() -> None:
    text = "PAY-12: fix (see OPS-3, PAY-12 again); UTF-8 and SHA-256 are no issues; abc-1 neither"
    assert log.issue_keys(text) == "PAY-12 OPS-3"
    assert log.issue_keys("no keys here") is None


def _header(sha: str, parents: str, body: bytes) -> bytes:
    return (
        b"\x1e" + sha.encode() + b"\x1f" + parents.encode() + b"\x1fa@x\x1f"
        b"1700000000 +0130\x1f1700003600 -0800\x1f" + body + b"\n\0"
    )


def test_parse_counts_renames_once_and_binaries_apart() -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    stream = (
        _header(a, f"{b} {c}", b"Merge PAY-1")
        + _header(b, c, b"Rename\n\nbody with 1\t2\tfake.py line")
        + b"\n3\t1\t\0old/name.py\0tests/new_name.py\0-\t-\tlogo.png\0"
        + b"2\t0\tdocs/a b.md\0"
        + _header(c, "", b"Caf\xe9")
        + b"\n1\t0\tREADME\0"
    )
    # Split at awkward places: the parser must not depend on how the pipe delivers bytes.
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    rows = list(log.parse(chunks, author_hash=lambda e: "h:" + e, on_default=lambda s: s != b))
    assert [r["sha"] for r in rows] == [a, b, c]
    merge, rename, root = rows
    assert merge["is_merge"] and merge["files_changed"] == 0 and merge["issue_keys"] == "PAY-1"
    assert (rename["additions"], rename["deletions"]) == (5, 1)
    assert (rename["files_changed"], rename["binary_files"]) == (3, 1)
    assert (rename["test_files"], rename["docs_files"]) == (1, 1)
    assert rename["subject"] == "Rename" and rename["on_default_branch"] is False
    assert root["subject"] == "Caf\ufffd" and root["parents"] == ""
    assert root["authored_at"] == dt.datetime.fromtimestamp(1700000000, dt.UTC)
    assert (root["author_tz_offset"], root["committer_tz_offset"]) == (90, -480)
    assert root["author_hash"] == "h:a@x"
