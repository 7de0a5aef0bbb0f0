"""The web application's settings: tokens from environment variables, refused when unsafe."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

ADMIN_ENV = "MATURITY_ADMIN_TOKEN"
VIEWER_ENV = "MATURITY_VIEWER_TOKEN"
INGEST_ENV = "MATURITY_INGEST_TOKEN"
MIN_TOKEN_CHARS = 16
_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "token", "admin"}


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
        raw = value.get_secret_value()
        if len(raw.strip()) < MIN_TOKEN_CHARS or raw.strip().casefold() in _PLACEHOLDERS:
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
