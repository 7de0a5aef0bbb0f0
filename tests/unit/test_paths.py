"""Path globs of monorepo rules: what they match, and which team's glob wins a file."""

from __future__ import annotations

import pytest

from maturity import paths


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("services/payments/**", "services/payments/api/app.py", True),
        ("services/payments/**", "services/payments-legacy/app.py", False),
        ("services/payments", "services/payments/app.py", True),  # covers what is below
        ("services/payments", "services/payments", True),
        ("services/*/api", "services/search/api/handler.go", True),
        ("services/*/api", "services/search/v2/api/handler.go", False),  # '*' is one level
        ("services/**/api", "services/search/v2/api/handler.go", True),
        ("services/**/api", "services/api/handler.go", True),  # '**' is also no level
        ("**/*.sql", "db/migrations/0001.sql", True),
        ("libs/pay-?", "libs/pay-1/x.py", True),
        ("libs/pay-?", "libs/pay-12/x.py", False),
        ("libs/[ab]*", "libs/alpha/x.py", True),
        ("libs/[!ab]*", "libs/alpha/x.py", False),
        ("Services/Payments", "services/payments/app.py", False),  # case-sensitive, as git
    ],
)
def test_a_glob_matches_what_its_rules_say(glob: str, path: str, matches: bool) -> None:
    assert paths.compile_glob(glob).matches(path) is matches


def test_the_longest_matching_glob_owns_a_file() -> None:
    rules = [
        (1, paths.compile_glob("services/**")),
        (2, paths.compile_glob("services/payments/legacy/**")),
        (3, paths.compile_glob("**")),  # a team listing the repository without paths
    ]
    # "services/" has 9 literal characters, "services/payments/legacy" 24, "**" none
    assert paths.owner("services/payments/legacy/a.py", rules) == 2
    assert paths.owner("services/payments/a.py", rules) == 1
    assert paths.owner("README.md", rules) == 3
    assert paths.owner("README.md", rules[:2]) is None


def test_equal_lengths_go_to_the_team_listed_first() -> None:
    a, b = paths.compile_glob("services/a*/x"), paths.compile_glob("services/*b/x")
    assert a.rank == b.rank
    assert paths.owner("services/ab/x/y.py", [(7, a), (8, b)]) == 7
    assert paths.owner("services/ab/x/y.py", [(8, b), (7, a)]) == 8
