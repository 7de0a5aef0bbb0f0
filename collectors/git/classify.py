"""What kind of file a changed path is: tests, CI configuration, infrastructure code, docs.

The kinds are independent (``docs/tests/howto.md`` is docs and tests) and judged on the path
alone, case-insensitively, so that one path always gets the same answer in every repository.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class Kinds(NamedTuple):
    test: bool
    ci: bool
    infra: bool
    docs: bool


NONE = Kinds(False, False, False, False)

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "e2e"})
_TEST_SUFFIXES = (
    "_test.go",
    "_test.py",
    "_test.rb",
    "_spec.rb",
    "_test.exs",
    "test.java",
    "tests.java",
    "test.kt",
    "tests.cs",
    "test.cs",
    "test.php",
    "_test.dart",
)
_TEST_INFIXES = (".test.", ".spec.")

_CI_DIRS = frozenset({".circleci", ".buildkite", ".woodpecker"})
_CI_NAMES = frozenset(
    {
        ".gitlab-ci.yml",
        ".travis.yml",
        "azure-pipelines.yml",
        "bitbucket-pipelines.yml",
        ".drone.yml",
        "appveyor.yml",
        ".appveyor.yml",
        "cloudbuild.yaml",
        "cloudbuild.yml",
        "buildspec.yml",
        ".woodpecker.yml",
    }
)

_INFRA_DIRS = frozenset(
    {"helm", "charts", "k8s", "kubernetes", "ansible", "terraform", "puppet", "chef", "deploy"}
)
_INFRA_SUFFIXES = (".tf", ".tfvars", ".tf.json", ".hcl", ".dockerfile", ".nomad")
_INFRA_NAMES = frozenset(
    {
        "dockerfile",
        "containerfile",
        "chart.yaml",
        "kustomization.yaml",
        "compose.yaml",
        "compose.yml",
        "vagrantfile",
        "playbook.yml",
        "skaffold.yaml",
        "serverless.yml",
    }
)

_DOCS_DIRS = frozenset({"docs", "doc", "documentation"})
_DOCS_SUFFIXES = (".md", ".rst", ".adoc", ".asciidoc", ".markdown")
_DOCS_PREFIXES = ("readme", "changelog", "contributing")


@lru_cache(maxsize=65_536)
def classify(path: str) -> Kinds:
    """The kinds of the file at ``path`` (slash-separated, as git prints it)."""
    lower = path.lower()
    parts = lower.split("/")
    name = parts[-1]
    dirs = parts[:-1]

    test = (
        any(d in _TEST_DIRS for d in dirs)
        or (name.startswith("test_") and name.endswith(".py"))
        or name == "conftest.py"
        or name.endswith(_TEST_SUFFIXES)
        or any(i in name for i in _TEST_INFIXES)
    )

    ci = (
        name in _CI_NAMES
        or name.startswith("jenkinsfile")
        or any(d in _CI_DIRS for d in dirs)
        or (len(dirs) >= 2 and dirs[0] == ".github" and dirs[1] == "workflows")
    )

    infra = (
        name in _INFRA_NAMES
        or name.startswith(("dockerfile", "docker-compose"))
        or name.endswith(_INFRA_SUFFIXES)
        or any(d in _INFRA_DIRS for d in dirs)
    )

    docs = (
        name.endswith(_DOCS_SUFFIXES)
        or name.startswith(_DOCS_PREFIXES)
        or any(d in _DOCS_DIRS for d in dirs)
    )
    if not (test or ci or infra or docs):
        return NONE
    return Kinds(test, ci, infra, docs)
