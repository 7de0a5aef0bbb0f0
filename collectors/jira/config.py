"""``[sources.jira]``: the Jira site, its credentials' variables, and what makes an incident."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maturity.config import renamed_options


class JiraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    #: attempts after the first for 429, 5xx, timeouts and dropped connections
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    #: the first backoff, doubled each attempt (with full jitter); Retry-After wins
    retry_backoff_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    #: the old names of ``retries`` (then counted with the first attempt) and ``retry_backoff_s``
    retry_attempts: Annotated[int, Field(ge=1, le=20)] | None = None
    retry_base_s: Annotated[float, Field(gt=0, le=60)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return renamed_options(
            data,
            cls,
            "sources.jira",
            {
                "retry_attempts": ("retries", lambda total: int(total) - 1),
                "retry_base_s": ("retry_backoff_s", float),
            },
        )

    @field_validator("jql")
    @classmethod
    def _jql_is_a_filter(cls, value: str | None) -> str | None:
        # The collector orders by update time itself; its cursor depends on that order.
        if value is not None and re.search(r"\border\s+by\b", value, re.IGNORECASE):
            raise ValueError("jql is a filter only; leave out ORDER BY")
        return value
