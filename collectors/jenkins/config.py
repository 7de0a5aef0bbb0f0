"""``[sources.jenkins]``: the Jenkins to read, its credentials' variables, and its deploy rules."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class JenkinsDeployRule(BaseModel):
    """Which Jenkins builds are deployments, and to which environment of which service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: glob (case-insensitive) over the job's full name, e.g. ``"*/deploy-*"``
    job_pattern: str
    #: the build parameter that names the environment (``ENVIRONMENT=staging``)
    environment_parameter: str | None = None
    #: a fixed environment, or the fallback when the parameter is absent
    environment: str | None = None
    #: the build parameter that holds the version deployed; else the commit is the version
    version_parameter: str | None = None
    #: the service deployed; else derived from the job name (``deploy-api`` -> ``api``)
    service: str | None = None

    @model_validator(mode="after")
    def _has_an_environment(self) -> JenkinsDeployRule:
        if not self.environment_parameter and not self.environment:
            raise ValueError("a deploy rule needs environment_parameter or environment")
        return self


class JenkinsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    user_env: str | None = "JENKINS_USER"
    token_env: str | None = "JENKINS_TOKEN"  # noqa: S105
    deploy_rules: list[JenkinsDeployRule] = []
    lint_patterns: list[str] = ["*lint*", "*checkstyle*", "*ruff*", "*flake8*", "*eslint*"]
    #: globs over git remote URLs of shared pipeline libraries: a build's revision from such a
    #: remote is never taken as the build's commit when the project's own checkout is there
    library_remotes: list[str] = [
        "*pipeline-library*",
        "*pipeline-lib*",
        "*shared-library*",
        "*shared-lib*",
        "*jenkins-library*",
        "*jenkins-lib*",
    ]
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: globs of jobs to collect besides those a team owns (``["*"]``: every job)
    jobs: list[str] = []
    #: builds asked for in one request (``tree=allBuilds[...]{from,to}``)
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    #: attempts after the first for 5xx, timeouts and dropped connections
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    #: the first backoff, doubled each attempt (with full jitter)
    retry_backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5

    @model_validator(mode="after")
    def _url_without_credentials(self) -> JenkinsConfig:
        # A model-level check, so that the error message never echoes the URL back.
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url: expected an http:// or https:// URL")
        if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("url must not contain credentials; name them in user_env/token_env")
        return self
