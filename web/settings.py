"""The web application's settings: tokens from environment variables, refused when unsafe."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

ADMIN_ENV = "MATURITY_ADMIN_TOKEN"
VIEWER_ENV = "MATURITY_VIEWER_TOKEN"
INGEST_ENV = "MATURITY_INGEST_TOKEN"
MIN_TOKEN_CHARS = 16
#: the least information a token must carry, by the spread of its characters: 16 random hex
#: digits carry about 55 bits by this measure (rarely under 45), 16 times one letter none
MIN_TOKEN_BITS = 40.0
MIN_DISTINCT_CHARS = 8
_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "token", "admin"}


def token_bits(token: str) -> float:
    """Information in ``token`` by the spread of its characters (Shannon entropy times length).

    A lower bound is not possible without knowing how the token was made; this one catches
    what people type: one letter repeated, a short pattern, a word padded with digits.
    """
    if not token:
        return 0.0
    counts = Counter(token)
    n = len(token)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def strong_enough(token: str) -> bool:
    """Whether a token is long and random enough to guard the application."""
    raw = token.strip()
    return (
        len(raw) >= MIN_TOKEN_CHARS
        and raw.casefold() not in _PLACEHOLDERS
        and len(set(raw)) >= MIN_DISTINCT_CHARS
        and token_bits(raw) >= MIN_TOKEN_BITS
    )


class SettingsError(ValueError):
    """A token is set to something unsafe; the message names the variable, never the value."""


class WebSettings(BaseModel):
    """Tokens of the web application; every one is optional, none has a default value."""

    model_config = ConfigDict(frozen=True)

    admin_token: SecretStr | None = None
    viewer_token: SecretStr | None = None
    ingest_token: SecretStr | None = None
    #: a source whose last successful run is older than this many hours is shown as stale
    stale_hours: float = 26.0

    @field_validator("admin_token", "viewer_token", "ingest_token")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not strong_enough(value.get_secret_value()):
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} random characters")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        """Read the tokens from ``MATURITY_*_TOKEN``; an empty variable counts as unset."""
        env = os.environ if environ is None else environ
        names = {"admin_token": ADMIN_ENV, "viewer_token": VIEWER_ENV, "ingest_token": INGEST_ENV}
        values = {field: env.get(var) or None for field, var in names.items()}
        for field, var in names.items():
            try:
                cls.model_validate({field: values[field]})
            except ValueError:
                raise SettingsError(
                    f"{var} must be at least {MIN_TOKEN_CHARS} random characters "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                ) from None
        return cls.model_validate(values)
