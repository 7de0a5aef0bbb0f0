"""Pure rules of the web layer: token strength, CSV cells, redirects, environment tiers."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import HTTPException
from pydantic import SecretStr
from starlette.requests import Request

from maturity.config import EnvironmentsConfig
from maturity.environments import order_environments, tier_of
from web.deps import require_admin, require_viewer
from web.export import safe_cell
from web.pages.auth import safe_next
from web.security import bearer, cookie_matches, cookie_value, token_matches
from web.settings import SettingsError, WebSettings


@pytest.mark.parametrize("value", ["short", "changeme", " " * 20 + "xyz", "fifteen-chars-x"])
def test_weak_tokens_are_refused_naming_the_variable_not_the_value(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        WebSettings.from_env({"MATURITY_ADMIN_TOKEN": value})
    assert "MATURITY_ADMIN_TOKEN must be at least 16" in str(caught.value)
    assert value.strip() not in str(caught.value)


def test_tokens_come_from_the_environment_and_empty_means_unset() -> None:
    s = WebSettings.from_env(
        {"MATURITY_VIEWER_TOKEN": "v" * 20, "MATURITY_ADMIN_TOKEN": "", "OTHER": "x"}
    )
    assert s.admin_token is None and s.ingest_token is None
    assert s.viewer_token is not None and s.viewer_token.get_secret_value() == "v" * 20
    assert "v" * 20 not in repr(s)


def test_token_comparison_accepts_only_the_exact_token() -> None:
    s = WebSettings.from_env({"MATURITY_ADMIN_TOKEN": "a" * 20})
    assert token_matches("a" * 20, s.admin_token)
    assert not token_matches("a" * 19, s.admin_token)
    assert not token_matches("a" * 20 + " ", s.admin_token)
    assert not token_matches(None, s.admin_token)
    assert not token_matches("a" * 20, None)
    assert not token_matches("\ud800", s.admin_token)


def test_the_login_cookie_is_a_digest_bound_to_the_viewer_token() -> None:
    one = WebSettings.from_env({"MATURITY_VIEWER_TOKEN": "1" * 20}).viewer_token
    two = WebSettings.from_env({"MATURITY_VIEWER_TOKEN": "2" * 20}).viewer_token
    assert one is not None and two is not None
    value = cookie_value(one)
    assert "1" * 20 not in value
    assert cookie_matches(value, one)
    assert not cookie_matches(value, two)
    assert not cookie_matches("é", one)


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None)],
)
def test_bearer_reads_only_bearer_authorization(header: str, token: str | None) -> None:
    assert bearer(header) == token


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (" =1+1", "' =1+1"),
        ("  @SUM(A1)", "'  @SUM(A1)"),
        ("\u3000-1", "'\u3000-1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        (" plain", " plain"),
        ("a=1", "a=1"),
        ("plain", "plain"),
        (-1, -1),
        (None, ""),
        (True, "true"),
        (dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), "2026-01-02T03:04:00+00:00"),
    ],
)
def test_csv_cells_that_could_start_a_formula_are_neutralised(value: object, cell: object) -> None:
    assert safe_cell(value) == cell


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/collection?source=git", "/collection?source=git"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_after_login_only_paths_of_this_site_are_followed(target: str, safe: str) -> None:
    assert safe_next(target) == safe


def test_environment_names_fall_in_tiers_by_the_configured_globs() -> None:
    cfg = EnvironmentsConfig()
    assert [tier_of(n, cfg) for n in ("prod", "Production-EU", "staging", "qa-2", "dev", "x")] == [
        "production",
        "production",
        "staging",
        "qa",
        "development",
        None,
    ]
    assert order_environments(["prod", "zeta", "staging", "dev", "alpha", "qa"], cfg) == [
        "dev",
        "qa",
        "staging",
        "prod",
        "alpha",
        "zeta",
    ]


def _request(authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def _settings(**tokens: str) -> WebSettings:
    return WebSettings(**{k: SecretStr(v) for k, v in tokens.items()})


ADMIN, VIEWER, INGEST = "a" * 20, "v" * 20, "i" * 20


@pytest.mark.parametrize(
    ("tokens", "header", "status"),
    [
        ({}, f"Bearer {ADMIN}", 403),  # no admin token configured: administration is off
        ({"admin_token": ADMIN}, None, 401),
        ({"admin_token": ADMIN}, "Bearer wrong", 401),
        ({"admin_token": ADMIN}, f"Basic {ADMIN}", 401),
        ({"admin_token": ADMIN, "viewer_token": VIEWER}, f"Bearer {VIEWER}", 403),
        ({"admin_token": ADMIN, "ingest_token": INGEST}, f"Bearer {INGEST}", 401),
    ],
)
def test_administrative_actions_refuse_everything_but_the_admin_token(
    tokens: dict[str, str], header: str | None, status: int
) -> None:
    with pytest.raises(HTTPException) as caught:
        require_admin(_request(header), _settings(**tokens))
    assert caught.value.status_code == status
    if status == 401:
        assert caught.value.headers == {"WWW-Authenticate": "Bearer"}


def test_the_admin_token_passes_administrative_actions() -> None:
    assert require_admin(_request(f"Bearer {ADMIN}"), _settings(admin_token=ADMIN)).role == "admin"


def test_reading_with_a_viewer_token_set_needs_it_or_the_admin_token() -> None:
    settings = _settings(admin_token=ADMIN, viewer_token=VIEWER)
    assert require_viewer(_request(f"Bearer {VIEWER}"), settings).role == "viewer"
    assert require_viewer(_request(f"Bearer {ADMIN}"), settings).role == "admin"
    with pytest.raises(HTTPException) as caught:
        require_viewer(_request(f"Bearer {INGEST}"), settings)
    assert caught.value.status_code == 401
    assert require_viewer(_request(), _settings()).role == "anyone"
