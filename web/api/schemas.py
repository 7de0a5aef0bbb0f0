"""Response models of the JSON API: one per purpose, never the store's own rows."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from web.params import BLANK_IS_NONE, PLAIN_TEXT, SourceName, TeamName

__all__ = ["BLANK_IS_NONE", "PLAIN_TEXT", "Problem", "SourceName", "TeamName"]


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """Why a request failed."""

    detail: str


class TeamPublic(_Public):
    """A team, what it owns in every source, and how much the store holds of it."""

    name: str
    slug: str
    ownership: dict[str, list[str]]
    repositories: list[str]
    builds: int
    deployments: int
    incidents: int
    last_deployment_at: dt.datetime | None


class RunPublic(_Public):
    """One collector run."""

    id: int
    source: str
    scope: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_s: float | None
    status: str
    records: int
    counts: dict[str, int]
    error: str | None


class FreshnessPublic(_Public):
    """How current one source's data is."""

    source: str
    scopes: int
    failed_scopes: int
    last_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    age_hours: float | None
    stale: bool


class BuildPublic(_Public):
    """The CI run that built a deployed commit."""

    source: str
    job: str
    number: int | None
    result: str | None
    started_at: dt.datetime
    url: str | None


class PlacementPublic(_Public):
    """A service's current version in one environment and how it got there."""

    service: str
    environment: str
    tier: str | None
    team: str | None
    team_slug: str | None
    version: str | None
    commit_sha: str | None
    commit_subject: str | None
    deployed_at: dt.datetime
    finished_at: dt.datetime | None
    source: str
    trigger: str | None
    url: str | None
    build: BuildPublic | None
    via_staging: bool | None
    staging_deployed_at: dt.datetime | None


class EnvironmentsPublic(_Public):
    """Which version of which service runs in which environment now."""

    services: list[str]
    environments: list[str]
    placements: list[PlacementPublic]


class WeekCountPublic(_Public):
    """Successful deployments to one environment in one week (starting on Monday)."""

    week: dt.date
    environment: str
    tier: str | None
    deployments: int


class EventProblem(BaseModel):
    """Why one event of a request was refused; ``index`` counts from 0."""

    index: int
    reason: str


class EventsRejected(BaseModel):
    """Nothing was written: every invalid event with its reason."""

    detail: str
    invalid: list[EventProblem]


class EventsAccepted(BaseModel):
    """The events were written (updated where their id was known)."""

    written: dict[str, int]
    run_id: int
