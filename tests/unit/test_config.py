"""The configuration file: the minimal form works, wrong files get one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity import config

MINIMAL = """\
[store]
url = "sqlite:///maturity.db"

[[teams]]
name = "payments"
repositories = ["../payments-api", "https://git.example.com/payments-web.git"]
"""


def test_minimal_form_resolves_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "maturity.toml"
    path.parent.mkdir()
    path.write_text(MINIMAL)
    cfg = config.load(path)
    team = cfg.team("payments")
    assert [cfg.resolve(r) for r in team.repositories if isinstance(r, str)] == [
        str((tmp_path / "payments-api").resolve()),
        "https://git.example.com/payments-web.git",
    ]


def test_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MINIMAL + 'reposites = ["x"]\n')
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value) == f"{path}:7: teams[0].reposites: unknown key"


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MINIMAL.replace("[store]\n", "[settings]\nwindow_days = 'ninety'\n[store]\n"))
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: settings.window_days: ")
    assert "integer" in message


def test_invalid_toml_reports_the_position(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text("[store\nurl = 1\n")
    with pytest.raises(config.ConfigError, match=r"not valid TOML: .*line 1"):
        config.load(path)


def test_duplicate_team_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MINIMAL + '\n[[teams]]\nname = "Payments"\n')
    with pytest.raises(config.ConfigError, match="defined twice"):
        config.load(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="maturity init"):
        config.load(tmp_path / "absent.toml")


def test_example_written_by_init_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(config.EXAMPLE)
    assert config.load(path).teams[0].name == "payments"


def test_unknown_team_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MINIMAL)
    with pytest.raises(config.ConfigError, match=r"no team named 'ops' \(teams: payments\)"):
        config.load(path).team("ops")


@pytest.mark.parametrize(
    ("section", "old", "new", "expected"),
    [
        ("[sources.github]\n", "per_page = 50", "page_size", 50),
        ('[sources.jira]\nurl = "https://jira.example.com"\n', "retry_attempts = 3", "retries", 2),
        (
            '[sources.jira]\nurl = "https://jira.example.com"\n',
            "retry_base_s = 2.5",
            "retry_backoff_s",
            2.5,
        ),
    ],
)
def test_old_option_names_still_work_with_a_deprecation_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    section: str,
    old: str,
    new: str,
    expected: object,
) -> None:
    cfg = config.parse(section + old + "\n", source=tmp_path / "maturity.toml")
    name = section.split("]")[0].removeprefix("[sources.")
    assert getattr(cfg.source(name), new) == expected
    assert f"{old.split()[0]} is deprecated; write {new} = {expected!r} instead" in caplog.text


def test_an_old_and_a_new_name_of_one_option_are_refused(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.parse(
            "[sources.github]\nper_page = 50\npage_size = 20\n", source=tmp_path / "maturity.toml"
        )
    assert "per_page and page_size are the same option; keep only page_size" in str(info.value)


def test_every_collector_names_paging_and_retries_alike() -> None:
    import collectors

    for source in collectors.SOURCES.values():
        fields = set(source.settings.model_fields) if source.settings else set()
        if {"page_size", "retries"} & fields or "timeout_s" in fields:
            assert {"page_size", "retries", "retry_backoff_s", "timeout_s"} <= fields, source.name


MONOREPO = """\
[[teams]]
name = "payments"
repositories = [{ location = "../mono", paths = ["services/payments/**", "libs/pay-*"] }]

[[teams]]
name = "search"

[[teams.repositories]]
location = "../mono"
paths = [PATTERNS]
"""


def test_path_rules_are_read_under_a_teams_repository(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MONOREPO.replace("PATTERNS", '"services/search"'))
    cfg = config.load(path)
    assert [s.paths for s in cfg.repository_specs(cfg.team("payments"))] == [
        ["services/payments/**", "libs/pay-*"]
    ]
    assert [s.paths for s in cfg.repository_specs(cfg.team("search"))] == [["services/search"]]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ('""', "a path glob cannot be empty"),
        ('"/services/search"', "path glob '/services/search' must be relative to the repository"),
        ('"services/[search"', "path glob 'services/[search' has a '[' without its ']'"),
        ('"services/search]"', "path glob 'services/search]' has a ']' without its '['"),
        ('"services//search"', "path glob 'services//search' has an empty level ('//')"),
        ('"services/../search"', "path glob 'services/../search' cannot contain '..'"),
        ('"services/search**"', "path glob 'services/search**': '**' must be a whole level"),
        ('"services\\\\search"', "path glob 'services\\\\search' contains '\\'"),
    ],
)
def test_a_bad_path_glob_is_one_line_naming_key_line_and_reason(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(MONOREPO.replace("PATTERNS", f'"services/search/**", {pattern}'))
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:10: teams[1].repositories[0].paths: ")
    assert reason in message


def test_a_bad_path_glob_in_an_inline_table_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(
        MONOREPO.replace('"libs/pay-*"', '"libs/[pay"').replace("PATTERNS", '"services/search"')
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value) == (
        f"{path}:3: teams[0].repositories[0].paths: Value error, "
        "path glob 'libs/[pay' has a '[' without its ']'"
    )


def test_sources_come_from_the_provider_the_entry_layer_sets(tmp_path: Path) -> None:
    """The core names no collector: without the wiring, no source section is known."""
    from maturity import wiring

    text = '[sources.github]\ntoken_env = "GH"\n\n[[teams]]\nname = "a"\ngithub = ["acme/*"]\n'
    try:
        config.use_sources(None)
        assert config.source_specs() == ()
        with pytest.raises(config.ConfigError) as info:
            config.parse(text, source=tmp_path / "maturity.toml")
        assert "github" in str(info.value)
    finally:
        wiring.wire()
    cfg = config.parse(text, source=tmp_path / "maturity.toml")
    assert cfg.team("a").owns("github") == ["acme/*"]
    assert [s.name for s in config.source_specs()][:2] == ["git", "github"]
