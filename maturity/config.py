"""Load and validate ``maturity.toml``: the store, the sources, the teams and the rules.

Errors are :class:`ConfigError` with one line that names the key, the line of the file where it
can be found, and what was expected. Secrets never appear here: the file names the environment
variable that holds each one (``token_env = "GITHUB_TOKEN"``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

CONFIG_ENV = "MATURITY_CONFIG"
DEFAULT_FILE = "maturity.toml"


class ConfigError(Exception):
    """The configuration file is missing or wrong; the message says where and what."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    url: str = "sqlite:///maturity.db"


class SettingsConfig(_Strict):
    window_days: Annotated[int, Field(ge=7, le=730)] = 90
    cache_dir: str = ".maturity/cache"
    timezone: str = "UTC"


class EnvironmentsConfig(_Strict):
    """Glob patterns (case-insensitive) that put an environment name in a promotion tier."""

    production: list[str] = ["prod", "prod-*", "production*", "live", "prd*"]
    staging: list[str] = ["stag*", "preprod*", "pre-prod*", "stage"]
    qa: list[str] = ["qa*", "test*", "uat*", "int*"]
    development: list[str] = ["dev*", "sandbox*", "local*"]


class RulesConfig(_Strict):
    """How raw events become meaning: incidents, hotfixes, attribution."""

    incident_attribution_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 72.0
    incident_attribution: Literal["latest_before", "same_service_latest_before"] = (
        "same_service_latest_before"
    )
    hotfix_patterns: list[str] = ["hotfix*", "*hotfix*"]
    rollback_patterns: list[str] = ["rollback*", "revert*"]


class GitHubSource(_Strict):
    base_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
    per_page: Annotated[int, Field(ge=1, le=100)] = 100
    incident_labels: list[str] = ["incident"]
    hotfix_labels: list[str] = ["hotfix"]
    deployment_environments: list[str] = []
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: "graphql" fetches pull requests with their reviews 100 at a time; "rest" needs one more
    #: request per changed pull request (for servers without GraphQL)
    pull_requests_api: Literal["graphql", "rest"] = "graphql"
    #: the longest wait for a spent rate-limit budget before the scope fails
    max_rate_limit_wait_s: Annotated[float, Field(ge=0)] = 3600.0
    #: days re-read behind the commit cursor: merged branches bring older commit dates
    commit_lookback_days: Annotated[int, Field(ge=0, le=365)] = 14
    #: deployment creators (globs over logins) counted as automation besides bots and apps
    automation_logins: list[str] = []
    #: the least time between two requests (PyGithub's default; GitHub asks for serial calls)
    min_request_interval_s: Annotated[float, Field(ge=0, le=60)] = 0.25


class JenkinsDeployRule(_Strict):
    """Which Jenkins builds are deployments, and to which environment of which service."""

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


class JenkinsSource(_Strict):
    url: str
    user_env: str | None = "JENKINS_USER"
    token_env: str | None = "JENKINS_TOKEN"  # noqa: S105
    deploy_rules: list[JenkinsDeployRule] = []
    lint_patterns: list[str] = ["*lint*", "*checkstyle*", "*ruff*", "*flake8*", "*eslint*"]
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
    def _url_without_credentials(self) -> JenkinsSource:
        # A model-level check, so that the error message never echoes the URL back.
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url: expected an http:// or https:// URL")
        if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("url must not contain credentials; name them in user_env/token_env")
        return self


class JiraSource(_Strict):
    url: str
    user_env: str | None = "JIRA_USER"
    token_env: str | None = "JIRA_TOKEN"  # noqa: S105
    jql: str | None = None
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    incident_issue_types: list[str] = ["Incident"]
    incident_labels: list[str] = ["incident"]
    incident_priorities: list[str] = []
    service_field: str | None = None
    #: the field that names the deployment or version an incident belongs to; by default the
    #: first affected version (``versions``)
    deployment_field: str | None = None
    #: how far before the stored cursor each incremental query starts (JQL has minute precision)
    lookback_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 5
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    retry_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    retry_base_s: Annotated[float, Field(gt=0, le=60)] = 0.5

    @field_validator("jql")
    @classmethod
    def _jql_is_a_filter(cls, value: str | None) -> str | None:
        # The collector orders by update time itself; its cursor depends on that order.
        if value is not None and re.search(r"\border\s+by\b", value, re.IGNORECASE):
            raise ValueError("jql is a filter only; leave out ORDER BY")
        return value


class SourcesConfig(_Strict):
    github: GitHubSource | None = None
    jenkins: JenkinsSource | None = None
    jira: JiraSource | None = None


class RepositorySpec(_Strict):
    """A git repository a team owns: a local path or a URL, optionally with its default branch."""

    location: str
    default_branch: str | None = None
    name: str | None = None


class TeamConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    repositories: list[str | RepositorySpec] = []
    github: list[str] = []
    jenkins: list[str] = []
    jira: list[str] = []
    services: list[str] = []

    @field_validator("name")
    @classmethod
    def _name_is_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a team name cannot be blank")
        return value.strip()

    @field_validator("github")
    @classmethod
    def _github_is_owner_slash_name(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/([A-Za-z0-9_.*-]+)", item):
                raise ValueError(f"expected 'owner/name' (or 'owner/*'), got {item!r}")
        return value


class Config(_Strict):
    store: StoreConfig = StoreConfig()
    settings: SettingsConfig = SettingsConfig()
    model: str | None = None
    environments: EnvironmentsConfig = EnvironmentsConfig()
    rules: RulesConfig = RulesConfig()
    sources: SourcesConfig = SourcesConfig()
    teams: list[TeamConfig] = []
    #: the folder relative paths in the file are resolved against (not a key of the file)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("teams")
    @classmethod
    def _unique_team_names(cls, teams: list[TeamConfig]) -> list[TeamConfig]:
        seen: set[str] = set()
        for team in teams:
            folded = team.name.casefold()
            if folded in seen:
                raise ValueError(f"team {team.name!r} is defined twice")
            seen.add(folded)
        return teams

    def resolve(self, location: str) -> str:
        """A repository location as the collector uses it: URLs as they are, paths absolute."""
        if re.match(r"^[a-z][a-z0-9+.-]*://", location) or re.match(r"^[^/]+@[^/]+:", location):
            return location
        path = Path(location).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        return str(path.resolve())

    def model_path(self) -> Path | None:
        if self.model is None:
            return None
        path = Path(self.model).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def cache_dir(self) -> Path:
        path = Path(self.settings.cache_dir).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def team(self, name: str) -> TeamConfig:
        for team in self.teams:
            if team.name.casefold() == name.casefold():
                return team
        known = ", ".join(t.name for t in self.teams) or "none configured"
        raise ConfigError(f"no team named {name!r} (teams: {known})")


def secret(env_name: str | None) -> str | None:
    """Read a secret from the environment variable the configuration names; never log it."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    return value or None


def find_config_path(explicit: str | Path | None = None) -> Path | None:
    """The file to load: ``--config``, else ``MATURITY_CONFIG``, else ./maturity.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_FILE)
    return default if default.exists() else None


def load(path: str | Path | None = None) -> Config:
    """Load and validate the configuration; with no file at all, an empty organisation."""
    found = find_config_path(path)
    if found is None:
        return Config(base_dir=Path.cwd())
    if not found.exists():
        raise ConfigError(f"{found}: no such configuration file (run 'maturity init' to write one)")
    text = found.read_text(encoding="utf-8")
    return parse(text, source=found)


def parse(text: str, *, source: Path) -> Config:
    """Validate the text of a configuration file; ``source`` anchors relative paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate({**data, "base_dir": source.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, text, source)) from None


def _describe(exc: ValidationError, text: str, source: Path) -> str:
    err = exc.errors()[0]
    loc = [part for part in err["loc"] if not (isinstance(part, str) and "[" in part)]
    # pydantic adds the union member's name (e.g. 'str') to the location; drop it.
    loc = [p for p in loc if p not in ("str", "RepositorySpec", "function-after")]
    key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    line = _line_of(text, loc)
    where = f"{source}:{line}" if line else str(source)
    if err["type"] == "extra_forbidden":
        what = "unknown key"
    elif err["type"] == "missing":
        what = "required key is missing"
    else:
        what = err["msg"]
        if "input" in err and not isinstance(err["input"], dict | list):
            what += f" (got {err['input']!r})"
    return f"{where}: {key or '(top level)'}: {what}"


def _line_of(text: str, loc: list[Any]) -> int | None:
    """Best-effort line number of the key at ``loc`` (tomllib keeps no positions)."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    lines = text.splitlines()
    # Find the section: the n-th [[teams]] for ('teams', n, ...), or [a.b] for ('a','b', ...).
    start = 0
    if len(loc) >= 2 and isinstance(loc[1], int):
        count = -1
        for i, line in enumerate(lines):
            if re.match(rf"^\s*\[\[\s*{re.escape(str(loc[0]))}\s*\]\]", line):
                count += 1
                if count == loc[1]:
                    start = i
                    break
    last = names[-1]
    pattern = re.compile(rf"^\s*\"?{re.escape(last)}\"?\s*=")
    for i in range(start, len(lines)):
        if pattern.match(lines[i]):
            return i + 1
    header = re.compile(rf"^\s*\[+\s*{re.escape('.'.join(names))}\s*\]+")
    for i, line in enumerate(lines):
        if header.match(line):
            return i + 1
    return start + 1 if start else None


EXAMPLE = """\
# maturity.toml: what devops-maturity collects and how it scores.
# Paths are relative to this file. Secrets are never written here: each source names the
# environment variable that holds its token.

[store]
# SQLite by default; MATURITY_DATABASE_URL overrides this (e.g. postgresql://user@host/db).
url = "sqlite:///maturity.db"

[settings]
window_days = 90            # trailing window of every metric, in days
cache_dir = ".maturity/cache"  # where repositories given by URL are cloned

# model = "my-model.toml"   # replace the default maturity model with your own

# [sources.github]
# base_url = "https://api.github.com"   # or https://github.example.com/api/v3
# token_env = "GITHUB_TOKEN"
# incident_labels = ["incident"]

# [sources.jenkins]
# url = "https://jenkins.example.com"
# user_env = "JENKINS_USER"
# token_env = "JENKINS_TOKEN"
# [[sources.jenkins.deploy_rules]]
# job_pattern = "*/deploy-*"
# environment_parameter = "ENVIRONMENT"

# [sources.jira]
# url = "https://jira.example.com"
# user_env = "JIRA_USER"
# token_env = "JIRA_TOKEN"
# incident_issue_types = ["Incident"]

[[teams]]
name = "payments"
repositories = ["../payments-api"]
# github = ["acme/payments-api"]
# jenkins = ["payments/*"]
# jira = ["PAY"]
"""
