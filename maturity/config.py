"""Load and validate ``maturity.toml``: the store, the sources, the teams and the rules.

Errors are :class:`ConfigError` with one line that names the key, the line of the file where it
can be found, and what was expected. Secrets never appear here: the file names the environment
variable that holds each one (``token_env = "GITHUB_TOKEN"``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from maturity import paths as paths_mod
from maturity.errors import ConfigError

log = logging.getLogger("maturity.config")

CONFIG_ENV = "MATURITY_CONFIG"
DEFAULT_FILE = "maturity.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: the database drivers the product ships and supports
SUPPORTED_DATABASES = ("sqlite", "postgresql")


def _supported_url(value: str) -> str:
    scheme = value.partition(":")[0].partition("+")[0].lower()
    if scheme == "postgres":
        scheme = "postgresql"
    if scheme not in SUPPORTED_DATABASES or "://" not in value:
        raise ValueError(
            f"unsupported database URL (scheme {scheme!r}); use sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        )
    return value


class StoreConfig(_Strict):
    url: Annotated[str, AfterValidator(_supported_url)] = "sqlite:///maturity.db"


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
    #: service glob -> the repositories it is built from (a git repository's name, GitHub's
    #: owner/name, GitLab's path): what a deployment naming no repository shipped from
    service_repositories: dict[str, list[str]] = {}


class WebConfig(_Strict):
    """``[web]``: how ``maturity serve`` runs behind a proxy, and what it spends on PDFs."""

    #: addresses (or networks, or "*") of the reverse proxies whose X-Forwarded-For and
    #: X-Forwarded-Proto are believed; a request from anywhere else is taken as it arrives
    trusted_proxies: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    #: PDFs rendered at once (one headless Chromium each); more requests get a 503
    pdf_browsers: Annotated[int, Field(ge=1, le=32)] = 2


class DistributedConfig(_Strict):
    """``[distributed]``: collection and scoring on Celery workers (``maturity worker``).

    URLs here carry no password: put credentials in the environment overrides
    (``MATURITY_BROKER_URL``, ``MATURITY_RESULT_BACKEND``, ``MATURITY_BUDGET_URL``).
    """

    #: any Celery broker URL (Redis by default, RabbitMQ works: amqp://host)
    broker_url: str = "redis://127.0.0.1:6379/0"
    #: where task results go; default: the broker when it is Redis
    result_backend: str | None = None
    #: the Redis that holds shared API budgets; default: the broker when it is Redis
    budget_url: str | None = None
    #: requests in flight at once to one API host, across every worker
    max_requests_per_host: Annotated[int, Field(ge=1, le=1000)] = 8
    #: seconds a scope's lease lasts without renewal (renewed every third of it while working)
    lease_s: Annotated[float, Field(ge=1, le=86400)] = 300.0
    #: Redis broker: seconds before an unacknowledged task goes to another worker (a worker
    #: that died); longer than the longest scope
    visibility_timeout_s: Annotated[int, Field(ge=1)] = 7200
    #: teams per scoring task
    partition_size: Annotated[int, Field(ge=1, le=100000)] = 50
    #: how often 'maturity schedule' collects and scores
    collect_every: str = "1h"

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_file(cls, data: Any) -> Any:
        # on the section, not the field: an error on the field would quote the password back
        for key in ("broker_url", "result_backend", "budget_url"):
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str) and re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]+@", value):
                raise ValueError(
                    f"{key}: a password does not belong in the file: set MATURITY_BROKER_URL, "
                    "MATURITY_RESULT_BACKEND or MATURITY_BUDGET_URL in the environment instead"
                )
        return data


class RepositorySpec(_Strict):
    """A git repository a team owns: a local path or a URL, optionally with its default branch
    and, for a repository shared by several teams (a monorepo), the paths that are the team's
    (globs relative to the repository's root, see :mod:`maturity.paths`)."""

    location: str
    default_branch: str | None = None
    name: str | None = None
    paths: list[str] = []

    @field_validator("paths")
    @classmethod
    def _paths_are_globs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                paths_mod.check(pattern)
            except paths_mod.GlobError as exc:
                raise ValueError(str(exc)) from None
        return value


class SourcesConfig(_Strict):
    """``[sources.NAME]``: one optional section per registered source (see :func:`source_specs`).

    This base has no fields; the model that :func:`parse` validates with adds one per source,
    typed by the source's own configuration model.
    """

    def get(self, name: str) -> BaseModel | None:
        """The section of source ``name``, or None when the file has none."""
        value = getattr(self, name, None)
        return value if isinstance(value, BaseModel) else None


class TeamConfig(_Strict):
    """A team and what it owns. ``repositories`` (git) and ``services`` (events) are the core's
    own keys; every other source adds its team key (``github = [...]``) to the validated model."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    repositories: list[str | RepositorySpec] = []
    services: list[str] = []

    @field_validator("name")
    @classmethod
    def _name_is_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a team name cannot be blank")
        return value.strip()

    def owns(self, team_key: str) -> list[str]:
        """The entries of one team key (``team.owns("jira")`` -> ``["PAY"]``); [] if absent."""
        value = getattr(self, team_key, None)
        return [str(v) for v in value] if isinstance(value, list) else []


class Config(_Strict):
    store: StoreConfig = StoreConfig()
    settings: SettingsConfig = SettingsConfig()
    model: str | None = None
    environments: EnvironmentsConfig = EnvironmentsConfig()
    rules: RulesConfig = RulesConfig()
    web: WebConfig = WebConfig()
    distributed: DistributedConfig = DistributedConfig()
    sources: SourcesConfig = SourcesConfig()
    teams: list[TeamConfig] = []
    #: the folder relative paths in the file are resolved against (not a key of the file)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Config:
        """Validate with every registered source's section and team key (see :func:`models`)."""
        if cls is Config:
            return models().config.model_validate(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

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

    def source(self, name: str) -> BaseModel | None:
        """The ``[sources.NAME]`` section of a source, or None when it is not configured."""
        return self.sources.get(name)

    def repository_specs(self, team: TeamConfig) -> list[RepositorySpec]:
        """The team's git repositories as specs (a bare string is a location)."""
        return [
            s if isinstance(s, RepositorySpec) else RepositorySpec(location=s)
            for s in team.repositories
        ]

    def team(self, name: str) -> TeamConfig:
        for team in self.teams:
            if team.name.casefold() == name.casefold():
                return team
        known = ", ".join(t.name for t in self.teams) or "none configured"
        raise ConfigError(f"no team named {name!r} (teams: {known})")


# --- sources: each declares its own section and team key ----------------------------------


class SourceSpec(Protocol):
    """What the configuration needs of a source's declaration (``collectors.base.Source``)."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> type[BaseModel] | None:
        """The model of ``[sources.NAME]``, or None for a source with nothing to configure."""

    @property
    def team_key(self) -> str | None:
        """The key under ``[[teams]]`` that lists what a team owns in this source."""

    @property
    def team_type(self) -> Any:
        """The type of that key's value (``list[str]`` unless the source checks its entries)."""


#: where the registered sources come from: set by the entry layer (``maturity.wiring``), so
#: that the core never imports the collectors; unset, a configuration may name no source
_provider: Callable[[], Iterable[SourceSpec]] | None = None


def use_sources(provider: Callable[[], Iterable[SourceSpec]] | None) -> None:
    """Say where the registered sources come from; called once, before the first validation.

    ``provider`` is called (once) when a configuration is first validated, so that an entry
    point that never reads a configuration never imports the sources.
    """
    global _provider
    if provider is _provider:
        return
    _provider = provider
    _source_specs.cache_clear()
    models.cache_clear()


def source_specs() -> tuple[SourceSpec, ...]:
    """The registered sources, in the order ``maturity collect`` runs them."""
    return _source_specs()


@functools.cache
def _source_specs() -> tuple[SourceSpec, ...]:
    return () if _provider is None else tuple(_provider())


@dataclass(frozen=True)
class Models:
    """The configuration models with every registered source's section and team key."""

    sources: type[SourcesConfig]
    team: type[TeamConfig]
    config: type[Config]


@functools.cache
def models() -> Models:
    """Build (once) the models that :func:`parse` validates with."""
    specs = source_specs()
    section_fields: dict[str, Any] = {
        s.name: (s.settings | None, None) for s in specs if s.settings is not None
    }
    team_fields: dict[str, Any] = {
        s.team_key: (s.team_type, [])
        for s in specs
        if s.team_key and s.team_key not in TeamConfig.model_fields
    }
    sources = create_model("SourcesConfig", __base__=SourcesConfig, **section_fields)
    team = create_model("TeamConfig", __base__=TeamConfig, **team_fields)
    config = create_model(
        "Config", __base__=Config, sources=(sources, sources()), teams=(list[team], [])
    )
    return Models(sources, team, config)


def renamed_options(
    data: Any,
    model: type[BaseModel],
    section: str,
    renames: Mapping[str, tuple[str, Callable[[Any], Any]]],
) -> Any:
    """Accept the old name of an option, with a warning: ``{"per_page": ("page_size", int)}``.

    For a ``mode="before"`` validator of ``model``. The old key stays in ``data`` as a field of
    its own, so that a wrong value is reported under the key the file uses; the new key gets the
    converted value when it is valid. Setting both is refused.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for old, (new, convert) in renames.items():
        if old not in data:
            continue
        if new in data:
            raise ValueError(f"{old} and {new} are the same option; keep only {new}")
        info = model.model_fields[new]
        try:
            value = convert(data[old])
            annotated: Any = Annotated[info.annotation, *info.metadata]
            TypeAdapter(annotated).validate_python(value)
        except (TypeError, ValueError):
            continue  # the old field's own validation names the problem
        out[new] = value
        log.warning("[%s] %s is deprecated; write %s = %s instead", section, old, new, _toml(value))
    return out


def _toml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


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
        return models().config(base_dir=Path.cwd())
    if not found.exists():
        raise ConfigError(f"{found}: no such configuration file (run 'maturity init' to write one)")
    if found.is_dir():
        raise ConfigError(f"{found}: is a folder, not a configuration file")
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{found}: not a text file (UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{found}: cannot be read: {exc.strerror or exc}") from None
    return parse(text, source=found)


def parse(text: str, *, source: Path) -> Config:
    """Validate the text of a configuration file; ``source`` anchors relative paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a configuration") from None
    if not data:
        # An empty file is a mistake (a truncated copy, a wrong path), not a wish for the
        # defaults: it would silently create a new, empty store next to it.
        raise ConfigError(f"{source}: the configuration is empty (write one with 'maturity init')")
    try:
        return models().config.model_validate({**data, "base_dir": source.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, text, source)) from None


def _describe(exc: ValidationError, text: str, source: Path) -> str:
    errors = exc.errors()
    # Of a union (a repository as a string or a table), the member the input was meant for
    # went deepest: its error names the key that is wrong.
    err = max(errors, key=lambda e: (len(e["loc"]), -errors.index(e)))
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
        # A URL may hold a password: never echo it.
        if "input" in err and not isinstance(err["input"], dict | list) and loc[-1:] != ["url"]:
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
    inline = re.compile(rf"[{{,]\s*\"?{re.escape(last)}\"?\s*=")  # in an inline table
    for i in range(start, len(lines)):
        if pattern.match(lines[i]) or inline.search(lines[i]):
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

# [web]
# trusted_proxies = ["127.0.0.1"]  # the TLS proxy in front of 'maturity serve': its
#                                  # X-Forwarded-Proto/-For are believed (Secure cookies)
# pdf_browsers = 2                 # PDF reports rendered at once; more wait (503)

# [distributed]             # 'maturity worker', 'collect --distributed': see docs/deploy.md
# broker_url = "redis://127.0.0.1:6379/0"   # with a password: MATURITY_BROKER_URL instead
# partition_size = 50       # teams per scoring task

# [sources.github]
# base_url = "https://api.github.com"   # or https://github.example.com/api/v3
# token_env = "GITHUB_TOKEN"
# incident_labels = ["incident"]

# [sources.gitlab]
# url = "https://gitlab.com"            # or your self-managed GitLab, without /api/v4
# token_env = "GITLAB_TOKEN"            # a token with the read_api scope
# incident_labels = ["incident"]        # besides GitLab's own incident issue type

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
# A repository shared by several teams (a monorepo): each lists it with its own paths (globs;
# the longest match owns a file, see README "Monorepos: path rules").
# repositories = [{ location = "../shop", paths = ["services/payments/**"] }]
# github = ["acme/payments-api"]
# gitlab = ["acme/payments/*"]          # projects by full path; globs take a group's projects
# jenkins = ["payments/*"]
# jira = ["PAY"]
"""
