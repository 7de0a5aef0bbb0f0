"""The [sources.jira] section: defaults, and one clear message for a wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity import config

SECTION = """\
[sources.jira]
url = "https://jira.example.com"
{extra}

[[teams]]
name = "payments"
jira = ["PAY"]
"""


def test_defaults_need_only_the_url(tmp_path: Path) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(SECTION.format(extra=""))
    jira = config.load(path).sources.jira
    assert jira is not None
    assert (jira.user_env, jira.token_env, jira.lookback_minutes) == ("JIRA_USER", "JIRA_TOKEN", 5)
    assert jira.deployment_field is None
    assert config.load(path).team("payments").jira == ["PAY"]


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("lookback_minutes = 0", "sources.jira.lookback_minutes"),
        ("page_size = 5000", "sources.jira.page_size"),
        ("retry_attempts = 0", "sources.jira.retry_attempts"),
        ("deploy_field = 'x'", "sources.jira.deploy_field"),
        ("jql = 'labels = ops order by created'", "sources.jira.jql"),
    ],
)
def test_wrong_value_names_its_key_and_line(tmp_path: Path, extra: str, key: str) -> None:
    path = tmp_path / "maturity.toml"
    path.write_text(SECTION.format(extra=extra))
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}:3: {key}: ")
