"""``[sources.jenkins]``: options validated, with errors that name the key and leak nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity import config

BASE = """\
[sources.jenkins]
url = "https://jenkins.example.com"
"""


def parse(text: str, tmp_path: Path) -> config.Config:
    return config.parse(text, source=tmp_path / "maturity.toml")


def test_defaults_collect_owned_jobs_in_pages_of_a_hundred(tmp_path: Path) -> None:
    source = parse(BASE, tmp_path).sources.jenkins
    assert source is not None
    assert (source.page_size, source.retries, source.jobs) == (100, 5, [])
    assert (source.user_env, source.token_env) == ("JENKINS_USER", "JENKINS_TOKEN")


def test_deploy_rule_without_an_environment_is_refused(tmp_path: Path) -> None:
    text = BASE + '[[sources.jenkins.deploy_rules]]\njob_pattern = "*/deploy-*"\n'
    with pytest.raises(config.ConfigError) as info:
        parse(text, tmp_path)
    assert "sources.jenkins.deploy_rules[0]" in str(info.value)
    assert "environment_parameter or environment" in str(info.value)


def test_credentials_in_the_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    text = BASE.replace("https://", "https://bob:hunter2@")
    with pytest.raises(config.ConfigError) as info:
        parse(text, tmp_path)
    assert "must not contain credentials" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("line", ["page_size = 0", "page_size = 5000", "retries = -1"])
def test_out_of_range_paging_and_retry_options_name_the_key(tmp_path: Path, line: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        parse(BASE + line + "\n", tmp_path)
    assert f"sources.jenkins.{line.split()[0]}" in str(info.value)
