"""``[sources.github]``: where GitHub is, which token to use, and how to read it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from maturity.config import renamed_options


def _owner_slash_name(value: list[str]) -> list[str]:
    for item in value:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/([A-Za-z0-9_.*-]+)", item):
            raise ValueError(f"expected 'owner/name' (or 'owner/*'), got {item!r}")
    return value


#: ``github = ["acme/api", "acme-payments/*"]`` under ``[[teams]]``
TeamRepositories = Annotated[list[str], AfterValidator(_owner_slash_name)]


class GitHubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
    #: items per request of every list (GitHub's maximum is 100)
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    #: the old name of ``page_size``
    per_page: Annotated[int, Field(ge=1, le=100)] | None = None
    incident_labels: list[str] = ["incident"]
    #: a pull request with one of these labels is a hotfix, and so is the deployment of its commit
    hotfix_labels: list[str] = ["hotfix"]
    deployment_environments: list[str] = []
    #: a deployment that has no status after this many hours is final, with status ``unknown``
    deployment_status_max_age_h: Annotated[float, Field(gt=0, le=24 * 90)] = 24.0
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: attempts after the first for 5xx, timeouts and dropped connections
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    #: the first backoff, doubled each attempt (with full jitter); rate limits say their own wait
    retry_backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    #: "graphql" fetches pull requests with their reviews 100 at a time; "rest" needs one more
    #: request per changed pull request (for servers without GraphQL)
    pull_requests_api: Literal["graphql", "rest"] = "graphql"
    #: the longest wait for a spent rate-limit budget before the scope fails
    max_rate_limit_wait_s: Annotated[float, Field(ge=0)] = 3600.0
    #: added to every wait for a rate-limit reset: the reset is whole seconds of the server's clock
    rate_limit_reset_margin_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    #: days re-read behind the commit cursor: merged branches bring older commit dates
    commit_lookback_days: Annotated[int, Field(ge=0, le=365)] = 14
    #: deployment creators (globs over logins) counted as automation besides bots and apps
    automation_logins: list[str] = []
    #: the least time between two requests (PyGithub's default; GitHub asks for serial calls)
    min_request_interval_s: Annotated[float, Field(ge=0, le=60)] = 0.25

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return renamed_options(data, cls, "sources.github", {"per_page": ("page_size", int)})
