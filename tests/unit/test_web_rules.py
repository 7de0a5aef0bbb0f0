"""Pure rules of the web layer: token strength, CSV cells, redirects, environment tiers."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from fastapi import HTTPException
from pydantic import SecretStr
from starlette.requests import Request

from maturity.config import EnvironmentsConfig
from maturity.environments import order_environments, tier_of
from web.deps import require_admin, require_viewer
from web.export import safe_cell
from web.pages.auth import safe_next
from web.security import (
    FailureLimiter,
    bearer,
    binding_matches,
    new_session_id,
    session_binding,
    session_digest,
    token_matches,
)
from web.settings import SettingsError, WebSettings

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"


@pytest.mark.parametrize(
    "value",
    [
        "short",
        "changeme",
        " " * 20 + "xyz",
        "fifteen-chars-x",
        "a" * 16,
        "a" * 64,
        "abababababababab",
        "abcdabcdabcdabcd",
    ],
)
def test_weak_tokens_are_refused_naming_the_variable_not_the_value(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        WebSettings.from_env({"MATURITY_ADMIN_TOKEN": value})
    assert "MATURITY_ADMIN_TOKEN must be at least 16" in str(caught.value)
    assert value.strip() not in str(caught.value)


def test_tokens_come_from_the_environment_and_empty_means_unset() -> None:
    s = WebSettings.from_env(
        {"MATURITY_VIEWER_TOKEN": VIEWER, "MATURITY_ADMIN_TOKEN": "", "OTHER": "x"}
    )
    assert s.admin_token is None and s.ingest_token is None
    assert s.viewer_token is not None and s.viewer_token.get_secret_value() == VIEWER
    assert VIEWER not in repr(s)


@pytest.mark.parametrize(
    "value", ["7855b6e41ce32990", "Correct-Horse-Battery-Staple", "q9ZP2xT_c0Lh7wVdN4mKs1RyBe6uJ"]
)
def test_random_looking_tokens_of_16_characters_or_more_are_accepted(value: str) -> None:
    assert WebSettings.from_env({"MATURITY_ADMIN_TOKEN": value}).admin_token is not None


def test_token_comparison_accepts_only_the_exact_token() -> None:
    s = WebSettings.from_env({"MATURITY_ADMIN_TOKEN": ADMIN})
    assert token_matches(ADMIN, s.admin_token)
    assert not token_matches(ADMIN[:-1], s.admin_token)
    assert not token_matches(ADMIN + " ", s.admin_token)
    assert not token_matches(None, s.admin_token)
    assert not token_matches(ADMIN, None)
    assert not token_matches("\ud800", s.admin_token)


def test_a_login_session_is_random_stored_as_a_digest_and_bound_to_the_viewer_token() -> None:
    one = SecretStr(VIEWER)
    two = SecretStr(VIEWER + "2")
    first, second = new_session_id(), new_session_id()
    assert first != second and len(first) >= 43  # 256 random bits, not derived from the token
    digest = session_digest(first)
    assert first not in digest and VIEWER not in digest
    binding = session_binding(one, digest)
    assert VIEWER not in binding
    assert binding_matches(binding, one, digest)
    assert not binding_matches(binding, two, digest)
    assert not binding_matches(binding, None, digest)
    assert not binding_matches(binding, one, session_digest(second))


def test_failed_attempts_past_the_limit_are_refused_until_the_window_passes() -> None:
    now = [1000.0]
    limiter = FailureLimiter(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        limiter.fail("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None
    now[0] += 10
    limiter.fail("10.0.0.1")
    # the first failure (at 1000) leaves the window at 1060; it is 1010 now
    assert limiter.retry_after("10.0.0.1") == 50
    assert limiter.retry_after("10.0.0.2") is None
    now[0] = 1060.5
    assert limiter.retry_after("10.0.0.1") is None


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
    app = SimpleNamespace(state=SimpleNamespace(auth_failures=FailureLimiter()))
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": headers,
            "app": app,
            "client": ("192.0.2.1", 4000),
        }
    )


def _settings(**tokens: str) -> WebSettings:
    return WebSettings(**{k: SecretStr(v) for k, v in tokens.items()})


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
