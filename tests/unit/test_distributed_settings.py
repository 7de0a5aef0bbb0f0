"""Distributed mode's settings: environment overrides, defaults, refusals; budget keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity import config as config_mod
from maturity.distributed import budgets
from maturity.distributed import settings as settings_mod


def parse(text: str) -> config_mod.Config:
    return config_mod.parse(text, source=Path("maturity.toml"))


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATURITY_BROKER_URL", "redis://:pw@broker:6379/3")
    s = settings_mod.load(parse('[distributed]\nbroker_url = "redis://file:6379/0"\n'))
    assert s.broker_url == "redis://:pw@broker:6379/3"
    # results and budgets follow a Redis broker unless set
    assert s.result_backend == s.budget_url == "redis://:pw@broker:6379/3"


def test_a_broker_that_is_not_redis_needs_a_result_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MATURITY_BROKER_URL", raising=False)
    cfg = parse('[distributed]\nbroker_url = "amqp://rabbit:5672//"\n')
    with pytest.raises(settings_mod.DistributedError, match="result_backend"):
        settings_mod.load(cfg)
    monkeypatch.setenv("MATURITY_RESULT_BACKEND", "redis://results:6379/1")
    s = settings_mod.load(cfg)
    assert (s.broker_url, s.result_backend, s.budget_url) == (
        "amqp://rabbit:5672//",
        "redis://results:6379/1",
        None,
    )


def test_a_password_in_the_file_is_refused_without_being_repeated() -> None:
    with pytest.raises(config_mod.ConfigError) as caught:
        parse('[distributed]\nresult_backend = "redis://u:hunter2@r:6379/1"\n')
    assert "MATURITY_RESULT_BACKEND" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_only_postgresql_is_accepted() -> None:
    settings_mod.require_postgres("postgresql+psycopg://u@h/db")
    with pytest.raises(settings_mod.DistributedError, match="not sqlite"):
        settings_mod.require_postgres("sqlite:////tmp/x.db")


def test_one_budget_per_host_and_credential_never_holding_the_secret() -> None:
    a = budgets.budget_id("https://api.github.com/repos/a/b?page=2", {"Authorization": "token A1"})
    b = budgets.budget_id("https://API.github.com/graphql", {"authorization": "token A1"})
    c = budgets.budget_id("https://api.github.com/repos/a/b", {"Authorization": "token B2"})
    anon = budgets.budget_id("https://jenkins.example.com/api/json", {})
    assert a == b  # same host and token: one budget, whatever the path or header case
    assert a[0] == c[0] and a[1] != c[1]  # one host, two tokens: two budgets
    assert anon == ("https://jenkins.example.com", "https://jenkins.example.com|anonymous")
    assert "A1" not in a[1] and "B2" not in c[1]
