"""``[sources.gitlab]``: where GitLab is, which token to use, and how to read it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

#: one segment of a project or group path, globs allowed (``payments``, ``api-*``)
_SEGMENT = r"[A-Za-z0-9_.*?\[\]-]+"


def _project_paths(value: list[str]) -> list[str]:
    for item in value:
        if not re.fullmatch(rf"{_SEGMENT}(/{_SEGMENT})+", item):
            raise ValueError(
                f"expected 'group/project' or a glob such as 'group/sub/*', got {item!r}"
            )
    return value


#: ``gitlab = ["acme/payments/api", "acme/payments/*"]`` under ``[[teams]]``
TeamProjects = Annotated[list[str], AfterValidator(_project_paths)]


class GitLabConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: gitlab.com or a self-managed instance (with its relative path, if any), without /api/v4
    url: str = "https://gitlab.com"
    token_env: str = "GITLAB_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
    #: items per request of every list (GitLab's maximum is 100)
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: attempts after the first for 429, 5xx, timeouts and dropped connections
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    #: the first backoff, doubled each attempt (with full jitter); rate limits say their own wait
    retry_backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    #: the longest wait for a spent rate-limit budget before the scope fails
    max_rate_limit_wait_s: Annotated[float, Field(ge=0)] = 3600.0
    #: added to every wait for a rate-limit reset: the reset is whole seconds of the server's clock
    rate_limit_reset_margin_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    #: an issue with one of these labels is an incident (besides GitLab's incident issue type)
    incident_labels: list[str] = ["incident"]
    #: a merge request with one of these labels is a hotfix, and so is the deployment of its commit
    hotfix_labels: list[str] = ["hotfix"]
    #: globs (any case) of the environments whose deployments are collected; empty: all
    deployment_environments: list[str] = []
    #: globs over CI job names and stages that mark a pipeline as linting
    lint_patterns: list[str] = [
        "*lint*",
        "*ruff*",
        "*flake8*",
        "*checkstyle*",
        "*rubocop*",
        "*golangci*",
        "*code_quality*",
        "*code-quality*",
    ]
    #: read the test report summary of pipelines that publish JUnit reports (one request each)
    test_reports: bool = True
    #: days re-read behind the commit cursor: merged branches bring older commit dates
    commit_lookback_days: Annotated[int, Field(ge=0, le=365)] = 14
    #: deployment users (globs over usernames) counted as automation besides bots
    automation_logins: list[str] = []
    #: collect archived projects that a group glob matches
    include_archived: bool = False

    @model_validator(mode="after")
    def _url_without_credentials(self) -> GitLabConfig:
        # A model-level check, so that the error message never echoes the URL back.
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url: expected an http:// or https:// URL")
        if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("url must not contain credentials; name the token in token_env")
        if self.url.rstrip("/").endswith("/api/v4"):
            raise ValueError("url: give GitLab's address without /api/v4 (it is added)")
        return self
